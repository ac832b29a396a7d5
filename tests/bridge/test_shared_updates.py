"""Serialize once per update (``_shared_updates``): shared objects, identical bytes, bounds."""

from __future__ import annotations

from neural_heatmap_bridge._shared_updates import SharedUpdates
from neural_heatmap_contract.v1 import analytics_pb2, common_pb2, updates_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb


def anomalies(*sequences: int) -> list[analytics_pb2.Anomaly]:
    return [
        analytics_pb2.Anomaly(sequence=s, model_id="m", severity=common_pb2.SEVERITY_HIGH)
        for s in sequences
    ]


def test_streams_with_the_same_selection_share_one_update() -> None:
    shared = SharedUpdates()
    batch = anomalies(1, 2, 3)
    first = shared.anomaly_update(list(batch))  # each stream takes its own list
    assert shared.anomaly_update(list(batch)) is first
    narrower = shared.anomaly_update(batch[1:])
    assert narrower is not first
    assert [a.sequence for a in narrower.anomalies] == [2, 3]
    assert narrower.severity == common_pb2.SEVERITY_HIGH


def test_each_response_variant_is_serialized_once_and_parses_back() -> None:
    shared = SharedUpdates()
    update = updates_pb2.HeatmapUpdate(model_id="m", layer="l", width=2, height=1)
    one = shared.response(pb.SubscribeHeatmapResponse, "update", update)
    assert shared.response(pb.SubscribeHeatmapResponse, "update", update) is one
    assert pb.SubscribeHeatmapResponse.FromString(one).update == update
    both = shared.response(pb.StreamUpdatesResponse, "heatmap", update)
    assert pb.StreamUpdatesResponse.FromString(both).heatmap == update


def test_the_memo_stays_within_its_byte_bound() -> None:
    shared = SharedUpdates(max_bytes=4096)
    updates = [updates_pb2.HeatmapUpdate(model_id="m", layer=f"l{i}" * 100) for i in range(50)]
    out = [shared.response(pb.SubscribeHeatmapResponse, "update", u) for u in updates]
    assert shared._bytes <= 4096
    # A forgotten entry is serialized again, to the same bytes.
    assert shared.response(pb.SubscribeHeatmapResponse, "update", updates[0]) == out[0]


def test_the_memo_keeps_a_bounded_number_of_small_encodings() -> None:
    # Each entry pins its update message (native memory several times its bytes), so
    # many small encodings are bounded by count, not only by bytes.
    shared = SharedUpdates(max_entries=8)
    updates = [updates_pb2.HeatmapUpdate(model_id="m", layer=f"l{i}") for i in range(100)]
    out = [shared.response(pb.SubscribeHeatmapResponse, "update", u) for u in updates]
    assert shared.entries == 8
    assert shared._bytes == 2 * sum(len(b) for b in out[-8:])
    assert shared.response(pb.SubscribeHeatmapResponse, "update", updates[0]) == out[0]
