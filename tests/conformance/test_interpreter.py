"""The interpreter's own rules that no live scenario can provoke on demand.

Heartbeats arrive only on idle streams after a few seconds, so whether one lands between
two anomalies is timing; these tests feed the interpreter scripted client answers instead
(a stand-in for the thin client process, not for the server or bridge).
"""

from __future__ import annotations

import base64
from typing import Any, cast

import pytest
from google.rpc import error_details_pb2

from tests.conformance import runner
from tests.conformance.checks import CheckFailed
from tests.conformance.thin_client import Answer, StatusError, ThinClient, decode_detail


class ScriptedClient:
    """Answers a stream call and its ``next`` requests from a list, records cancels."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.requests: list[str] = []

    def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Answer:
        self.requests.append(f"call {method}")
        return self.answers.pop(0)

    def next(self, call: Answer, max_responses: int, timeout_s: float) -> Answer:
        self.requests.append(f"next {max_responses}")
        return self.answers.pop(0)

    def cancel(self, call: Answer) -> Answer:
        self.requests.append("cancel")
        return Answer(id=call.id, responses=[], code="CANCELLED")


def _anomalies(*seqs: int) -> dict[str, Any]:
    return {"update": {"anomalies": [{"sequence": str(s)} for s in seqs]}}


@pytest.mark.parametrize(
    ("message", "heartbeat"),
    [
        ({"heartbeat": {}}, True),
        ({"heartbeat": {"timestamp": "2026-01-01T00:00:00Z"}}, True),
        ({"heartbeat": True}, True),
        ({"anomalyHeartbeat": {"lastSequence": "3"}}, True),
        ({"anomaly_heartbeat": {}}, True),
        ({"heartbeat": {}, "update": {}}, False),
        (_anomalies(1), False),
        ({}, False),
    ],
)
def test_is_heartbeat_means_heartbeat_is_the_only_field(message: Any, heartbeat: bool) -> None:
    assert runner.is_heartbeat(message) is heartbeat


def test_stream_skips_heartbeats_and_reads_until_take_items() -> None:
    client = ScriptedClient(
        [
            Answer(id=1, responses=[{"heartbeat": {}}], open=True),
            Answer(id=1, responses=[_anomalies(7)], open=True),
            Answer(id=1, responses=[{"heartbeat": {}}], open=True),
            Answer(id=1, responses=[_anomalies(8, 9)], open=True),
        ]
    )
    step = {"rpc": "SubscribeAnomalies", "request": {}, "collect": "update.anomalies", "take": 2}
    result = runner.call(cast(ThinClient, client), "t", step, {})
    assert result == {"items": [{"sequence": "7"}, {"sequence": "8"}]}
    assert client.requests == [f"call {runner.SERVICE}/SubscribeAnomalies"] + ["next 1"] * 3 + [
        "cancel"
    ]


def test_stream_of_only_heartbeats_is_too_short() -> None:
    client = ScriptedClient(
        [Answer(id=1, responses=[{"heartbeat": {}}], open=True), Answer(id=1, responses=[])]
    )
    step = {"rpc": "StreamUpdates", "request": {}, "collect": "anomaly.anomalies", "take": 1}
    with pytest.raises(CheckFailed, match="stream ended after 0 of 1 items"):
        runner.call(cast(ThinClient, client), "t", step, {})
    assert client.requests[-1] == "next 1"  # ended by the server: nothing to cancel


def test_stream_error_before_take_items_is_the_status() -> None:
    client = ScriptedClient([Answer(id=1, responses=[], code="NOT_FOUND", message="no export")])
    step = {"rpc": "DownloadExport", "request": {"name": "x"}, "collect": "chunk"}
    with pytest.raises(StatusError) as e:
        runner.call(cast(ThinClient, client), "t", step, {})
    assert e.value.answer.status() == {"code": "NOT_FOUND", "message": "no export", "details": []}


def test_details_are_decoded_once_here() -> None:
    info = error_details_pb2.ErrorInfo(reason="R", domain="d", metadata={"k": "v"})
    raw = base64.b64encode(info.SerializeToString()).decode()
    assert decode_detail({"type": "google.rpc.ErrorInfo", "value": raw}) == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "R",
        "domain": "d",
        "metadata": {"k": "v"},
    }
    assert decode_detail({"type": "no.such.Type", "value": "AAE="}) == {
        "@type": "type.googleapis.com/no.such.Type",
        "value": "AAE=",
    }
