"""A crafted upstream: answers the real server cannot give, for the bridge to convert.

It names an anomaly type and a pattern type outside the contract's enums (as a newer server
or a seed-only upstream may) and sends metadata of every JSON kind, nested, with an integer
beyond int64. Everything else a client could ask is absent (404). Run as a process so any
test, sync or async, in any language's suite, can put a real bridge in front of it::

    with CraftedUpstream() as upstream, BridgeProcess(upstream.url) as bridge:
        ...  # GetAnomalies -> anomaly_type_name "gradient_explosion", metadata.step 4900

``python -m tests.support.crafted_upstream --port P`` runs it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from aiohttp import WSMsgType, web

from tests.support._process import LaunchedProcess, http_ok

UNKNOWN_ANOMALY_TYPE = "gradient_explosion"
UNKNOWN_PATTERN_TYPE = "chirp"
# Every JSON kind, nested; 2**70 is beyond int64 and so travels as a double.
METADATA: dict[str, Any] = {
    "step": 4900,
    "unit": 0,
    "negative": -(2**63),
    "huge": 2**70,
    "ratio": 0.25,
    "whole_float": 3.0,
    "flag": True,
    "off": False,
    "name": "fc1",
    "missing": None,
    "window": [1, 2.5, None, True, "x", {"k": 3}],
    "nested": {"steps": [10, 20], "deep": {"n": 7}},
}
# METADATA as a client gets it back: the same, but the integer beyond int64 as a float.
METADATA_AS_RECEIVED: dict[str, Any] = {**METADATA, "huge": float(2**70)}
ANOMALY: dict[str, Any] = {
    "sequence": 1,
    "anomaly_type": UNKNOWN_ANOMALY_TYPE,
    "severity": "high",
    "timestamp": 1.7e9,
    "location": {"x": 1, "y": 2},
    "layer": "fc1",
    "model_id": "crafted",
    "score": 12.5,
    "description": "a detector this contract does not know yet",
    "metadata": METADATA,
}
PATTERN: dict[str, Any] = {
    "pattern_type": UNKNOWN_PATTERN_TYPE,
    "frequency": 0.5,
    "amplitude": None,
    "phase": None,
    "confidence": 0.75,
    "start_time": 1.7e9,
    "end_time": 1.7e9 + 10,
    "metadata": {"model_id": "crafted", "layer_id": "fc1", "change_index": 42},
}
TEMPORAL_UPDATE: dict[str, Any] = {
    "timestamp": 1.7e9,
    "patterns": [PATTERN],
    "trends": [{"layer_id": "fc1", "samples": 512, "rising": True}],
    "state_changes": [{"change_index": 42, "before": 0.5}, 7],
}


def app() -> web.Application:
    """The crafted answers, on the routes the bridge calls for them."""

    def answer(body: dict[str, Any]) -> Any:
        async def handler(_: web.Request) -> web.Response:
            return web.json_response(body)

        return handler

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT and json.loads(msg.data)["type"] == "subscribe_temporal":
                for _ in range(50):
                    await sock.send_json({"type": "temporal_update", "data": TEMPORAL_UPDATE})
                    await asyncio.sleep(0.2)
        return sock

    application = web.Application()
    application.router.add_get("/health", answer({"status": "ok"}))
    application.router.add_get(
        "/api/anomalies",
        answer({"anomalies": [ANOMALY], "first_sequence": 1, "last_sequence": 1}),
    )
    application.router.add_get("/api/temporal", answer({"patterns": [PATTERN]}))
    application.router.add_get(
        "/api/temporal/stats",
        answer(
            {"model_id": "crafted", "layers": [], "trends": {"increasing": 2}, "extra": METADATA}
        ),
    )
    application.router.add_post(
        "/api/compare",
        answer(
            {
                "model_ids": ["x", "y"],
                "similarity_matrix": [[1.0, 0.5], [0.5, 1.0]],
                "window_steps": 128,
            }
        ),
    )
    application.router.add_get("/ws", ws)
    return application


class CraftedUpstream(LaunchedProcess):
    """The crafted upstream as a subprocess on a free loopback port (``url``)."""

    kind = "crafted-upstream"
    source_dirs = ("",)  # the repository root, for ``tests.support``

    def __init__(self, *, startup_timeout: float = 20.0) -> None:
        super().__init__(env=None, startup_timeout=startup_timeout)
        self.url = f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "tests.support.crafted_upstream", "--port", str(self.port)]

    def _is_ready(self) -> bool:
        return http_ok(f"{self.url}/health")


def main() -> None:
    """``python -m tests.support.crafted_upstream --port P``: serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(app(), host="127.0.0.1", port=args.port, print=None, shutdown_timeout=0.5)


if __name__ == "__main__":
    main()
