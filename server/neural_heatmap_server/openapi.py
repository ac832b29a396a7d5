"""The OpenAPI 3.1 document served at ``/openapi.json``.

It is written by hand from docs/http-api.md; a test checks that its paths
and methods are exactly the routes the application registers.
"""

from __future__ import annotations

from functools import cache
from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_LIST = {"type": "string", "description": "comma-separated names"}
_ERRORS = {str(code): {"$ref": "#/components/responses/Error"}
           for code in (400, 401, 404, 410, 413)}


def _op(summary: str, ok: dict[str, Any], parameters: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, content_type: str = "application/json",
        ) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": "OK", "content": {"application/json":
                                                                {"schema": ok}}}, **_ERRORS},
    }
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {content_type: {"schema": body}}}
    return op


_FILTER_PARAMS = [
    _query("model_ids", _LIST, "models (default: stored filter, else all)"),
    _query("layer_ids", _LIST, "layers as layer or model/layer (default: stored filter)"),
    _query("granularity", {"enum": ["layer", "unit"]}, "layer activity series or units"),
    _query("start_time", _NUM, "seconds since the epoch, inclusive"),
    _query("end_time", _NUM, "seconds since the epoch, inclusive"),
]

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": _STR, "message": _STR, "details": {"type": "object"}}}}},
    "Frame": {"type": "object", "required": ["model_id", "layer_id", "values"], "properties": {
        "model_id": _STR, "layer_id": _STR, "timestamp": _NUM, "step": _INT,
        "values": {"type": "array", "items": {"oneOf": [
            _NUM, {"enum": ["NaN", "Infinity", "-Infinity"]}]}}}},
    "CorrelationMatrix": {"type": "object", "properties": {
        "matrix": {"type": "array", "items": {"type": "array", "items": _NUM}},
        "labels": {"type": "array", "items": _STR}, "timestamp": _NUM,
        "metadata": {"type": "object"}}},
    "TemporalPattern": {"type": "object", "properties": {
        "pattern_type": {"enum": ["periodic", "trend", "state_change"]},
        "frequency": {"type": ["number", "null"]}, "amplitude": {"type": ["number", "null"]},
        "phase": {"type": ["number", "null"]}, "confidence": _NUM,
        "start_time": {"type": ["number", "null"]}, "end_time": {"type": ["number", "null"]},
        "metadata": {"type": "object"}}},
    "Anomaly": {"type": "object", "properties": {
        "sequence": _INT,
        "anomaly_type": {"enum": ["non_finite", "exploding", "dead_units", "saturation",
                                  "spike"]},
        "severity": {"enum": ["low", "medium", "high", "critical"]}, "timestamp": _NUM,
        "location": {"type": ["object", "null"], "properties": {"x": _INT, "y": _INT}},
        "layer": _STR, "model_id": _STR, "score": _NUM, "description": _STR,
        "metadata": {"type": "object"}}},
    "Filter": {"type": "object", "additionalProperties": False, "properties": {
        "model_ids": {"type": "array", "items": _STR},
        "layer_ids": {"type": "array", "items": _STR},
        "intensity_range": {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2},
        "spatial_bounds": {"type": "object", "properties": {
            "min_x": _NUM, "min_y": _NUM, "max_x": _NUM, "max_y": _NUM}},
        "time_range": {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2,
                       "description": "[start_ms, end_ms]"}}},
    "Theme": {"type": "object", "required": ["theme"], "properties": {
        "theme": {"enum": ["thermal", "plasma", "holographic", "contour", "custom"]},
        "custom_colors": {"type": "array", "items": {"type": "string",
                                                      "pattern": "^#[0-9a-fA-F]{6}$"}}}},
    "Layout": {"type": "object", "additionalProperties": False, "properties": {
        "panel_positions": {"type": "object"}, "panel_sizes": {"type": "object"},
        "visibility": {"type": "object"}, "z_order": {"type": "array", "items": _STR}}},
}

_OBJ = {"type": "object"}


@cache
def openapi_document() -> dict[str, Any]:
    """Build the document once."""
    status = {"type": "object", "properties": {"status": _STR}}
    paths: dict[str, Any] = {
        "/health": {"get": _op("Liveness; 200 once the server is up.", status)},
        "/openapi.json": {"get": _op("This document.", _OBJ)},
        "/api/models": {"get": _op("Models and layers with canvas sizes.", _OBJ, [
            _query("include_units", {"type": "boolean"}, "add every unit's x/y")])},
        "/api/activations": {"post": {
            **_op("Ingest frames: JSON (one frame or {frames}) or binary records "
                  "(Content-Type application/vnd.neural-heatmap.frames with model_id, "
                  "layer_id, units query parameters).",
                  {"type": "object", "properties": {"accepted": _INT}},
                  [_query("model_id", _STR, "binary form only"),
                   _query("layer_id", _STR, "binary form only"),
                   _query("units", _INT, "binary form only")]),
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"oneOf": [_ref("Frame"), {
                    "type": "object", "properties": {
                        "frames": {"type": "array", "items": _ref("Frame")}}}]}},
                "application/vnd.neural-heatmap.frames": {"schema": {
                    "type": "string", "format": "binary",
                    "description": "records of <f8 timestamp, <i8 step, units x <f4"}}}}}},
        "/api/correlation": {"get": {
            **_op("Pearson correlation matrix; binary float32 with "
                  "Accept: application/vnd.neural-heatmap.matrix.",
                  _ref("CorrelationMatrix"), _FILTER_PARAMS)}},
        "/api/export/correlation": {"post": _op(
            "Write the correlation matrix (and for tensorboard the series) to the export "
            "directory.", _OBJ, body={"type": "object", "required": ["filename"], "properties": {
                "filename": _STR, "format": {"enum": ["csv", "json", "parquet", "tensorboard"]},
                "model_ids": {"type": "array", "items": _STR},
                "layer_ids": {"type": "array", "items": _STR}}})},
        "/api/exports": {"get": _op("List exported files.", _OBJ)},
        "/api/exports/{name}": {"get": {
            **_op("Download one exported file.", {"type": "string", "format": "binary"}),
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": _STR}]}},
        "/api/temporal": {"get": _op("Temporal patterns.", {
            "type": "object", "properties": {"patterns": {
                "type": "array", "items": _ref("TemporalPattern")}}}, [
            _query("model_id", _STR, "one model (default all)"),
            _query("layer_id", _STR, "one layer"),
            _query("time_window", _NUM, "milliseconds back from the newest frame"),
            _query("pattern_types", _LIST, "periodic,trend,state_change")])},
        "/api/temporal/stats": {"get": _op("Temporal statistics per layer.", _OBJ, [
            _query("model_id", _STR, "one model (default all)")])},
        "/api/anomalies": {"get": _op("The durable anomaly log, ascending sequence.", {
            "type": "object", "properties": {
                "anomalies": {"type": "array", "items": _ref("Anomaly")},
                "last_sequence": _INT, "first_sequence": _INT}}, [
            _query("severity", {"enum": ["low", "medium", "high", "critical"]}, "exact"),
            _query("min_severity", {"enum": ["low", "medium", "high", "critical"]},
                   "at or above"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "default 100"),
            _query("model_id", _STR, "one model"),
            _query("after_sequence", _INT, "resume point; 410 when pruned")])},
        "/api/filter": {
            "get": _op("The stored filter ({} when none).", _ref("Filter")),
            "post": _op("Replace the filter; {} clears.", _OBJ, body=_ref("Filter")),
            "delete": _op("Clear the filter.", _OBJ)},
        "/api/theme": {
            "get": _op("The stored theme.", _ref("Theme")),
            "post": _op("Set the theme.", _OBJ, body=_ref("Theme"))},
        "/api/layout": {
            "get": _op("The stored layout.", _ref("Layout")),
            "post": _op("Replace the layout.", _OBJ, body=_ref("Layout"))},
        "/api/compare": {"post": _op("Compare models: linear CKA, mean activation, sparsity.",
                                     _OBJ, body={"type": "object", "required": ["model_ids"],
                                                 "properties": {
                                                     "model_ids": {"type": "array",
                                                                   "items": _STR,
                                                                   "minItems": 2},
                                                     "metrics": {"type": "array", "items": {
                                                         "enum": ["cka", "mean_activation",
                                                                  "sparsity"]}}}})},
        "/ws": {"get": _op("WebSocket upgrade: subscriptions, get_* requests, ingestion "
                           "(see docs/http-api.md).", _OBJ)},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Neural Heatmap server", "version": "0.1.0",
                 "description": "Live analytics of neural-network activations."},
        "components": {
            "schemas": _SCHEMAS,
            "responses": {"Error": {"description": "Error", "content": {
                "application/json": {"schema": _ref("Error")}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}, {}],
        "paths": paths,
    }
