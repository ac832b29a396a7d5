"""The OpenAPI 3.1 document served at ``/openapi.json``, built from the validators' own rules.

Every enum, bound and pattern below is the constant the matching validator
checks (``SEVERITIES``, ``EXPORT_FORMATS``, ``NAME_PATTERN``, ``--max-frames``, ...),
and the document is built per server from its configuration, so the limits
it states are the limits it enforces. schemathesis checks the agreement in
both directions (tests/server/test_openapi_fuzz.py). The document is also the
declaration of what each route accepts: ``accepted`` reads every operation's
query parameters and top-level body fields from it, and the server refuses
anything else, so a new parameter is declared here and nowhere else. Each
operation is keyed by its route's name in ``neural_heatmap_contract.routes``,
which holds the method and path, so no path is written here.

A few rules relate two fields and cannot be written in JSON Schema
(``start_time <= end_time``, ``[min, max]`` ranges, distinct compare ids);
their 400 answers carry ``details.constraint`` naming the rule, and the
operations say so in their descriptions. The WebSocket (``/ws``) is not an
HTTP operation and is described in docs/http-api.md instead.
"""

from __future__ import annotations

from typing import Any

from neural_heatmap_contract.enums import (
    ANOMALY_TYPES,
    EXPORT_FORMATS,
    GRANULARITIES,
    PATTERN_TYPES,
    RENDER_KINDS,
    SEVERITIES,
    THEMES,
)
from neural_heatmap_contract.ids import BLANKS_PATTERN, ID_PATTERN
from neural_heatmap_contract.limits import (
    MAX_ID_CHARS,
    MAX_RENDER_PANELS,
    MAX_RENDER_PIXELS,
    MAX_RENDER_SIDE,
    MIN_CUSTOM_COLORS,
)
from neural_heatmap_contract.media import FRAMES_MEDIA_TYPE, MATRIX_MEDIA_TYPE
from neural_heatmap_contract.protocol import DEADLINE_HEADER
from neural_heatmap_contract.routes import http, http_routes

from .compare import METRICS
from .config import ServerConfig
from .consumers import CONSUMER_NAME_PATTERN
from .errors import STATUS_BY_CODE
from .exports import MAX_NAME, NAME_PATTERN
from .ingest import FRAME_FIELDS, MAX_STEP
from .layer_health import DEFAULT_TOP_K, MAX_TOP_K
from .params import BOOL_WORDS
from .queries import MAX_SEQUENCE, USE_VIEW_FILTER
from .render import DEFAULT_HEIGHT, DEFAULT_WIDTH
from .unit_selection import MAX_UNIT_TEXT, UNIT_LIST_PATTERN, UNIT_PARAM
from .view_state import COLOR_PATTERN, MAX_TIME_MS, MIN_TIME_MS

# Routes of the table that are no HTTP operation: the WebSocket upgrade (docs/http-api.md).
NOT_OPERATIONS = frozenset({"WebSocket"})

CROSS_FIELD = ("Rules between fields, or between the request and stored state, that JSON "
               "Schema cannot state answer 400 with `details.constraint` naming the rule: ")

_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_OBJ = {"type": "object"}
_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": ID_PATTERN}
_EXPORT_NAME = {"type": "string", "maxLength": MAX_NAME, "pattern": f"^{NAME_PATTERN}$"}
_LIST = {"type": "string", "description": "comma-separated names"}
# Every error the middleware can answer for any route (besides 5xx, which are bugs).
_ERROR_STATUSES = sorted({s for s in STATUS_BY_CODE.values() if s < 500} | {504})


def _public_paths() -> str:
    """``/health and /openapi.json``: the routes answered without the token."""
    return " and ".join(route.path for route in http_routes().values() if route.public)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Absent and ``null`` mean the same to the view-state validators."""
    return {"anyOf": [schema, {"type": "null"}]}


def _choice_list(choices: tuple[str, ...]) -> str:
    """The pattern of a comma list of ``choices`` (blanks and empty items allowed)."""
    item = f"{BLANKS_PATTERN}({'|'.join(choices)})?{BLANKS_PATTERN}"
    return f"^{item}(,{item})*$"


_COLOR_ITEM = f"{BLANKS_PATTERN}({COLOR_PATTERN[1:-1]})?{BLANKS_PATTERN}"
_COLOR_LIST = f"^{_COLOR_ITEM}(,{_COLOR_ITEM})*$"  # blanks and empty items allowed (opt_list)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _op(summary: str, ok: dict[str, Any], parameters: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, description: str | None = None,
        ok_content: str = "application/json") -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": parameters or [],
        "responses": {"200": {"description": "OK", "content": {ok_content: {"schema": ok}}},
                      **{str(s): {"$ref": "#/components/responses/Error"}
                         for s in _ERROR_STATUSES}},
    }
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _schemas(config: ServerConfig) -> dict[str, Any]:
    time_ms = {"type": "number", "minimum": MIN_TIME_MS, "maximum": MAX_TIME_MS}
    names = {"type": "array", "items": _STR}
    fields = {
        "model_id": _ID, "layer_id": _ID, "timestamp": _nullable(_NUM),
        "step": _nullable({"type": "integer", "minimum": -1, "maximum": MAX_STEP}),
        "values": {"type": "array", "minItems": 1, "maxItems": config.max_units, "items": {
            "anyOf": [_NUM, {"enum": ["NaN", "Infinity", "-Infinity"]}]}}}
    frame = {"type": "object", "required": ["model_id", "layer_id", "values"],
             "additionalProperties": False,
             "properties": {name: fields[name] for name in FRAME_FIELDS}}  # what ingest reads
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "details"],
            "properties": {"code": {"enum": sorted(STATUS_BY_CODE)}, "message": _STR,
                           "details": _OBJ}}}},
        "Frame": frame,
        "CorrelationMatrix": {"type": "object", "properties": {
            "matrix": {"type": "array", "items": {"type": "array", "items": _NUM}},
            "labels": names, "timestamp": _NUM, "metadata": _OBJ}},
        "TemporalPattern": {"type": "object", "properties": {
            "pattern_type": {"enum": list(PATTERN_TYPES)},
            "frequency": {"type": ["number", "null"]}, "amplitude": {"type": ["number", "null"]},
            "phase": {"type": ["number", "null"]}, "confidence": _NUM,
            "start_time": {"type": ["number", "null"]}, "end_time": {"type": ["number", "null"]},
            "unit": _INT, "location": {"type": "object", "properties": {"x": _INT, "y": _INT}},
            "metadata": _OBJ}},
        "Anomaly": {"type": "object", "properties": {
            "sequence": _INT, "anomaly_type": {"enum": list(ANOMALY_TYPES)},
            "severity": {"enum": list(SEVERITIES)}, "timestamp": _NUM,
            "location": {"type": ["object", "null"], "properties": {"x": _INT, "y": _INT}},
            "layer": _STR, "model_id": _STR, "score": _NUM, "description": _STR,
            "metadata": _OBJ}},
        "Filter": {"type": "object", "additionalProperties": False, "properties": {
            "model_ids": _nullable({"type": "array", "items": {"type": "string",
                                                               "minLength": 1}}),
            "layer_ids": _nullable({"type": "array", "items": {"type": "string",
                                                               "minLength": 1}}),
            "intensity_range": _nullable({"type": "array", "items": _NUM, "minItems": 2,
                                          "maxItems": 2}),
            "spatial_bounds": _nullable({
                "type": "object", "additionalProperties": False,
                "required": ["min_x", "min_y", "max_x", "max_y"],
                "properties": {k: _NUM for k in ("min_x", "min_y", "max_x", "max_y")}}),
            "time_range": _nullable({"type": "array", "items": time_ms, "minItems": 2,
                                     "maxItems": 2, "description": "[start_ms, end_ms]"})}},
        "Theme": {"type": "object", "required": ["theme"], "additionalProperties": False,
                  "properties": {
                      "theme": {"enum": list(THEMES)},
                      "custom_colors": _nullable({"type": "array", "items": {
                          "type": "string", "pattern": COLOR_PATTERN}})},
                  # custom draws a colour map through its colours: at least MIN_CUSTOM_COLORS
                  "if": {"required": ["theme"], "properties": {"theme": {"const": "custom"}}},
                  "then": {"required": ["custom_colors"], "properties": {"custom_colors": {
                      "type": "array", "minItems": MIN_CUSTOM_COLORS}}}},
        "Layout": {"type": "object", "additionalProperties": False, "properties": {
            "panel_positions": _nullable({"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["x", "y"],
                "properties": {"x": _NUM, "y": _NUM}}}),
            "panel_sizes": _nullable({"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "required": ["width", "height"],
                "properties": {"width": {"type": "number", "minimum": 0},
                               "height": {"type": "number", "minimum": 0}}}}),
            "visibility": _nullable({"type": "object",
                                     "additionalProperties": {"type": "boolean"}}),
            "z_order": _nullable({"type": "array", "items": {"type": "string",
                                                             "minLength": 1}})}},
    }


_BOOL = {"enum": list(BOOL_WORDS)}
_USE_VIEW_FILTER = _query(
    USE_VIEW_FILTER, _BOOL, "true: the stored filter fills what the request leaves unset; "
    "false: it is ignored; absent (seed clients): as true. The bridge always sends it.")

_TIME_FROM_VIEW_FILTER = _query(
    USE_VIEW_FILTER, _BOOL, "true: only samples inside the stored filter's time_range; "
    "false: the whole window; absent (seed clients): as true. The bridge always sends it.")


def _exact_ids(name: str, description: str) -> dict[str, Any]:
    """A query parameter that may be repeated, one id per occurrence (``name=a&name=b``)."""
    return {**_query(name, {"type": "array", "items": _STR}, description),
            "style": "form", "explode": True}


_UNIT_PARAMS = [
    _query("granularity", {"enum": list(GRANULARITIES)},
           "layer (default): the layers' mean activity; unit: one series per selected unit"),
    _query(UNIT_PARAM, {"type": "string", "pattern": UNIT_LIST_PATTERN,
                        "maxLength": MAX_UNIT_TEXT},
           "with granularity=unit: unit indices and inclusive ranges of every selected "
           "layer, e.g. 0-15,40 (default every unit)"),
]


def _unit_rules(config: ServerConfig) -> str:
    return (CROSS_FIELD + "unit only with granularity=unit; every index below each selected "
            "layer's unit count; at most " f"{config.max_matrix_labels} unit series "
            "(--max-matrix-labels).")


_RANGE_PARAMS = [
    _query("start_time", _NUM, "seconds since the epoch, inclusive"),
    _query("end_time", _NUM, "seconds since the epoch, inclusive"),
]


def openapi_document(config: ServerConfig) -> dict[str, Any]:
    """Build the document for a server with this configuration."""
    status = {"type": "object", "properties": {"status": _STR}}
    correlation_params = [
        _query("model_ids", _LIST, "models, the seed's comma list (default all)"),
        _query("layer_ids", _LIST, "layers as layer or model/layer, the seed's comma list "
               "(default all)"),
        _exact_ids("model_id", "one model per occurrence; instead of model_ids"),
        _exact_ids("layer_id", "one layer (or model/layer) per occurrence; "
                   "instead of layer_ids"),
        _USE_VIEW_FILTER,
        _query("granularity", {"enum": list(GRANULARITIES)}, "layer activity series or units"),
        *_RANGE_PARAMS]
    ingest_body = {"oneOf": [
        {"allOf": [_ref("Frame"), {"not": {"required": ["frames"]}}]},
        {"type": "object", "required": ["frames"], "additionalProperties": False,
         "properties": {"frames": {"type": "array", "maxItems": config.max_frames,
                                   "items": _ref("Frame")}}}]}
    render_params = [
        _query("kind", {"enum": list(RENDER_KINDS)}, "heatmap (default): each layer's newest frame "
               "on its canvas grid; correlation: the matrix with its labels"),
        *[p for p in correlation_params if p["name"] != "granularity"],
        _query("granularity", {"enum": list(GRANULARITIES)}, "kind=correlation: layer "
               "activity series or units"),
        _query("theme", {"enum": list(THEMES)}, "default: the stored theme"),
        _query("custom_colors", {"type": "string", "pattern": _COLOR_LIST},
               "comma-separated #rrggbb colours for theme=custom (default: the stored ones)"),
        _query("width", {"type": "integer", "minimum": 0, "maximum": MAX_RENDER_SIDE},
               f"pixels; 0 or absent: {DEFAULT_WIDTH}"),
        _query("height", {"type": "integer", "minimum": 0, "maximum": MAX_RENDER_SIDE},
               f"pixels; 0 or absent: {DEFAULT_HEIGHT}")]
    consumer: dict[str, Any] = {"type": "object", "properties": {
        "consumer": _STR, "shared": {"type": "boolean"}, "acked_sequence": _INT}}
    consumer_name = {"name": "name", "in": "path", "required": True, "schema": {
        "type": "string", "pattern": f"^{CONSUMER_NAME_PATTERN}$"}}
    operations: dict[str, dict[str, Any]] = {
        "Health": _op("Liveness; 200 once the server is up.", status),
        "OpenApi": _op("This document.", _OBJ),
        "Metrics": _op(
            "Prometheus metrics (text exposition format).", {"type": "string"},
            ok_content="text/plain",
            description="Request latency by route, ingested frames, anomalies by severity, "
                        "the anomaly log's head; docs/server.md lists them."),
        "ListModels": _op("Models and layers with canvas sizes.", _OBJ, [
            _query("include_units", _BOOL, "add every unit's x/y")]),
        "IngestActivations": _op(
            "Ingest frames (JSON: one frame or {frames}).", {
                "type": "object", "properties": {"accepted": _INT}},
            [_query("model_id", _ID, "binary form only"),
             _query("layer_id", _ID, "binary form only"),
             _query("units", {"type": "integer", "minimum": 1, "maximum": config.max_units},
                    "binary form only")],
            body=ingest_body,
            description=f"The binary form (Content-Type {FRAMES_MEDIA_TYPE}: "
                        "records of <f8 timestamp, <i8 step, units x <f4, with the model_id, "
                        "layer_id and units query parameters) is described in "
                        "docs/http-api.md. " + CROSS_FIELD + "a layer's unit count is fixed "
                        "by its first frame; at most --max-layers layers held and "
                        f"{config.max_new_layers} new layers per call (--max-new-layers)."),
        "GetCorrelationMatrix": _op(
            "Pearson correlation matrix.", _ref("CorrelationMatrix"), correlation_params,
            description=f"Binary float32 with Accept: {MATRIX_MEDIA_TYPE}. "
                        + CROSS_FIELD + "start_time <= end_time; model_ids xor model_id, "
                        "layer_ids xor layer_id; at most "
                        f"{config.max_matrix_labels} labels (--max-matrix-labels)."),
        "ExportCorrelationMatrix": _op(
            "Write the correlation matrix to the export directory; tensorboard writes a "
            "whole run (activations, histograms, the matrix image in the stored theme, "
            "anomalies, pattern confidences) into the directory <filename>/.", _OBJ,
            body={"type": "object", "required": ["filename"], "additionalProperties": False,
                  "properties": {
                "filename": _EXPORT_NAME, "format": {"enum": list(EXPORT_FORMATS)},
                "model_ids": _nullable({"type": "array", "items": _STR}),
                "layer_ids": _nullable({"type": "array", "items": _STR}),
                "granularity": _nullable({"enum": list(GRANULARITIES)}),
                "start_time": _nullable(_NUM), "end_time": _nullable(_NUM),
                USE_VIEW_FILTER: _nullable({"type": "boolean"})}},
            description=f"use_view_filter as for {http('GetCorrelationMatrix').path}. "
                        + CROSS_FIELD + "start_time <= end_time."),
        "ListExports": _op("List exported files.", _OBJ),
        "DownloadExport": _op(
            "Download one exported file.", {"type": "string", "format": "binary"},
            [{"name": "name", "in": "path", "required": True, "schema": {
                "type": "string", "maxLength": MAX_NAME,
                "pattern": f"^{NAME_PATTERN}(/{NAME_PATTERN})?$"}}],
            ok_content="*/*"),
        "GetTemporalPatterns": _op("Temporal patterns.", {
            "type": "object", "properties": {"patterns": {
                "type": "array", "items": _ref("TemporalPattern")}}}, [
            _query("model_id", _STR, "one model (default all)"),
            _query("layer_id", _STR, "one layer"),
            _query("time_window", {"type": "number", "exclusiveMinimum": 0},
                   "milliseconds back from the newest frame"),
            _query("pattern_types", {"type": "string", "pattern": _choice_list(PATTERN_TYPES)},
                   "comma-separated: " + ",".join(PATTERN_TYPES)),
            _TIME_FROM_VIEW_FILTER, *_UNIT_PARAMS], description=_unit_rules(config)),
        "GetTemporalStatistics": _op(
            "Temporal statistics per layer (and per unit with granularity=unit).", _OBJ, [
                _query("model_id", _STR, "one model (default all)"),
                _query("layer_id", _STR, "one layer (default all)"),
                _TIME_FROM_VIEW_FILTER, *_UNIT_PARAMS], description=_unit_rules(config)),
        "GetLayerHealth": _op(
            "Per-unit health of each layer: dead and saturated units (index, canvas cell, "
            "since when) and the units with the largest spike scores.", _OBJ, [
                _query("model_id", _STR, "one model (default all)"),
                _query("layer_id", _STR, "one layer (default all)"),
                _query("top_k", {"type": "integer", "minimum": 0, "maximum": MAX_TOP_K},
                       f"units with the largest spike scores per layer; 0 or absent: "
                       f"{DEFAULT_TOP_K}")],
            description=CROSS_FIELD + "the selected layers' units together at most "
                        f"{config.max_matrix_labels} (--max-matrix-labels)."),
        "GetAnomalies": _op("The durable anomaly log, ascending sequence.", {
            "type": "object", "properties": {
                "anomalies": {"type": "array", "items": _ref("Anomaly")},
                "last_sequence": _INT, "first_sequence": _INT}},
            description=CROSS_FIELD + "model_ids xor model_id.", parameters=[
            _query("severity", {"enum": list(SEVERITIES)}, "exact"),
            _query("min_severity", {"enum": list(SEVERITIES)}, "at or above"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": config.max_anomaly_limit},
                   "default 100"),
            _query("model_ids", _LIST, "models, the seed's comma list (default all)"),
            _exact_ids("model_id", "one model per occurrence (the seed sends one); "
                       "instead of model_ids"),
            _query("after_sequence", {"type": "integer", "minimum": 0,
                                      "maximum": MAX_SEQUENCE},
                   "resume point; 410 when pruned")]),
        "GetConsumer": _op(
            "A durable consumer's acknowledged cursor (created at the log's head if new).",
            consumer, description=CROSS_FIELD + "a name keeps the shared it was created with.",
            parameters=[consumer_name,
                        _query("shared", _BOOL, "a consumer group; default false")]),
        "AckAnomalies": _op(
            "Acknowledge up to (plain) or at (group) a sequence.", consumer, [consumer_name],
            description=CROSS_FIELD + "sequence <= the log's head; a name keeps its shared.",
            body={"type": "object", "required": ["sequence"], "additionalProperties": False,
                  "properties": {
                "sequence": {"type": "integer", "minimum": 0, "maximum": MAX_SEQUENCE}}}),
        "ClaimAnomalies": _op(
            "Lease anomalies to a member of a consumer group.",
            {**consumer, "properties": {**consumer["properties"], "anomalies": {
                "type": "array", "items": _ref("Anomaly")}}}, [consumer_name],
            description=CROSS_FIELD + "a name keeps the shared it was created with.",
            body={"type": "object", "required": ["member", "limit"],
                  "additionalProperties": False, "properties": {
                "member": _STR, "limit": {"type": "integer", "minimum": 1,
                                          "maximum": config.max_anomaly_limit}}}),
        "GetFilter": _op("The stored filter ({} when none).", _ref("Filter"),
                         description="Its current warnings (ids matching no known model or "
                                     "layer, a filter hiding every layer) come in the "
                                     "X-Filter-Warnings header, a JSON list, when there are "
                                     "any."),
        "SetFilter": _op("Replace the filter; {} clears.", _OBJ, body=_ref("Filter"),
                         description=CROSS_FIELD + "min <= max in every range. The answer "
                         "{status, filter, warnings} lists in warnings ids that match no "
                         "known model or layer (stored all the same) and says when the "
                         "filter hides every layer."),
        "DeleteFilter": _op("Clear the filter.", _OBJ),
        "GetTheme": _op("The stored theme.", _ref("Theme")),
        "SetTheme": _op("Set the theme.", _OBJ, body=_ref("Theme")),
        "GetLayout": _op("The stored layout.", _ref("Layout")),
        "SetLayout": _op("Replace the layout.", _OBJ, body=_ref("Layout")),
        "CompareModels": _op(
            "Compare models: linear CKA, mean activation, sparsity.", _OBJ,
            body={"type": "object", "required": ["model_ids"], "additionalProperties": False,
                  "properties": {
                "model_ids": {"type": "array", "minItems": 2,
                              "items": {"type": "string", "minLength": 1}},
                "metrics": {"type": "array", "items": {"enum": list(METRICS)}}}},
            description="Repeated ids are merged. " + CROSS_FIELD + "at least 2 and at most "
                        f"{config.max_compare_models} distinct model_ids "
                        "(--max-compare-models)."),
        "RenderHeatmap": _op(
            "A PNG of the heatmap canvas or the correlation matrix in a theme.",
            {"type": "string", "format": "binary"}, render_params, ok_content="image/png",
            description="Selection, time range and use_view_filter as for "
                        f"{http('GetCorrelationMatrix').path}; "
                        "the heatmap always greys the units the stored filter hides. The "
                        "X-Render-Kind, X-Render-Theme, X-Render-Width and X-Render-Height "
                        "headers say what was drawn; an image of nothing adds "
                        "X-Render-Empty: true and X-Render-Warning (a JSON string saying "
                        "why, e.g. the view filter hides every layer). " + CROSS_FIELD
                        + "width * height <= "
                        f"{MAX_RENDER_PIXELS} (MAX_RENDER_PIXELS); at most "
                        f"{MAX_RENDER_PANELS} layers on a heatmap (MAX_RENDER_PANELS); "
                        "theme=custom needs at least two colours."),
    }
    paths: dict[str, dict[str, Any]] = {}
    for name, route in http_routes().items():  # method and path from the contract's table
        if name in NOT_OPERATIONS:
            continue
        op = operations.pop(name)
        if config.token is not None:  # the document says what this server demands
            op["security"] = [] if route.public else [{"bearer": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    if operations:
        raise KeyError(f"operations without a route in neural_heatmap_contract.routes: "
                       f"{sorted(operations)}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Neural Heatmap server", "version": "0.1.0",
                 "description": "Live analytics of neural-network activations. The WebSocket "
                                f"{http('WebSocket').path} is described in docs/http-api.md. "
                                f"Every route except {_public_paths()} honours the request "
                                "header "
                                f"{DEADLINE_HEADER} (remaining milliseconds the caller "
                                "waits, capped by --max-request-seconds): work not done by "
                                "then stops and the answer is 504 deadline_exceeded."},
        "components": {
            "schemas": _schemas(config),
            "responses": {"Error": {"description": "Error", "content": {
                "application/json": {"schema": _ref("Error")}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}, {}],
        "paths": paths,
    }
