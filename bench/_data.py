"""Seeding and decoding helpers shared by the cases (HTTP binary frames, binary matrices)."""

from __future__ import annotations

import json
import math
from typing import Any

import aiohttp
import grpc
import numpy as np
from neural_heatmap_contract import routes
from neural_heatmap_contract.media import (
    FRAMES_MEDIA_TYPE,
    MATRIX_MEDIA_TYPE,
    decode_matrix,
    frame_record_dtype,
)

GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 512 * 1024 * 1024),
    ("grpc.max_send_message_length", 512 * 1024 * 1024),
]


def frames_body(values: np.ndarray, timestamps: np.ndarray | None = None,
                steps: np.ndarray | None = None) -> bytes:
    """Records for binary ingestion: float64 timestamp (NaN = arrival), int64 step, float32[U]."""
    n, units = values.shape
    rec = np.empty(n, dtype=frame_record_dtype(units))
    rec["timestamp"] = np.nan if timestamps is None else timestamps
    rec["step"] = -1 if steps is None else steps
    rec["values"] = values
    return rec.tobytes()


async def ingest_binary(session: aiohttp.ClientSession, base: str, model: str, layer: str,
                        values: np.ndarray, timestamps: np.ndarray | None = None,
                        steps: np.ndarray | None = None, body: bytes | None = None) -> int:
    """POST frames of one layer in the binary form; returns the accepted count."""
    if body is None:
        body = frames_body(values, timestamps, steps)
    units = values.shape[1]
    async with session.post(
        f"{base}{routes.http('IngestActivations').path}",
        params={"model_id": model, "layer_id": layer, "units": str(units)},
        data=body, headers={"Content-Type": FRAMES_MEDIA_TYPE},
    ) as r:
        text = await r.text()
        if r.status != 200:
            raise RuntimeError(f"binary ingest {model}/{layer} -> {r.status}: {text[:300]}")
        return int(json.loads(text).get("accepted", 0))


async def get_json(session: aiohttp.ClientSession, url: str, **params: Any) -> Any:
    async with session.get(url, params={k: str(v) for k, v in params.items()}) as r:
        text = await r.text()
        if r.status != 200:
            raise RuntimeError(f"GET {url} {params} -> {r.status}: {text[:300]}")
        return json.loads(text)


async def head_sequence(session: aiohttp.ClientSession, base: str) -> int:
    """The newest sequence in the server's anomaly log (0 when empty)."""
    data = await get_json(session, f"{base}{routes.http('GetAnomalies').path}", limit=1)
    seqs = [a["sequence"] for a in data.get("anomalies", [])]
    return int(data.get("last_sequence") or (max(seqs) if seqs else 0))


async def logged_sequences(session: aiohttp.ClientSession, base: str, model_id: str,
                           after: int, upto: int) -> list[int]:
    """Sequences of ``model_id``'s anomalies in (after, upto], read page by page from the log."""
    out: list[int] = []
    cursor = after
    url = base + routes.http("GetAnomalies").path
    while cursor < upto:
        data = await get_json(session, url, model_id=model_id,
                              after_sequence=cursor, limit=10000)
        page = [int(a["sequence"]) for a in data.get("anomalies", [])]
        if not page:
            break
        out.extend(s for s in page if s <= upto)
        cursor = page[-1]
    return out


def parse_matrix(body: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """Decode the binary matrix answer (header, float32 view without a copy)."""
    found = decode_matrix(body)
    return found.header, found.values()


async def unit_matrix(session: aiohttp.ClientSession, base: str, model: str,
                      layer: str) -> np.ndarray:
    """A layer's unit correlation matrix from the server's binary route (no JSON, no bridge)."""
    async with session.get(f"{base}{routes.http('GetCorrelationMatrix').path}", params={
            "model_id": model, "layer_id": layer, "granularity": "unit"},
            headers={"Accept": MATRIX_MEDIA_TYPE}) as r:
        if r.status != 200:
            raise RuntimeError(f"binary correlation -> {r.status}: {await r.text()}")
        body = await r.read()
    return parse_matrix(body)[1]


def tensor_to_numpy(t: Any) -> np.ndarray:
    """A ``neural_heatmap.v1.Tensor`` as a numpy array without copying its bytes."""
    dtype = "<f8" if t.dtype == 2 else "<f4"
    return np.frombuffer(t.data, dtype=dtype).reshape(tuple(t.shape))


def channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=GRPC_OPTIONS)


def nan_frames(n: int, units: int, rng: np.random.Generator) -> np.ndarray:
    """Healthy-looking positive activations with one NaN per frame (a non_finite anomaly each)."""
    v = rng.uniform(0.2, 1.0, size=(n, units)).astype(np.float32)
    v[np.arange(n), rng.integers(0, units, size=n)] = np.nan
    return v


def correlated_series(steps: int, series: int, rng: np.random.Generator) -> np.ndarray:
    """(steps, series) float32 activity with shared factors, so correlations are not all ~0."""
    k = 4
    factors = np.cumsum(rng.standard_normal((steps, k)), axis=0)
    loadings = rng.standard_normal((k, series))
    noise = rng.standard_normal((steps, series))
    return (factors @ loadings + 2.0 * noise).astype(np.float32)


def finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x
