"""Protocol facts the server and the bridge share (neural_heatmap_contract.protocol)."""

from __future__ import annotations

import pytest
from neural_heatmap_contract import errors, protocol


@pytest.mark.parametrize(
    ("after", "first", "pruned"),
    [(3, 5, True), (4, 5, False), (9, 5, False), (0, 1, False), (0, 2, True)],
)
def test_a_resume_point_is_pruned_when_its_next_sequence_is_gone(
    after: int, first: int, pruned: bool
) -> None:
    assert protocol.is_pruned(after, first) is pruned


def test_pruned_message() -> None:
    assert protocol.pruned_message(4, 7) == "sequence 4 was pruned; the oldest retained is 7"
    assert protocol.pruned_message(4, 7, " from the log") == (
        "sequence 4 was pruned from the log; the oldest retained is 7"
    )


def test_sequence_expired_is_a_row_of_the_error_table() -> None:
    row = errors.row_for_answer(410, protocol.SEQUENCE_EXPIRED)
    assert (row.grpc_code, row.word) == ("OUT_OF_RANGE", protocol.SEQUENCE_EXPIRED)


def test_anomaly_subject() -> None:
    assert protocol.anomaly_subject(protocol.ANOMALY_STREAM) == "NH_ANOMALIES.anomalies"


def test_heartbeat_range_is_ordered() -> None:
    assert 0 < protocol.HEARTBEAT_MIN_SECONDS < protocol.HEARTBEAT_MAX_SECONDS


def test_the_anomaly_filter_matches_both_shapes_subjects() -> None:
    """Readers subscribe to ``<stream>.>``: the one server's subject and every shard's."""
    stream = protocol.ANOMALY_STREAM
    assert protocol.anomaly_filter(stream) == "NH_ANOMALIES.>"
    assert protocol.partition_anomaly_subject(stream, 7) == "NH_ANOMALIES.anomalies.p7"
    for subject in (protocol.anomaly_subject(stream),
                    protocol.partition_anomaly_subject(stream, 63)):
        assert subject.startswith(protocol.anomaly_filter(stream)[:-1])
