"""The protobuf contract: every message round-trips, and nothing of the seed is left out.

These tests read the compiled descriptors rather than the .proto text, so they see exactly
what the generated code carries in every language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.message import Message
from neural_heatmap_contract.v1 import (
    analytics_pb2,
    common_pb2,
    export_pb2,
    ingest_pb2,
    metadata_pb2,
    models_pb2,
    neural_heatmap_service_pb2,
    render_pb2,
    tensor_pb2,
    updates_pb2,
    view_pb2,
)

FILES = [
    analytics_pb2,
    common_pb2,
    export_pb2,
    ingest_pb2,
    metadata_pb2,
    models_pb2,
    neural_heatmap_service_pb2,
    render_pb2,
    tensor_pb2,
    updates_pb2,
    view_pb2,
]
SERVICE = neural_heatmap_service_pb2.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
SEED_API = Path(__file__).resolve().parents[2] / "docs" / "seed-python-api.md"

# Seed method -> (RPC, client streams, server streams). Connection management and client-side
# conveniences (downloads to local files, export_all, export_tensorboard) are built from these.
SEED_METHODS: dict[str, tuple[str, bool, bool]] = {
    "get_correlation_matrix": ("GetCorrelationMatrix", False, False),
    "export_correlation_matrix": ("ExportCorrelationMatrix", False, False),
    "get_temporal_patterns": ("GetTemporalPatterns", False, False),
    "get_temporal_statistics": ("GetTemporalStatistics", False, False),
    "get_anomalies": ("GetAnomalies", False, False),
    "set_filter": ("SetFilter", False, False),
    "clear_filter": ("ClearFilter", False, False),
    "set_theme": ("SetTheme", False, False),
    "set_layout": ("SetLayout", False, False),
    "get_layout": ("GetLayout", False, False),
    "compare_models": ("CompareModels", False, False),
    "subscribe_heatmap": ("SubscribeHeatmap", False, True),
    "subscribe_correlations": ("SubscribeCorrelations", False, True),
    "subscribe_temporal": ("SubscribeTemporal", False, True),
    "subscribe_anomalies": ("SubscribeAnomalies", False, True),
    "stream_updates": ("StreamUpdates", False, True),
}
# Seed methods answered from other RPCs or on the client alone.
SEED_CLIENT_SIDE = {
    "connect": "opens the gRPC channel",
    "disconnect": "closes the gRPC channel",
    "download_correlation_matrix": "GetCorrelationMatrix, written locally",
    "download_anomalies": "GetAnomalies, written locally",
    "export_tensorboard": "ExportCorrelationMatrix (tensorboard), then DownloadExport",
    "export_all": "queries written locally in several formats, the TensorBoard run downloaded",
    "listen": "iterates a streaming RPC",
    "on": "callback registry over a streaming RPC",
    "off": "callback registry over a streaming RPC",
}
OUR_ADDITIONS = {
    "ListModels": (False, False),
    "GetFilter": (False, False),
    "GetTheme": (False, False),
    "ListExports": (False, False),
    "DownloadExport": (False, True),
    "IngestActivations": (True, False),
    "RenderHeatmap": (False, False),
    "AckAnomalies": (False, False),
    "GetLayerHealth": (False, False),
}
# Seed data types and the fields code written for the seed reads.
SEED_ENTITIES: dict[str, tuple[type[Message], set[str]]] = {
    "CorrelationMatrix": (
        analytics_pb2.CorrelationMatrix,
        {"matrix", "labels", "timestamp", "metadata"},
    ),
    "TemporalPattern": (
        analytics_pb2.TemporalPattern,
        {
            "pattern_type",
            "frequency",
            "amplitude",
            "phase",
            "confidence",
            "start_time",
            "end_time",
            "metadata",
        },
    ),
    "Anomaly": (
        analytics_pb2.Anomaly,
        {
            "anomaly_type",
            "severity",
            "timestamp",
            "location",
            "layer",
            "model_id",
            "score",
            "description",
            "metadata",
            "sequence",
        },
    ),
    "Filter": (
        view_pb2.Filter,
        {"model_ids", "layer_ids", "intensity_range", "spatial_bounds", "time_range"},
    ),
    "Layout": (view_pb2.Layout, {"panel_positions", "panel_sizes", "visibility", "z_order"}),
    "HeatmapUpdate": (
        updates_pb2.HeatmapUpdate,
        {"timestamp", "model_id", "intensity", "location", "layer"},
    ),
    "CorrelationUpdate": (updates_pb2.CorrelationUpdate, {"timestamp", "matrix"}),
    "TemporalUpdate": (
        updates_pb2.TemporalUpdate,
        {"timestamp", "patterns", "trends", "state_changes"},
    ),
    "AnomalyUpdate": (
        updates_pb2.AnomalyUpdate,
        {"timestamp", "anomalies", "severity", "description"},
    ),
    "ModelComparison": (
        analytics_pb2.ModelComparison,
        {"model_ids", "similarity_matrix", "metrics"},
    ),
    "ActivationFrame": (
        ingest_pb2.ActivationFrame,
        {"model_id", "layer_id", "values", "timestamp", "step"},
    ),
    "Model": (models_pb2.Model, {"model_id", "layers"}),
    "Unit": (models_pb2.Unit, {"index", "location"}),
}
SEED_ENUMS: dict[str, tuple[descriptor.EnumDescriptor, set[str]]] = {
    "VisualizationTheme": (
        view_pb2.DESCRIPTOR.enum_types_by_name["Theme"],
        {"THERMAL", "PLASMA", "HOLOGRAPHIC", "CONTOUR", "CUSTOM"},
    ),
    "ExportFormat": (
        export_pb2.DESCRIPTOR.enum_types_by_name["ExportFormat"],
        {"CSV", "JSON", "TENSORBOARD", "PARQUET"},
    ),
    "severity": (
        common_pb2.DESCRIPTOR.enum_types_by_name["Severity"],
        {"LOW", "MEDIUM", "HIGH", "CRITICAL"},
    ),
    "pattern_type": (
        analytics_pb2.DESCRIPTOR.enum_types_by_name["PatternType"],
        {"PERIODIC", "TREND", "STATE_CHANGE"},
    ),
    "update type": (
        updates_pb2.DESCRIPTOR.enum_types_by_name["UpdateType"],
        {"HEATMAP", "CORRELATION", "TEMPORAL", "ANOMALY"},
    ),
}


def _all_messages() -> Iterator[descriptor.Descriptor]:
    def walk(d: descriptor.Descriptor) -> Iterator[descriptor.Descriptor]:
        if not d.GetOptions().map_entry:
            yield d
        for nested in d.nested_types:
            yield from walk(nested)

    for module in FILES:
        for d in module.DESCRIPTOR.message_types_by_name.values():
            yield from walk(d)


def _all_enums() -> Iterator[descriptor.EnumDescriptor]:
    for module in FILES:
        yield from module.DESCRIPTOR.enum_types_by_name.values()


def _sample_scalar(field: descriptor.FieldDescriptor, seed: int) -> object:
    fd = descriptor.FieldDescriptor
    if field.type == fd.TYPE_STRING:
        return f"{field.name}-{seed}"
    if field.type == fd.TYPE_BYTES:
        return bytes(range(seed % 7, seed % 7 + 8))
    if field.type == fd.TYPE_BOOL:
        return True
    if field.type in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
        return 0.5 + seed
    if field.type == fd.TYPE_ENUM:
        return field.enum_type.values[-1].number
    return seed + 1


def _populate(msg: Message, depth: int = 0) -> None:
    """Sets every field (one value per repeated/map field) so a round trip touches all of them."""
    for i, field in enumerate(msg.DESCRIPTOR.fields):
        if field.containing_oneof is not None and field.containing_oneof.fields[0] is not field:
            continue  # one member per oneof; the others are covered by their own messages
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_f, val_f = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            container = getattr(msg, field.name)
            key = _sample_scalar(key_f, i)
            if val_f.message_type is not None:
                if depth < 4:
                    _populate(container[key], depth + 1)
            else:
                container[key] = _sample_scalar(val_f, i)
            continue
        if field.message_type is not None:
            if field.message_type.full_name.startswith("google.protobuf."):
                sub = (
                    getattr(msg, field.name).add()
                    if field.is_repeated
                    else getattr(msg, field.name)
                )
                if field.message_type.full_name == "google.protobuf.Timestamp":
                    sub.FromSeconds(1_700_000_000 + i)
                continue
            if depth >= 4:
                continue
            sub = getattr(msg, field.name).add() if field.is_repeated else getattr(msg, field.name)
            _populate(sub, depth + 1)
            continue
        value = _sample_scalar(field, i)
        if field.is_repeated:
            getattr(msg, field.name).append(value)
        else:
            setattr(msg, field.name, value)


MESSAGES = sorted(_all_messages(), key=lambda d: d.full_name)


@pytest.mark.parametrize("desc", MESSAGES, ids=[d.full_name for d in MESSAGES])
def test_every_message_round_trips_binary_and_json(desc: descriptor.Descriptor) -> None:
    cls = message_factory.GetMessageClass(desc)
    original = cls()
    _populate(original)
    assert original.ByteSize() > 0 or not desc.fields, f"{desc.full_name} stayed empty"
    decoded = cls.FromString(original.SerializeToString())
    assert decoded == original
    via_json = json_format.Parse(json_format.MessageToJson(original), cls())
    assert via_json == original


def test_every_proto_file_is_checked_here() -> None:
    """A new .proto joins FILES, so its messages round-trip and meet the rules below."""
    on_disk = {
        f"neural_heatmap/v1/{p.name}"
        for p in (Path(__file__).resolve().parents[2] / "protos/neural_heatmap/v1").glob("*.proto")
    }
    assert {m.DESCRIPTOR.name for m in FILES} == on_disk


def test_no_field_is_a_struct_and_every_closed_type_enum_keeps_its_name() -> None:
    """Struct carries only doubles (an integer comes back as 4900.0) and a closed enum turns a
    name it does not know into UNSPECIFIED; the contract uses neither where the server's words
    could be lost (CHANGELOG 0.2.0)."""
    structs = [
        f"{desc.full_name}.{field.name}"
        for desc in _all_messages()
        for field in desc.fields
        if field.message_type is not None
        and field.message_type.full_name
        in {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
    ]
    assert structs == []
    for msg, enum_field in (
        (analytics_pb2.Anomaly, "anomaly_type"),
        (analytics_pb2.TemporalPattern, "pattern_type"),
    ):
        name_field = msg.DESCRIPTOR.fields_by_name[f"{enum_field}_name"]
        assert name_field.type == descriptor.FieldDescriptor.TYPE_STRING


def test_metadata_value_kinds_round_trip() -> None:
    value = metadata_pb2.MetadataValue(
        map_value=metadata_pb2.MetadataMap(
            fields={
                "step": metadata_pb2.MetadataValue(int_value=2**62),
                "flag": metadata_pb2.MetadataValue(bool_value=True),
                "null": metadata_pb2.MetadataValue(),
                "list": metadata_pb2.MetadataValue(
                    list_value=metadata_pb2.MetadataList(
                        values=[
                            metadata_pb2.MetadataValue(double_value=0.5),
                            metadata_pb2.MetadataValue(string_value="x"),
                        ]
                    )
                ),
            }
        )
    )
    decoded = metadata_pb2.MetadataValue.FromString(value.SerializeToString())
    assert decoded == value
    assert decoded.map_value.fields["step"].int_value == 2**62
    assert decoded.map_value.fields["null"].WhichOneof("kind") is None
    # proto-JSON renders int64 as a string: that is how JSON clients tell it from a double.
    as_json = json_format.MessageToDict(value)
    assert as_json["mapValue"]["fields"]["step"] == {"intValue": str(2**62)}
    assert json_format.ParseDict(as_json, metadata_pb2.MetadataValue()) == value


def test_every_enum_has_an_unspecified_zero_value() -> None:
    for enum in _all_enums():
        zero = enum.values_by_number[0]
        assert zero.name.endswith("_UNSPECIFIED"), f"{enum.full_name} zero is {zero.name}"


@pytest.mark.parametrize("name", sorted(SEED_METHODS))
def test_seed_method_has_its_rpc(name: str) -> None:
    rpc, client_streaming, server_streaming = SEED_METHODS[name]
    method = SERVICE.methods_by_name.get(rpc)
    assert method is not None, f"seed method {name} has no RPC {rpc}"
    assert method.client_streaming == client_streaming
    assert method.server_streaming == server_streaming
    assert method.input_type.name == f"{rpc}Request"
    assert method.output_type.name == f"{rpc}Response"


def test_rpc_set_is_exactly_seed_plus_additions() -> None:
    expected = {rpc for rpc, _, _ in SEED_METHODS.values()} | set(OUR_ADDITIONS)
    assert set(SERVICE.methods_by_name) == expected
    for rpc, (client_streaming, server_streaming) in OUR_ADDITIONS.items():
        method = SERVICE.methods_by_name[rpc]
        assert (method.client_streaming, method.server_streaming) == (
            client_streaming,
            server_streaming,
        )


@pytest.mark.parametrize("entity", sorted(SEED_ENTITIES))
def test_seed_entity_has_its_fields(entity: str) -> None:
    cls, fields = SEED_ENTITIES[entity]
    missing = fields - set(cls.DESCRIPTOR.fields_by_name)
    assert not missing, f"{entity} lacks {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(SEED_ENUMS))
def test_seed_closed_set_is_an_enum(name: str) -> None:
    enum, members = SEED_ENUMS[name]
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
    assert {v.name.removeprefix(prefix) for v in enum.values} >= members


def test_large_matrices_travel_as_raw_bytes() -> None:
    tensor = analytics_pb2.CorrelationMatrix.DESCRIPTOR.fields_by_name["matrix"].message_type
    assert tensor is tensor_pb2.Tensor.DESCRIPTOR
    assert tensor.fields_by_name["data"].type == descriptor.FieldDescriptor.TYPE_BYTES


def test_seed_document_names_nothing_we_do_not_map() -> None:
    """Guards the two tables above against a seed that grows: every method it lists is mapped."""
    text = SEED_API.read_text()
    named = set(re.findall(r"^- `(\w+)\(", text, flags=re.MULTILINE))
    assert named, "no methods parsed from the seed"
    unmapped = named - set(SEED_METHODS) - set(SEED_CLIENT_SIDE)
    assert not unmapped, f"seed methods without an RPC or client-side mapping: {sorted(unmapped)}"
    for entity in re.findall(r"^class (\w+):", text, flags=re.MULTILINE):
        assert entity in SEED_ENTITIES, f"seed data type {entity} has no message"
