"""Turning request parameters into queries: ids, the view-filter rule, time ranges.

One place decides what a request selects, for the HTTP routes and the
WebSocket alike (``params`` reads the individual values).

Ids. The seed's form is one comma list (``model_ids=a,b``); each of
``model_id``/``layer_id`` is also accepted repeatedly (``model_id=a&model_id=b``)
on ``/api/correlation``, ``/api/render`` and ``/api/anomalies``, one id per
occurrence, which is the form the bridge uses. A request giving both forms is
refused. JSON lists (WebSocket ``data``, export bodies) are lists already. The
contract's id rule (``neural_heatmap_contract.ids``: no ',', no '/', no blank at
either end) is enforced at ingest, so every form names every existing id exactly.

The view filter. The stored (UI) filter fills what a query leaves unset only
when the query asks with ``use_view_filter=true``; ``false`` ignores it. A
request without the parameter is a seed client's and keeps the seed's
behaviour (the filter applies), which is why the bridge always sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping
from neural_heatmap_contract.enums import GRANULARITIES, SEVERITIES

from .correlation import CorrelationQuery
from .errors import invalid
from .params import opt_bool, opt_choice, opt_float, opt_int, opt_list, opt_str
from .persistence import AnomalyQuery

MAX_SEQUENCE = 2**63 - 1  # SQLite integers are int64
USE_VIEW_FILTER = "use_view_filter"
# (seed comma list, exact repeatable parameter) for each kind of id.
MODEL_IDS, LAYER_IDS = ("model_ids", "model_id"), ("layer_ids", "layer_id")


def exact_ids(params: Mapping[str, Any], key: str) -> list[str] | None:
    """Every value of a repeatable id parameter, each taken literally (empty ones skipped)."""
    if isinstance(params, MultiMapping):
        values: list[Any] = params.getall(key, [])
    else:
        raw = params.get(key)
        values = [] if raw is None else raw if isinstance(raw, list) else [raw]
    if not all(isinstance(v, str) for v in values):
        raise invalid(f"{key} must be a name or a list of names", field=key)
    return [v for v in values if v] or None


def ids(params: Mapping[str, Any], names: tuple[str, str]) -> list[str] | None:
    """Ids from the seed's comma list or the exact repeatable form (see the module docstring).

    Raises:
        ApiError: 400 (``details.constraint``) when a request uses both forms.
    """
    seed_key, exact_key = names
    seed, exact = opt_list(params, seed_key), exact_ids(params, exact_key)
    if seed is not None and exact is not None:
        raise invalid(f"give {seed_key} (a comma list) or {exact_key} (repeated), not both",
                      field=exact_key, constraint=f"{seed_key} xor {exact_key}")
    return exact if exact is not None else seed


def view_filter(params: Mapping[str, Any], stored: Mapping[str, Any]) -> Mapping[str, Any]:
    """The stored filter when the request asks for it (or is a seed client's), else ``{}``."""
    use = opt_bool(params, USE_VIEW_FILTER)
    return stored if use is None or use else {}


def filter_time_range(filt: Mapping[str, Any]) -> tuple[float, float] | None:
    """A filter's ``time_range`` in seconds (it is stored in milliseconds)."""
    time_range = filt.get("time_range")
    return (time_range[0] / 1000.0, time_range[1] / 1000.0) if time_range else None


def correlation_query(params: Mapping[str, Any], filt: Mapping[str, Any],
                      max_labels: int) -> CorrelationQuery:
    """A correlation request; what it leaves unset comes from ``filt`` (see ``view_filter``)."""
    model_ids, layer_ids = ids(params, MODEL_IDS), ids(params, LAYER_IDS)
    start, end = opt_float(params, "start_time"), opt_float(params, "end_time")
    time_range = filter_time_range(filt)
    if start is None and end is None and time_range:
        start, end = time_range
    return CorrelationQuery(
        model_ids=model_ids or filt.get("model_ids"),
        layer_ids=layer_ids or filt.get("layer_ids"),
        granularity=opt_choice(params, "granularity", GRANULARITIES) or "layer",
        start_time=start, end_time=end,
        strict_models=model_ids is not None, strict_layers=layer_ids is not None,
        max_labels=max_labels)


def time_window(params: Mapping[str, Any]) -> float | None:
    """``time_window`` in milliseconds: positive, or None for the whole window."""
    value = opt_float(params, "time_window")
    if value is not None and not value > 0:
        raise invalid("time_window must be a positive number of milliseconds",
                      field="time_window", time_window=value)
    return value


def one_model_and_layer(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The temporal routes' single ``model_id`` and ``layer_id`` (None: every one)."""
    return opt_str(params, "model_id"), opt_str(params, "layer_id")


def anomaly_query(params: Mapping[str, Any], max_limit: int) -> AnomalyQuery:
    """Anomaly filters shared by the route, ``get_anomalies`` and replay.

    Args:
        params: Query values or WebSocket ``data``.
        max_limit: The largest page a caller may ask for (``--max-anomaly-limit``).
    """
    model_ids = ids(params, MODEL_IDS)
    return AnomalyQuery(
        severity=opt_choice(params, "severity", SEVERITIES),
        min_severity=opt_choice(params, "min_severity", SEVERITIES),
        model_ids=tuple(model_ids) if model_ids else None,
        after_sequence=opt_int(params, "after_sequence", low=0, high=MAX_SEQUENCE),
        limit=opt_int(params, "limit", low=1, high=max_limit) or 100)
