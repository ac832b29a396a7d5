"""Issue 23: the memory budget, slow and idle clients, long request lines, quiet garbage.

Each test runs a real server with small limits and talks to it over raw sockets where
an HTTP client would hide what happens on the wire.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request

from tests.server.conftest import FAST_ARGS, Api
from tests.support.server_process import ServerProcess

WINDOW = 16
UNITS = 1000
LAYER_BYTES = WINDOW * (4 * UNITS + 24)  # memory.window_bytes(16, 1000)


def _frame(model: str, layer: str, units: int = UNITS) -> dict[str, object]:
    return {"model_id": model, "layer_id": layer, "values": [0.5] * units}


def _metric(server: ServerProcess, name: str) -> float:
    text = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def test_layers_are_admitted_until_the_memory_budget_and_the_next_gets_429() -> None:
    budget = 3 * LAYER_BYTES + LAYER_BYTES // 2  # room for three layers and a half
    args = [*FAST_ARGS, "--window", str(WINDOW), "--memory-budget", str(budget)]
    with ServerProcess(extra_args=args) as server:
        api = Api(server)
        for layer in ("a", "b", "c"):
            assert api.post("/api/activations", _frame("m", layer)) == {"accepted": 1}
        assert _metric(server, "nh_server_window_bytes") == 3 * LAYER_BYTES
        assert _metric(server, "nh_server_memory_budget_bytes") == budget

        status, err = api.call("POST", "/api/activations", _frame("m", "d"))
        assert status == 429, err
        assert err["error"]["code"] == "overloaded"
        details = err["error"]["details"]
        assert details["budget_bytes"] == budget
        assert details["layer_bytes"] == LAYER_BYTES
        assert details["remaining_bytes"] == LAYER_BYTES // 2
        assert "--memory-budget" in err["error"]["message"]
        assert str(LAYER_BYTES // 2) in err["error"]["message"]

        # A smaller layer still fits; existing layers keep ingesting; nothing else changed.
        assert api.post("/api/activations", _frame("m", "small", 10)) == {"accepted": 1}
        assert api.post("/api/activations", {"frames": [
            _frame("m", "a"), _frame("m", "b")]}) == {"accepted": 2}
        layers = [x["layer_id"] for x in api.get("/api/models")["models"][0]["layers"]]
        assert layers == ["a", "b", "c", "small"]
        assert api.get("/health")["status"] == "ok"


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def test_a_stalled_body_is_answered_408_and_closed() -> None:
    args = [*FAST_ARGS, "--body-timeout", "1"]
    with ServerProcess(extra_args=args) as server:
        with _connect(server) as sock:
            sock.sendall(b"POST /api/filter HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            received, took = _read_until_closed(sock, 30)
        # Closed by the server (recv returned), far sooner than the 30 s socket timeout.
        assert took < 20
        assert received.startswith(b"HTTP/1.1 408 "), received[:100]
        assert b'"request_timeout"' in received and b"--body-timeout" in received
        assert Api(server).get("/health")["status"] == "ok"


def test_incomplete_headers_are_closed_after_the_header_timeout() -> None:
    args = [*FAST_ARGS, "--header-timeout", "1"]
    with ServerProcess(extra_args=args) as server:
        with _connect(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line: never ends
            received, took = _read_until_closed(sock, 30)
        assert received == b"" and took < 20


def test_a_client_leaving_mid_body_is_one_debug_line_not_a_500() -> None:
    args = [*FAST_ARGS, "--log-level", "DEBUG"]
    with ServerProcess(extra_args=args) as server:
        with _connect(server) as sock:
            sock.sendall(b"POST /api/filter HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            time.sleep(0.5)  # let the server start reading the body
        api = Api(server)
        deadline = time.monotonic() + 20
        while "client left during the body" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert api.get("/health")["status"] == "ok"
        log = server.log()
        assert log.count("client left during the body of POST /api/filter") == 1
        assert "Traceback" not in log and " 500 " not in log and "ERROR" not in log


def test_garbage_requests_are_one_warning_line_without_traceback() -> None:
    with ServerProcess(extra_args=FAST_ARGS) as server:
        with _connect(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n")
            first, _ = _read_until_closed(sock, 30)
        assert first.split(b"\r\n")[0].endswith(b" 400 Bad Request"), first[:80]
        deadline = time.monotonic() + 10
        while "malformed request" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = [x for x in server.log().splitlines() if "malformed request" in x]
        assert len(lines) == 1 and "WARNING" in lines[0], lines
        assert "Invalid header value char" in lines[0]  # one line, the reason on it

        # A request line over the limit, then a flood: rate-limited, never a traceback.
        for _ in range(30):
            with _connect(server) as sock:
                sock.sendall(b"GET /" + b"a" * (2 << 20) + b" HTTP/1.1\r\n\r\n")
                answer, _ = _read_until_closed(sock, 30)
            assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer[:80]
        assert Api(server).get("/health")["status"] == "ok"
        log = server.log()
        lines = [x for x in log.splitlines() if "malformed request" in x]
        assert 2 <= len(lines) <= 10, lines  # GARBAGE_LINES_PER_WINDOW
        assert all("WARNING" in x and len(x) < 400 for x in lines)
        assert "Traceback" not in log and "ERROR" not in log
