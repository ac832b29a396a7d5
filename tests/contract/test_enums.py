"""Enum word tables: complete against the protos, the same words the server accepts and the
SDK's enums carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from google.protobuf.descriptor import EnumDescriptor
from neural_heatmap import (
    AnomalyType,
    ExportFormat,
    Granularity,
    PatternType,
    Severity,
    VisualizationTheme,
)
from neural_heatmap_contract import enums
from neural_heatmap_contract.v1 import analytics_pb2, common_pb2, export_pb2, render_pb2, view_pb2
from neural_heatmap_server.anomalies import ANOMALY_TYPES, SEVERITIES
from neural_heatmap_server.correlation import GRANULARITIES
from neural_heatmap_server.exports import FORMATS
from neural_heatmap_server.render import KINDS
from neural_heatmap_server.temporal import PATTERN_TYPES
from neural_heatmap_server.view_state import THEMES

TABLES: list[tuple[str, Mapping[str, Any], EnumDescriptor, tuple[str, ...]]] = [
    ("SEVERITY", enums.SEVERITY, common_pb2.Severity.DESCRIPTOR, SEVERITIES),
    ("ANOMALY_TYPE", enums.ANOMALY_TYPE, analytics_pb2.AnomalyType.DESCRIPTOR, ANOMALY_TYPES),
    ("PATTERN_TYPE", enums.PATTERN_TYPE, analytics_pb2.PatternType.DESCRIPTOR, PATTERN_TYPES),
    ("GRANULARITY", enums.GRANULARITY, analytics_pb2.Granularity.DESCRIPTOR, GRANULARITIES),
    ("THEME", enums.THEME, view_pb2.Theme.DESCRIPTOR, THEMES),
    ("EXPORT_FORMAT", enums.EXPORT_FORMAT, export_pb2.ExportFormat.DESCRIPTOR, FORMATS),
    ("RENDER_KIND", enums.RENDER_KIND, render_pb2.RenderKind.DESCRIPTOR, KINDS),
]
IDS = [t[0] for t in TABLES]


@pytest.mark.parametrize(("name", "table", "proto", "server_words"), TABLES, ids=IDS)
def test_each_word_is_its_proto_value(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor, server_words: tuple[str, ...]
) -> None:
    """``high`` <-> ``SEVERITY_HIGH``: the proto name is the prefix plus the upper-cased word."""
    for word, number in table.items():
        assert proto.values_by_number[number].name == f"{name}_{word.upper()}"


@pytest.mark.parametrize(("name", "table", "proto", "server_words"), TABLES, ids=IDS)
def test_every_proto_value_has_a_word(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor, server_words: tuple[str, ...]
) -> None:
    specified = {v.number for v in proto.values if not v.name.endswith("_UNSPECIFIED")}
    assert set(table.values()) == specified


@pytest.mark.parametrize(("name", "table", "proto", "server_words"), TABLES, ids=IDS)
def test_server_accepts_exactly_the_table_words(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor, server_words: tuple[str, ...]
) -> None:
    assert sorted(server_words) == sorted(table)


@pytest.mark.parametrize(("name", "table", "proto", "server_words"), TABLES, ids=IDS)
def test_word_inverts_the_table(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor, server_words: tuple[str, ...]
) -> None:
    for word, number in table.items():
        assert enums.word(table, number) == word
    assert enums.word(table, 0) == ""
    assert enums.word(table, 999) == ""


SDK_ENUMS = [
    (enums.SEVERITY, Severity),
    (enums.ANOMALY_TYPE, AnomalyType),
    (enums.PATTERN_TYPE, PatternType),
    (enums.GRANULARITY, Granularity),
    (enums.THEME, VisualizationTheme),
    (enums.EXPORT_FORMAT, ExportFormat),
]


@pytest.mark.parametrize(("table", "sdk_enum"), SDK_ENUMS,
                         ids=[sdk_enum.__name__ for _, sdk_enum in SDK_ENUMS])
def test_sdk_members_are_the_table_words(table: Mapping[str, Any], sdk_enum: Any) -> None:
    """The SDK derives its members from the proto names; they must be the same words."""
    members = {m.value: m.to_proto() for m in sdk_enum if m.value != "unspecified"}
    assert members == dict(table)
