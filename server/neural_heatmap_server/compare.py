"""Model comparison: linear CKA between layers, mean activation and sparsity.

Linear CKA (Kornblith et al., 2019) between activations ``X (n x p)`` and
``Y (n x q)`` over the same ``n`` samples, both column-centred, is
``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``; it is invariant to orthogonal
transforms and isotropic scaling, so a rotated copy of a layer scores 1. The
samples are the layers' frames aligned as in ``alignment`` (common steps).
For two models, ``similarity_matrix[i][j]`` is the mean over both models'
layers of each layer's best CKA against the other model's layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .alignment import align
from .errors import invalid
from .store import ActivationStore, Float32Array, FloatArray, LayerWindow
from .workers import check_deadline

METRICS = ("cka", "mean_activation", "sparsity")
SPARSITY_EPSILON = 1e-6  # |activation| at or below this counts as zero
MAX_LAYER_PAIRS = 65536  # CKA computations (layer pairs over all model pairs) per request


def linear_cka(x: FloatArray, y: FloatArray) -> float:
    """Linear CKA of two sample-aligned activation matrices (rows are samples)."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    if x.shape[0] < min(x.shape[1], y.shape[1]):
        kx, ky = x @ x.T, y @ y.T  # n x n Gram matrices: cheaper when n is small
        hsic, nx, ny = float((kx * ky).sum()), float(np.linalg.norm(kx)), float(np.linalg.norm(ky))
    else:
        hsic = float(np.linalg.norm(y.T @ x) ** 2)
        nx, ny = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    if nx <= 0 or ny <= 0:
        return 0.0
    return hsic / (nx * ny)


def _aligned_pair(a: LayerWindow, b: LayerWindow) -> tuple[FloatArray, FloatArray]:
    _, sa, va = a.frames()
    _, sb, vb = b.frames()
    alignment = align([sa, sb])
    xa = va[alignment.indices[0]].astype(np.float64)
    xb = vb[alignment.indices[1]].astype(np.float64)
    finite = np.isfinite(xa).all(axis=1) & np.isfinite(xb).all(axis=1)
    return xa[finite], xb[finite]


def _model_values(layers: dict[str, LayerWindow]) -> Float32Array:
    parts = [w.frames()[2].ravel() for w in layers.values()]
    values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return values[np.isfinite(values)]


def check_compare(store: ActivationStore, model_ids: list[str], metrics: list[str] | None,
                  max_models: int) -> tuple[list[str], list[str]]:
    """Validate a compare request before any work is done (cheap: no data is read).

    Duplicate ids are merged (first occurrence kept): comparing a model with
    itself again adds nothing but work, which is quadratic in the ids.

    Returns:
        The distinct model ids and the chosen metrics.

    Raises:
        ApiError: 400 for fewer than two distinct models, more than
            ``max_models``, an unknown metric or more than ``MAX_LAYER_PAIRS``
            layer pairs; 404 for an unknown model.
    """
    distinct = list(dict.fromkeys(model_ids))
    if len(distinct) > max_models:
        raise invalid(f"compare accepts at most {max_models} distinct model_ids "
                      f"(--max-compare-models), got {len(distinct)}", field="model_ids",
                      models=len(distinct), limit=max_models,
                      constraint=f"distinct <= {max_models}")
    layers = [len(store.require_model(m)) for m in distinct]
    if len(distinct) < 2:
        raise invalid("compare needs at least two distinct model_ids",
                      field="model_ids", models=len(distinct), constraint="distinct >= 2")
    chosen = list(dict.fromkeys(metrics)) if metrics else list(METRICS)
    bad = [m for m in chosen if m not in METRICS]
    if bad:
        raise invalid(f"unknown metric {bad[0]!r}; use {list(METRICS)}", field="metrics",
                      metric=bad[0], allowed=list(METRICS))
    pairs = (sum(layers) ** 2 - sum(n * n for n in layers)) // 2
    if pairs > MAX_LAYER_PAIRS:
        raise invalid(f"cka over these models needs {pairs} layer comparisons, more than the "
                      f"limit of {MAX_LAYER_PAIRS}; compare fewer models",
                      layer_pairs=pairs, limit=MAX_LAYER_PAIRS,
                      constraint=f"layer pairs <= {MAX_LAYER_PAIRS}")
    return distinct, chosen


def compare_models(store: ActivationStore, model_ids: list[str],
                   metrics: list[str]) -> dict[str, Any]:
    """Compare two or more distinct models (see module docstring).

    Args:
        store: The store, or a snapshot of the models' layers.
        model_ids: Distinct ids, checked by ``check_compare``.
        metrics: Chosen metrics, checked by ``check_compare``.
    """
    chosen = metrics
    models = {m: store.require_model(m) for m in model_ids}
    k = len(model_ids)
    similarity = np.eye(k)
    layer_similarity: list[dict[str, Any]] = []
    steps_used = 0
    for i in range(k):
        for j in range(i + 1, k):
            la, lb = models[model_ids[i]], models[model_ids[j]]
            table = np.zeros((len(la), len(lb)))
            for ai, wa in enumerate(la.values()):
                for bi, wb in enumerate(lb.values()):
                    check_deadline()
                    xa, xb = _aligned_pair(wa, wb)
                    steps_used = max(steps_used, int(xa.shape[0]))
                    table[ai, bi] = linear_cka(xa, xb) if xa.shape[0] >= 2 else 0.0
                    layer_similarity.append({
                        "model_a": model_ids[i], "model_b": model_ids[j],
                        "layer_a": wa.layer_id, "layer_b": wb.layer_id,
                        "cka": float(table[ai, bi]), "samples": int(xa.shape[0])})
            if table.size:
                best = np.concatenate([table.max(axis=1), table.max(axis=0)])
                similarity[i, j] = similarity[j, i] = float(best.mean())
    per_metric: dict[str, dict[str, float | None]] = {}
    if "mean_activation" in chosen or "sparsity" in chosen:
        values = {m: _model_values(models[m]) for m in model_ids}
        if "mean_activation" in chosen:
            per_metric["mean_activation"] = {
                m: float(v.mean()) if v.size else None for m, v in values.items()}
        if "sparsity" in chosen:
            per_metric["sparsity"] = {
                m: float((np.abs(v) <= SPARSITY_EPSILON).mean()) if v.size else None
                for m, v in values.items()}
    return {"model_ids": model_ids, "similarity_matrix": similarity.tolist(), "metrics": chosen,
            "per_metric": per_metric, "layer_similarity": layer_similarity,
            "steps": steps_used}
