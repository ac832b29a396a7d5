"""Enum words of the HTTP/JSON API <-> enum numbers of the protos, one table per enum.

The server speaks words (``"high"``, ``"thermal"``, ``"csv"``); the protos speak numbers
(``SEVERITY_HIGH``). These tables are the only place the words are written: the bridge
converts with them in both directions, the server checks requests against the word tuples
below (``SEVERITIES``, ``THEMES``, ...) and the Python SDK's enums map through them. A test
(tests/contract/test_enums.py) checks that every proto value but ``*_UNSPECIFIED`` has a
word and that no other module spells a table's words out again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .v1 import analytics_pb2, common_pb2, export_pb2, render_pb2, view_pb2

SEVERITY: Final[Mapping[str, Any]] = {
    "low": common_pb2.SEVERITY_LOW,
    "medium": common_pb2.SEVERITY_MEDIUM,
    "high": common_pb2.SEVERITY_HIGH,
    "critical": common_pb2.SEVERITY_CRITICAL,
}
PATTERN_TYPE: Final[Mapping[str, Any]] = {
    "periodic": analytics_pb2.PATTERN_TYPE_PERIODIC,
    "trend": analytics_pb2.PATTERN_TYPE_TREND,
    "state_change": analytics_pb2.PATTERN_TYPE_STATE_CHANGE,
}
ANOMALY_TYPE: Final[Mapping[str, Any]] = {
    "non_finite": analytics_pb2.ANOMALY_TYPE_NON_FINITE,
    "exploding": analytics_pb2.ANOMALY_TYPE_EXPLODING,
    "dead_units": analytics_pb2.ANOMALY_TYPE_DEAD_UNITS,
    "saturation": analytics_pb2.ANOMALY_TYPE_SATURATION,
    "spike": analytics_pb2.ANOMALY_TYPE_SPIKE,
}
THEME: Final[Mapping[str, Any]] = {
    "thermal": view_pb2.THEME_THERMAL,
    "plasma": view_pb2.THEME_PLASMA,
    "holographic": view_pb2.THEME_HOLOGRAPHIC,
    "contour": view_pb2.THEME_CONTOUR,
    "custom": view_pb2.THEME_CUSTOM,
}
EXPORT_FORMAT: Final[Mapping[str, Any]] = {
    "csv": export_pb2.EXPORT_FORMAT_CSV,
    "json": export_pb2.EXPORT_FORMAT_JSON,
    "tensorboard": export_pb2.EXPORT_FORMAT_TENSORBOARD,
    "parquet": export_pb2.EXPORT_FORMAT_PARQUET,
}
RENDER_KIND: Final[Mapping[str, Any]] = {
    "heatmap": render_pb2.RENDER_KIND_HEATMAP,
    "correlation": render_pb2.RENDER_KIND_CORRELATION,
}
GRANULARITY: Final[Mapping[str, Any]] = {
    "layer": analytics_pb2.GRANULARITY_LAYER,
    "unit": analytics_pb2.GRANULARITY_UNIT,
}

# The words alone, in table order: what the server accepts and lists in its errors and schema.
SEVERITIES: Final = tuple(SEVERITY)
PATTERN_TYPES: Final = tuple(PATTERN_TYPE)
ANOMALY_TYPES: Final = tuple(ANOMALY_TYPE)
THEMES: Final = tuple(THEME)
EXPORT_FORMATS: Final = tuple(EXPORT_FORMAT)
RENDER_KINDS: Final = tuple(RENDER_KIND)
GRANULARITIES: Final = tuple(GRANULARITY)


def word(table: Mapping[str, int], number: int) -> str:
    """The JSON word of an enum value ("" for UNSPECIFIED or unknown)."""
    for key, value in table.items():
        if value == number:
            return key
    return ""
