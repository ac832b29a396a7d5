"""Enum word tables: complete against the protos, written once (the server, bridge and SDK
import them), and the words the SDK's enums carry."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
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

ROOT = Path(__file__).resolve().parents[2]
# Hand-written production code: the words may be written only in the contract's enums.py.
# (Not the command, sdk/python/neural_heatmap_cli: it may import only the SDK's public
# names, and the SDK has no render-kind enum, so its --kind choices are its own.)
PRODUCTION = ("server/neural_heatmap_server", "bridge/neural_heatmap_bridge",
              "sdk/python/neural_heatmap", "contract/python/neural_heatmap_contract")
TABLES: list[tuple[str, Mapping[str, Any], EnumDescriptor]] = [
    ("SEVERITY", enums.SEVERITY, common_pb2.Severity.DESCRIPTOR),
    ("ANOMALY_TYPE", enums.ANOMALY_TYPE, analytics_pb2.AnomalyType.DESCRIPTOR),
    ("PATTERN_TYPE", enums.PATTERN_TYPE, analytics_pb2.PatternType.DESCRIPTOR),
    ("GRANULARITY", enums.GRANULARITY, analytics_pb2.Granularity.DESCRIPTOR),
    ("THEME", enums.THEME, view_pb2.Theme.DESCRIPTOR),
    ("EXPORT_FORMAT", enums.EXPORT_FORMAT, export_pb2.ExportFormat.DESCRIPTOR),
    ("RENDER_KIND", enums.RENDER_KIND, render_pb2.RenderKind.DESCRIPTOR),
]
IDS = [t[0] for t in TABLES]


@pytest.mark.parametrize(("name", "table", "proto"), TABLES, ids=IDS)
def test_each_word_is_its_proto_value(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor
) -> None:
    """``high`` <-> ``SEVERITY_HIGH``: the proto name is the prefix plus the upper-cased word."""
    for word, number in table.items():
        assert proto.values_by_number[number].name == f"{name}_{word.upper()}"


@pytest.mark.parametrize(("name", "table", "proto"), TABLES, ids=IDS)
def test_every_proto_value_has_a_word(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor
) -> None:
    specified = {v.number for v in proto.values if not v.name.endswith("_UNSPECIFIED")}
    assert set(table.values()) == specified


def _word_literals(path: Path) -> list[tuple[int, frozenset[str]]]:
    """Every tuple, list or set literal of two or more strings in ``path``, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2:
            items = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if len(items) == len(node.elts) and all(isinstance(i, str) for i in items):
                found.append((node.lineno, frozenset(items)))
    return found


def test_no_production_module_spells_a_word_table_again() -> None:
    """The server, bridge, SDK and CLI import the words (``enums.SEVERITIES``, ...); a
    hand-written copy of a table's words anywhere else would drift from the protos."""
    tables = {frozenset(table): name for name, table, _ in TABLES}
    copies = [
        f"{path.relative_to(ROOT)}:{line}: the words of enums.{tables[words]}"
        for package in PRODUCTION
        for path in sorted((ROOT / package).rglob("*.py"))
        if "/v1/" not in path.as_posix() and path.name != "enums.py"
        for line, words in _word_literals(path)
        if words in tables
    ]
    assert copies == []


@pytest.mark.parametrize(("name", "table", "proto"), TABLES, ids=IDS)
def test_word_tuples_are_the_table_keys_in_order(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor
) -> None:
    plural = {"SEVERITY": "SEVERITIES", "GRANULARITY": "GRANULARITIES"}.get(name, name + "S")
    assert getattr(enums, plural) == tuple(table)


@pytest.mark.parametrize(("name", "table", "proto"), TABLES, ids=IDS)
def test_word_inverts_the_table(
    name: str, table: Mapping[str, Any], proto: EnumDescriptor
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
