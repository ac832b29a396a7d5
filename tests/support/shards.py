"""The sharded shape as real processes: shard servers on one NATS (node or cluster).

``shard_args`` gives a server's flags; ``frames_for`` makes deterministic frames (explicit
timestamps and steps, a few incidents) so that a single server and the shards must
compute the same answers; ``per_model_answers`` is every per-model query a client asks.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from neural_heatmap_contract.routes import http

from tests.support.server_process import ServerProcess

LEASE_SECONDS = 2.0
STARTUP_SECONDS = 60  # a shard creates streams and buckets (3 replicas on a cluster) first


def shard_args(nats_url: str, name: str, shard_of: str | None, *extra: str) -> list[str]:
    """Flags of one shard server (``shard_of`` None: a standby)."""
    args = ["--shard-log", nats_url, "--shard-id", name, "--anomaly-cooldown", "0",
            "--shard-lease-seconds", str(LEASE_SECONDS), *extra]
    return args + (["--shard-of", shard_of] if shard_of else [])


def shard_server(nats_url: str, name: str, shard_of: str | None,
                 *extra: str) -> ServerProcess:
    """A shard server process (not started), with a start-up bound for a busy machine."""
    return ServerProcess(extra_args=shard_args(nats_url, name, shard_of, *extra),
                         startup_timeout=STARTUP_SECONDS)


def request(server: ServerProcess, method: str, path: str, body: Any = None,
            timeout: float = 30) -> tuple[int, Any]:
    """``(status, JSON answer)`` of one HTTP call."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{server.url}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def ingest(server: ServerProcess, frames: list[dict[str, Any]]) -> tuple[int, Any]:
    """``POST`` the frames as one call."""
    return request(server, "POST", http("IngestActivations").path, {"frames": frames})


def models_of(server: ServerProcess) -> dict[str, dict[str, Any]]:
    """``model id -> ListModels entry`` of what the server holds."""
    status, doc = request(server, "GET", http("ListModels").path)
    assert status == 200, doc
    return {m["model_id"]: m for m in doc["models"]}


def frames_for(models: list[str], steps: range, units: int = 16,
               seed: int = 7) -> list[dict[str, Any]]:
    """Frames of two layers per model for ``steps``, with incidents at fixed steps:
    NaN (step 50), an explosion (step 70), a spike of the whole layer (step 90)."""
    rng = np.random.default_rng(seed)
    frames = []
    for step in steps:
        for m, model in enumerate(models):
            for layer in ("enc", "dec"):
                values = rng.normal(0.0, 1.0, units) + 0.01 * step * (m + 1)
                if step == 50 and layer == "enc":
                    values[3] = float("nan")
                if step == 70 + m and layer == "dec":
                    values[5] = 500.0
                if step == 90:
                    values += 40.0
                frames.append({"model_id": model, "layer_id": layer, "step": step,
                               "timestamp": 1.7e9 + step * 0.25,
                               "values": [v if np.isfinite(v) else "NaN" for v in values]})
    return frames


def per_model_answers(server: ServerProcess, model: str) -> dict[str, Any]:
    """Every per-model query a client can ask, keyed by RPC."""
    answers: dict[str, Any] = {"ListModels": models_of(server)[model]}
    for rpc in ("GetCorrelationMatrix", "GetTemporalPatterns", "GetTemporalStatistics",
                "GetLayerHealth"):
        status, doc = request(server, "GET", f"{http(rpc).path}?model_id={model}")
        assert status == 200, (rpc, doc)
        if rpc == "GetCorrelationMatrix":
            del doc["timestamp"]  # when it was computed, not a property of the frames
        answers[rpc] = doc
    status, doc = request(server, "GET", f"{http('GetAnomalies').path}?model_id={model}"
                                         "&limit=10000")
    assert status == 200, doc
    answers["GetAnomalies"] = [{k: v for k, v in a.items() if k != "sequence"}
                               for a in doc["anomalies"]]
    return answers
