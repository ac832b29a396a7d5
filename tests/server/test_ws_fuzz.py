"""Hypothesis-generated /ws messages: valid, invalid, garbage text and binary frames.

The property, for every message on one long-lived connection: it is answered
by exactly one ``data`` or ``error`` message; an error carries a precise code
(never ``internal``), and a message that is not ``{"type": known, "data": {}}``
gets ``invalid_argument``; the connection and the process survive, and
/health answers 200 afterwards. Messages on a connection are handled in order,
so a sentinel request (an unknown type the fuzzer never sends) marks where
the answers to one fuzzed message end.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from tests.support.server_process import ServerProcess

TYPES = ["subscribe_heatmap", "unsubscribe_heatmap", "subscribe_correlations",
         "unsubscribe_correlations", "subscribe_temporal", "unsubscribe_temporal",
         "subscribe_anomalies", "unsubscribe_anomalies", "get_correlation_matrix",
         "get_temporal_patterns", "get_anomalies", "set_filter", "set_theme", "set_layout",
         "export_data", "ingest_activations"]
KEYS = ["model_ids", "layer_ids", "model_id", "layer_id", "granularity", "start_time",
        "end_time", "time_window", "pattern_types", "severity", "min_severity", "limit",
        "after_sequence", "theme", "custom_colors", "intensity_range", "time_range",
        "spatial_bounds", "panel_positions", "z_order", "filename", "format", "frames",
        "values", "step", "timestamp", "heartbeat_interval"]
PRECISE = {"invalid_argument", "unauthenticated", "not_found", "already_exists",
           "sequence_expired", "payload_too_large", "overloaded", "deadline_exceeded"}
SENTINEL = "fuzz_sentinel"

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
           | st.sampled_from(["layer", "unit", "csv", "json", "tensorboard", "high", "trend",
                              "thermal", "m", "m/l", "NaN", "", "a,b"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner,
                                        max_size=4), max_leaves=12)
frames = st.lists(st.fixed_dictionaries(
    {"model_id": st.sampled_from(["fz-a", "fz-b", "", "x/y"]),
     "layer_id": st.sampled_from(["l1", "l2"]),
     "values": st.lists(st.floats(width=32) | st.sampled_from(["NaN", "Infinity"]),
                        min_size=0, max_size=6)},
    optional={"step": st.integers(-2, 2**64), "timestamp": scalars}), max_size=5)
data = st.dictionaries(st.sampled_from(KEYS), values, max_size=5) | st.builds(
    lambda f: {"frames": f}, frames)
well_formed = st.builds(lambda t, d: json.dumps({"type": t, "data": d}),
                        st.sampled_from(TYPES), data)
malformed = (st.text(max_size=40)
             | st.builds(json.dumps, values)
             | st.builds(lambda t, d: json.dumps({"type": t, "data": d}),
                         st.text(max_size=12).filter(lambda t: t not in TYPES
                                                     and t != SENTINEL), values)
             | st.builds(lambda t, d: json.dumps({"type": t, "data": d}),
                         st.sampled_from(TYPES), scalars.filter(lambda v: v is not None)))
messages = (st.tuples(st.just("text"), well_formed) | st.tuples(st.just("bad"), malformed)
            | st.tuples(st.just("binary"), st.binary(max_size=64)))


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[tuple[ServerProcess, ClientConnection]]:
    args = ["--anomaly-cooldown", "0", "--max-new-layers", "4", "--correlation-interval", "0.2",
            "--temporal-interval", "0.2"]
    with ServerProcess(extra_args=args) as proc, connect(proc.ws_url, max_size=None) as ws:
        yield proc, ws


def _answers_until_sentinel(ws: ClientConnection) -> list[dict[str, Any]]:
    ws.send(json.dumps({"type": SENTINEL}))
    answers = []
    while True:
        doc = json.loads(ws.recv(timeout=30))
        if doc["type"] not in ("data", "error"):
            continue  # pushes from subscriptions the fuzzer made
        if doc["data"].get("request") == SENTINEL:
            return answers
        answers.append(doc)


def _is_well_formed(text: str) -> bool:
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return (isinstance(doc, dict) and doc.get("type") in TYPES
            and isinstance(doc.get("data", {}), dict | None))


def check_message(server: ServerProcess, ws: ClientConnection, kind: str,
                  message: str | bytes) -> None:
    """Send one fuzzed message and check the property (module docstring)."""
    ws.send(message)
    answers = _answers_until_sentinel(ws)
    assert len(answers) == 1, (message, answers)
    answer = answers[0]
    if answer["type"] == "error":
        assert answer["data"]["code"] in PRECISE, (message, answer)
    if kind == "binary" or (isinstance(message, str) and not _is_well_formed(message)):
        assert answer["type"] == "error", (message, answer)
        assert answer["data"]["code"] == "invalid_argument", (message, answer)
    assert server.proc is not None and server.proc.poll() is None


def _health(server: ServerProcess) -> int:
    with urllib.request.urlopen(f"{server.url}/health", timeout=2) as resp:
        return int(resp.status)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(messages)
def test_every_ws_message_gets_a_precise_answer(
        fuzz_target: tuple[ServerProcess, ClientConnection],
        case: tuple[str, str | bytes]) -> None:
    server, ws = fuzz_target
    check_message(server, ws, *case)


@pytest.mark.long
@settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages)
def test_every_ws_message_gets_a_precise_answer_long(
        fuzz_target: tuple[ServerProcess, ClientConnection],
        case: tuple[str, str | bytes]) -> None:
    server, ws = fuzz_target
    check_message(server, ws, *case)


def test_server_is_healthy_after_fuzzing(
        fuzz_target: tuple[ServerProcess, ClientConnection]) -> None:
    server, _ = fuzz_target
    assert _health(server) == 200
    assert "Traceback" not in server.log()
