"""The error table of the contract, row by row, and every layer that derives from it.

grpc-gateway's ``runtime/errors.go`` practice: one table, one test per row. ``EXPECTED``
is written out by hand on purpose; a change to the table must change this file too.
Each row is then checked where it is used: the server's HTTP status for the word, the
bridge's status and ``google.rpc.ErrorInfo`` for that answer, the SDK exception a caller
catches. The bridge's own edge cases (``Retry-After``, bounds) are in
tests/bridge/test_error_table.py; live rows in tests/bridge/test_errors.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import grpc
import neural_heatmap
import pytest
from google.rpc import error_details_pb2, status_pb2
from neural_heatmap._errors import exception_class_for_code
from neural_heatmap_bridge import _errors as bridge_errors
from neural_heatmap_contract import errors as table
from neural_heatmap_server.errors import STATUS_BY_CODE, ApiError

ROOT = Path(__file__).resolve().parents[2]

# (server word, HTTP status, gRPC code, ErrorInfo reason, SDK exception)
EXPECTED = [
    ("invalid_argument", 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "InvalidArgumentError"),
    ("unauthenticated", 401, "UNAUTHENTICATED", "UNAUTHENTICATED", "UnauthenticatedError"),
    ("not_found", 404, "NOT_FOUND", "NOT_FOUND", "NotFoundError"),
    ("method_not_allowed", 405, "UNIMPLEMENTED", "UPSTREAM_ROUTE_MISSING", "UnimplementedError"),
    ("request_timeout", 408, "UNAVAILABLE", "REQUEST_TIMEOUT", "UnavailableError"),
    ("already_exists", 409, "ALREADY_EXISTS", "ALREADY_EXISTS", "AlreadyExistsError"),
    ("sequence_expired", 410, "OUT_OF_RANGE", "SEQUENCE_EXPIRED", "OutOfRangeError"),
    ("payload_too_large", 413, "RESOURCE_EXHAUSTED", "PAYLOAD_TOO_LARGE",
     "ResourceExhaustedError"),
    ("overloaded", 429, "RESOURCE_EXHAUSTED", "OVERLOADED", "ResourceExhaustedError"),
    ("internal", 500, "UNAVAILABLE", "INTERNAL", "UnavailableError"),
    ("unavailable", 503, "UNAVAILABLE", "UNAVAILABLE", "UnavailableError"),
    ("deadline_exceeded", 504, "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED",
     "DeadlineExceededError"),
]

# (ErrorInfo reason, gRPC code) of failures no server answer names.
EXPECTED_OWN = [
    ("UPSTREAM_UNAVAILABLE", "UNAVAILABLE"),
    ("UPSTREAM_TIMEOUT", "DEADLINE_EXCEEDED"),
    ("BAD_UPSTREAM_PAYLOAD", "INTERNAL"),
    ("BRIDGE_UNAUTHENTICATED", "UNAUTHENTICATED"),
    ("INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    ("NOT_FOUND", "NOT_FOUND"),
    ("MESSAGE_TOO_LARGE", "RESOURCE_EXHAUSTED"),
    ("INGEST_BUFFER_FULL", "RESOURCE_EXHAUSTED"),
    ("STREAM_STALLED", "UNAVAILABLE"),
    ("SLOW_READER", "RESOURCE_EXHAUSTED"),
    ("UPSTREAM_STALLED", "UNAVAILABLE"),
    ("BRIDGE_SHUTTING_DOWN", "UNAVAILABLE"),
    ("BRIDGE_INTERNAL", "INTERNAL"),
]


def test_the_table_is_what_this_file_says() -> None:
    rows = [(r.word, r.http_status, r.grpc_code, r.reason, r.sdk_exception)
            for r in table.SERVER_ROWS]
    assert rows == EXPECTED
    own = [(r.reason, r.grpc_code) for r in (*table.TRANSPORT_ROWS, *table.BRIDGE_ROWS)]
    assert own == EXPECTED_OWN


def _rich(err: bridge_errors.UpstreamError) -> tuple[int, error_details_pb2.ErrorInfo]:
    status = err.to_status()
    (value,) = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    proto = status_pb2.Status.FromString(value)
    info = error_details_pb2.ErrorInfo()
    assert proto.details[0].Unpack(info)
    return proto.code, info


@pytest.mark.parametrize(("word", "http", "code", "reason", "exception"), EXPECTED)
def test_server_row(word: str, http: int, code: str, reason: str, exception: str) -> None:
    # Server: the word is sent with this HTTP status.
    assert ApiError(word, "m").status == http
    # Bridge: that answer becomes this status and ErrorInfo.
    body = json.dumps({"error": {"code": word, "message": "m", "details": {}}}).encode()
    err = bridge_errors.from_http(http, body, "GET /api/x")
    number, info = _rich(err)
    assert (err.code.name, number) == (code, grpc.StatusCode[code].value[0])
    assert (info.reason, info.domain) == (reason, "neural-heatmap.dev")
    # SDK: the caller catches this class, exported by name.
    cls = exception_class_for_code(grpc.StatusCode[code])
    assert cls.__name__ == exception
    assert getattr(neural_heatmap, exception) is cls


@pytest.mark.parametrize(("reason", "code"), EXPECTED_OWN)
def test_own_row_builds_its_status(reason: str, code: str) -> None:
    err = bridge_errors.UpstreamError.of(table.own_row(reason), "m")
    number, info = _rich(err)
    assert (info.reason, number) == (reason, grpc.StatusCode[code].value[0])


def test_bridge_constructors_use_their_rows() -> None:
    made = {
        "UPSTREAM_UNAVAILABLE": bridge_errors.unavailable("GET /x", "refused"),
        "UPSTREAM_TIMEOUT": bridge_errors.deadline("GET /x"),
        "BAD_UPSTREAM_PAYLOAD": bridge_errors.bad_payload("GET /x", "not JSON"),
        "BRIDGE_UNAUTHENTICATED": bridge_errors.unauthenticated("no token"),
        "INVALID_ARGUMENT": bridge_errors.invalid("bad", field="f"),
        "NOT_FOUND": bridge_errors.not_found("gone"),
        "MESSAGE_TOO_LARGE": bridge_errors.too_large("big"),
        "INGEST_BUFFER_FULL": bridge_errors.buffer_full("full"),
        "STREAM_STALLED": bridge_errors.stalled_stream("stuck"),
        "SLOW_READER": bridge_errors.slow_reader("not reading"),
        "UPSTREAM_STALLED": bridge_errors.stalled_upstream("silent"),
        "BRIDGE_SHUTTING_DOWN": bridge_errors.shutting_down("bye"),
        "BRIDGE_INTERNAL": bridge_errors.internal("bug"),
    }
    assert {k: (e.reason, e.code.name) for k, e in made.items()} == {
        reason: (reason, code) for reason, code in EXPECTED_OWN
    }


def test_the_server_sends_only_words_of_the_table() -> None:
    """Every ``ApiError("word", ...)`` in the server's source is a row (and vice versa)."""
    source = "\n".join(p.read_text() for p in (ROOT / "server").rglob("*.py"))
    used = set(re.findall(r'(?:ApiError|error_body|_send_error)\((?:conn, )?\s*"([a-z_]+)"',
                          source))
    assert len(used) >= 5, "the pattern no longer finds the server's errors"
    assert used <= set(STATUS_BY_CODE)
    # The words the web framework's own answers get (an unknown route, a wrong method).
    assert (table.WORD_BY_HTTP_STATUS[404], table.WORD_BY_HTTP_STATUS[405]) == (
        "not_found", "method_not_allowed")
    assert len(table.WORD_BY_HTTP_STATUS) == len(STATUS_BY_CODE)  # one word per status


def test_every_sdk_exception_class_agrees_with_the_table() -> None:
    for code, name in table.EXCEPTION_BY_CODE.items():
        cls = getattr(neural_heatmap, name)
        assert cls.grpc_status_code is grpc.StatusCode[code]
    known = {c.name for c in grpc.StatusCode} - {"OK"}
    assert set(table.EXCEPTION_BY_CODE) == known


def test_an_unknown_word_keeps_its_reason_and_takes_the_status_row() -> None:
    body = json.dumps({"error": {"code": "conflict", "message": "m"}}).encode()
    err = bridge_errors.from_http(409, body, "POST /api/x")
    assert (err.code, err.reason) == (grpc.StatusCode.ABORTED, "CONFLICT")


def _steps(node: object) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if "expect_error" in node else []
        return found + [step for value in node.values() for step in _steps(value)]
    if isinstance(node, list):
        return [step for value in node for step in _steps(value)]
    return []


def test_conformance_scenarios_pin_rows_of_this_table() -> None:
    """Every ErrorInfo a scenario in tests/conformance/scenarios.json expects is a row."""
    scenarios = json.loads((ROOT / "tests/conformance/scenarios.json").read_text())
    pinned = []
    for step in _steps(scenarios):
        expect = {e["path"]: e["eq"] for e in step.get("expect", []) if "eq" in e}
        if "details[0].reason" not in expect:
            continue
        row = next(r for r in table.SERVER_ROWS if r.reason == expect["details[0].reason"])
        assert expect["details[0].domain"] == table.DOMAIN
        assert step["expect_error"] == row.grpc_code
        if "details[0].metadata.http_status" in expect:
            assert expect["details[0].metadata.http_status"] == str(row.http_status)
        pinned.append(row.reason)
    assert "INVALID_ARGUMENT" in pinned  # SetFilter min > max
