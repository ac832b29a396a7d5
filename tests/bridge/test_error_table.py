"""The bridge's reading of upstream answers (``_errors.from_http``), without processes.

The table itself is pinned in tests/contract/test_error_table.py; here each row is an
upstream answer as it can arrive (HTTP status, the server's error code or none, the
``Retry-After`` header, a status and word that disagree) and the status, reason and
retry hint the caller must see. The live rows (real server, fake upstream) are in
test_errors.py; the last test runs the ingestion against a tiny in-process upstream
that is overloaded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import grpc
import numpy as np
import pytest
from aiohttp import web
from google.rpc import error_details_pb2, status_pb2
from neural_heatmap_bridge import _errors
from neural_heatmap_bridge._config import parse_config
from neural_heatmap_bridge._ingest import IngestBudget, ingest
from neural_heatmap_bridge._metrics import Metrics
from neural_heatmap_bridge._upstream import CallOptions, Upstream
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from tests.bridge.conftest import frame
from tests.support.server_process import free_port

S = grpc.StatusCode


def body(code: str, message: str = "no") -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()


# (HTTP status, body, Retry-After, expected code, expected reason, expected retry delay s)
ROWS = [
    (400, body("invalid_argument"), None, S.INVALID_ARGUMENT, "INVALID_ARGUMENT", None),
    (401, body("unauthenticated"), None, S.UNAUTHENTICATED, "UNAUTHENTICATED", None),
    (403, body("forbidden"), None, S.PERMISSION_DENIED, "FORBIDDEN", None),
    (404, body("not_found"), None, S.NOT_FOUND, "NOT_FOUND", None),
    (404, b"plain", None, S.UNIMPLEMENTED, "UPSTREAM_ROUTE_MISSING", None),
    (405, body("method_not_allowed"), None, S.UNIMPLEMENTED, "UPSTREAM_ROUTE_MISSING", None),
    (409, body("conflict"), None, S.ABORTED, "CONFLICT", None),  # no such word: by status
    (409, body("already_exists"), None, S.ALREADY_EXISTS, "ALREADY_EXISTS", None),
    (410, body("sequence_expired"), None, S.OUT_OF_RANGE, "SEQUENCE_EXPIRED", None),
    (413, body("payload_too_large"), None, S.RESOURCE_EXHAUSTED, "PAYLOAD_TOO_LARGE", None),
    (415, body("unsupported_media_type"), None, S.UNIMPLEMENTED, "UNSUPPORTED_MEDIA_TYPE", None),
    (422, body("invalid_argument"), None, S.INVALID_ARGUMENT, "INVALID_ARGUMENT", None),
    (429, body("overloaded"), "3", S.RESOURCE_EXHAUSTED, "OVERLOADED", 3.0),
    (429, body("overloaded"), None, S.RESOURCE_EXHAUSTED, "OVERLOADED", 1.0),
    (429, body("overloaded"), "soon", S.RESOURCE_EXHAUSTED, "OVERLOADED", 1.0),
    (503, body("overloaded"), "2", S.RESOURCE_EXHAUSTED, "OVERLOADED", 2.0),
    (503, body("unavailable"), "5", S.UNAVAILABLE, "UNAVAILABLE", 5.0),
    (503, body("unavailable"), None, S.UNAVAILABLE, "UNAVAILABLE", None),
    (504, body("deadline_exceeded"), None, S.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", None),
    (504, b"<html>gateway timeout</html>", None, S.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", None),
    (408, body("deadline_exceeded"), None, S.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", None),
    (500, body("internal"), None, S.UNAVAILABLE, "INTERNAL", None),
    (502, b"bad gateway", None, S.UNAVAILABLE, "UNAVAILABLE", None),
]


def rich(err: _errors.UpstreamError) -> status_pb2.Status:
    """The google.rpc.Status the caller receives in its trailers."""
    status = err.to_status()
    (value,) = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    return status_pb2.Status.FromString(value)


@pytest.mark.parametrize(("http", "raw", "retry_after", "code", "reason", "delay"), ROWS)
def test_row(
    http: int,
    raw: bytes,
    retry_after: str | None,
    code: grpc.StatusCode,
    reason: str,
    delay: float | None,
) -> None:
    err = _errors.from_http(http, raw, "GET /api/x", retry_after)
    assert (err.code, err.reason) == (code, reason)
    assert err.retry_delay == delay
    proto = rich(err)
    assert proto.code == code.value[0]
    info = error_details_pb2.ErrorInfo()
    assert proto.details[0].Unpack(info) and info.reason == reason
    retry = [d for d in proto.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert len(retry) == (0 if delay is None else 1)


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert _errors.retry_after_seconds("Thu, 01 Jan 2026 12:00:07 GMT", now) == 7.0
    assert _errors.retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert _errors.retry_after_seconds("", now) is None


def test_a_huge_echoed_id_stays_within_trailer_limits() -> None:
    huge = "m" * (1 << 20)
    err = _errors.from_http(404, body("not_found", f"unknown model {huge!r}"), "POST /api/compare")
    status = err.to_status()
    size = sum(len(k) + len(v) for k, v in status.trailing_metadata) + len(status.details)
    assert err.code == S.NOT_FOUND
    assert size < 4096, size
    assert err.message.endswith("...") and len(err.message.encode()) <= _errors.MAX_MESSAGE_BYTES


def test_control_characters_are_replaced() -> None:
    err = _errors.invalid("bad\r\nInjected: header\x00", field="a\nb")
    assert "\n" not in err.message and "\x00" not in err.message
    assert err.metadata["field"] == "a\ufffdb"


def test_invalid_names_the_field_in_bad_request() -> None:
    err = _errors.invalid("severity must be known", field="severity")
    proto = rich(err)
    bad = error_details_pb2.BadRequest()
    assert proto.details[1].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("severity", "severity must be known")
    ]


async def test_overloaded_ingest_ends_the_call_with_retry_info() -> None:
    """An overloaded server is not the frames' fault: the call ends RESOURCE_EXHAUSTED
    with the server's retry hint (the frames are not reported as rejected)."""

    async def busy(_request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"code": "overloaded", "message": "busy", "details": {}}},
            status=429,
            headers={"Retry-After": "4"},
        )

    app = web.Application()
    app.router.add_post("/api/activations", busy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    up = Upstream(f"http://127.0.0.1:{port}", None, 5.0)

    async def requests() -> Any:
        yield pb.IngestActivationsRequest(frames=[frame("m", "l", np.ones(4))])

    try:
        with pytest.raises(_errors.UpstreamError) as caught:
            metrics = Metrics()
            budget = IngestBudget(1 << 20, metrics)
            await ingest(up, requests(), lambda: CallOptions(5.0, "r"), parse_config([]), metrics,
                         budget)
    finally:
        await up.close()
        await runner.cleanup()
    assert caught.value.code == S.RESOURCE_EXHAUSTED
    assert caught.value.reason == "OVERLOADED"
    assert caught.value.retry_delay == 4.0
    assert budget.held == 0  # the refused batch's bytes came back
