"""Validation of the view state documents (filter, theme, layout) and the filter's mask.

Each ``validate_*`` returns a normalised copy or raises a 400, so an invalid
request never reaches the store. ``visible_units`` is the one place that
decides which units of a frame the filter hides from a heatmap.
Absent/``null`` fields and empty lists mean "no restriction" and are dropped;
unknown fields are rejected so typos show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from neural_heatmap_contract.enums import THEMES
from neural_heatmap_contract.limits import MIN_CUSTOM_COLORS
from neural_heatmap_contract.routes import http

from .errors import invalid
from .layout_canvas import canvas_shape

DEFAULT_THEME: dict[str, Any] = {"theme": "thermal", "custom_colors": []}
COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
CUSTOM_COLORS_RULE = f"len(custom_colors) >= {MIN_CUSTOM_COLORS} when theme is custom"
_COLOR = re.compile(COLOR_PATTERN)
_FILTER_KEYS = ("model_ids", "layer_ids", "intensity_range", "spatial_bounds", "time_range")
_LAYOUT_KEYS = ("panel_positions", "panel_sizes", "visibility", "z_order")
# time_range must fit a protobuf Timestamp (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z),
# or the bridge could store a filter that it can never read back.
MIN_TIME_MS = -62_135_596_800_000
MAX_TIME_MS = 253_402_300_799_999


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"{field} must be a finite number", field=field)
    return float(value)


def _str_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid(f"{field} must be a list of non-empty strings", field=field)
    return list(value)


def _range(value: Any, field: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise invalid(f"{field} must be [min, max]", field=field)
    low, high = _number(value[0], field), _number(value[1], field)
    if low > high:
        raise invalid(f"{field}: min {low} is greater than max {high}", field=field,
                      min=low, max=high, constraint="min <= max")
    return [low, high]


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{field} must be a JSON object", field=field)
    return value


def _reject_unknown(doc: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise invalid(f"unknown {what} field {unknown[0]!r}", field=unknown[0],
                      allowed=list(allowed))


def validate_filter(doc: Any) -> dict[str, Any]:
    """Validate the seed's filter; ``{}`` means no filter."""
    doc = _object(doc, "filter")
    _reject_unknown(doc, _FILTER_KEYS, "filter")
    out: dict[str, Any] = {}
    for key in ("model_ids", "layer_ids"):
        if doc.get(key) is not None and _str_list(doc[key], key):
            out[key] = list(doc[key])
    for key in ("intensity_range", "time_range"):
        if doc.get(key) is not None:
            out[key] = _range(doc[key], key)
    if "time_range" in out and not (out["time_range"][0] >= MIN_TIME_MS
                                    and out["time_range"][1] <= MAX_TIME_MS):
        raise invalid(f"time_range must lie within [{MIN_TIME_MS}, {MAX_TIME_MS}] milliseconds "
                      "(years 0001 to 9999)", field="time_range",
                      min=MIN_TIME_MS, max=MAX_TIME_MS)
    if doc.get("spatial_bounds") is not None:
        bounds = _object(doc["spatial_bounds"], "spatial_bounds")
        _reject_unknown(bounds, ("min_x", "min_y", "max_x", "max_y"), "spatial_bounds")
        missing = [k for k in ("min_x", "min_y", "max_x", "max_y") if k not in bounds]
        if missing:
            raise invalid(f"spatial_bounds lacks {missing[0]}", field=missing[0])
        nums = {k: _number(v, f"spatial_bounds.{k}") for k, v in bounds.items()}
        for axis in ("x", "y"):
            _range([nums[f"min_{axis}"], nums[f"max_{axis}"]], f"spatial_bounds.{axis}")
        out["spatial_bounds"] = nums
    return out


def validate_theme(doc: Any) -> dict[str, Any]:
    """Validate ``{"theme", "custom_colors"?}`` (theme names are case-insensitive).

    ``custom`` draws a colour map through its ``custom_colors``, which takes at least
    two colours: checked here, where a theme is stored (``POST /api/theme``,
    ``SetTheme``) and where a render asks for one, so a stored theme always draws.

    Raises:
        ApiError: 400 naming ``theme`` or ``custom_colors`` and the rule broken.
    """
    doc = _object(doc, "theme")
    _reject_unknown(doc, ("theme", "custom_colors"), "theme")
    theme = doc.get("theme")
    if not isinstance(theme, str) or theme.lower() not in THEMES:
        raise invalid(f"unknown theme {theme!r}; use one of {list(THEMES)}",
                      field="theme", theme=theme, allowed=list(THEMES))
    colors = doc.get("custom_colors")
    colors = [] if colors is None else colors
    if not isinstance(colors, list) or not all(isinstance(c, str) and _COLOR.match(c)
                                               for c in colors):
        raise invalid("custom_colors must be a list of '#rrggbb' strings", field="custom_colors",
                      pattern=COLOR_PATTERN)
    if theme.lower() == "custom" and len(colors) < MIN_CUSTOM_COLORS:
        raise invalid(f"the custom theme needs at least {MIN_CUSTOM_COLORS} custom_colors "
                      f"('#rrggbb'), got {len(colors)}", field="custom_colors",
                      count=len(colors), constraint=CUSTOM_COLORS_RULE)
    return {"theme": theme.lower(), "custom_colors": [c.lower() for c in colors]}


def _named_objects(value: Any, field: str, keys: tuple[str, str],
                   non_negative: bool) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, item in _object(value, field).items():
        item = _object(item, f"{field}.{name}")
        _reject_unknown(item, keys, f"{field}.{name}")
        nums = {k: _number(item.get(k), f"{field}.{name}.{k}") for k in keys}
        if non_negative and min(nums.values()) < 0:
            raise invalid(f"{field}.{name} must not be negative", field=f"{field}.{name}")
        out[name] = nums
    return out


def validate_layout(doc: Any) -> dict[str, Any]:
    """Validate the seed's layout document."""
    doc = _object(doc, "layout")
    _reject_unknown(doc, _LAYOUT_KEYS, "layout")
    out: dict[str, Any] = {}
    if doc.get("panel_positions") is not None:
        out["panel_positions"] = _named_objects(doc["panel_positions"], "panel_positions",
                                                ("x", "y"), non_negative=False)
    if doc.get("panel_sizes") is not None:
        out["panel_sizes"] = _named_objects(doc["panel_sizes"], "panel_sizes",
                                            ("width", "height"), non_negative=True)
    if doc.get("visibility") is not None:
        vis = _object(doc["visibility"], "visibility")
        if not all(isinstance(v, bool) for v in vis.values()):
            raise invalid("visibility values must be booleans", field="visibility")
        out["visibility"] = dict(vis)
    if doc.get("z_order") is not None:
        out["z_order"] = _str_list(doc["z_order"], "z_order")
    return out


def visible_units(values: npt.NDArray[np.float32],
                  filt: dict[str, Any]) -> npt.NDArray[np.bool_] | None:
    """Which units of one frame the filter lets a view show (None: all of them).

    A unit is shown when its canvas location lies inside ``spatial_bounds``
    (inclusive, in canvas cells) and its value inside ``intensity_range``
    (inclusive; a NaN/Inf value is outside any range, the range being finite).
    """
    bounds, intensity = filt.get("spatial_bounds"), filt.get("intensity_range")
    if bounds is None and intensity is None:
        return None
    shown = np.ones(values.shape, dtype=bool)
    if bounds is not None:
        width, _ = canvas_shape(values.size)
        index = np.arange(values.size)
        x, y = index % width, index // width
        shown &= ((x >= bounds["min_x"]) & (x <= bounds["max_x"])
                  & (y >= bounds["min_y"]) & (y <= bounds["max_y"]))
    if intensity is not None:
        with np.errstate(invalid="ignore"):
            shown &= (values >= intensity[0]) & (values <= intensity[1])
    return shown


# ---- what the filter hides: said in answers, so an empty view is never a mystery ---------

CLEAR_HINT = ("clear it with `neural-heatmap filter --clear` "
              f"(HTTP: {http('SetFilter').operation} {{}})")
"""How to remove the filter, named wherever the filter is why an answer is empty."""
MAX_NAMES_LISTED = 5
"""Known ids a warning lists before it counts the rest (a warning stays one line)."""

Known = Mapping[str, Iterable[str]]
"""The store's models, each with its layer ids."""


def _listed(names: Iterable[str]) -> str:
    items = sorted(names)
    shown = ", ".join(items[:MAX_NAMES_LISTED])
    more = len(items) - MAX_NAMES_LISTED
    return f"{shown}, +{more} more" if more > 0 else shown or "none yet"


def _selects(filt: Mapping[str, Any], model_id: str, layer_id: str) -> bool:
    """Whether ``filt``'s ids keep this layer (the rule of ``ActivationStore.select``)."""
    models, layers = filt.get("model_ids"), filt.get("layer_ids")
    if models and model_id not in models:
        return False
    return not layers or layer_id in layers or f"{model_id}/{layer_id}" in layers


def _described(filt: Mapping[str, Any]) -> str:
    parts = [f"{key} {', '.join(filt[key])}" for key in ("model_ids", "layer_ids")
             if filt.get(key)]
    return f"the view filter ({'; '.join(parts)})" if parts else "the view filter"


def hidden_notice(filt: Mapping[str, Any], known: Known) -> str | None:
    """One sentence when the filter's ids hide every known layer, else None.

    Nothing is said while the store is empty: then no layer exists to hide.
    """
    layers = [(m, layer) for m, names in known.items() for layer in names]
    if not layers or any(_selects(filt, m, layer) for m, layer in layers):
        return None
    return f"{_described(filt)} hides all {len(layers)} layers; {CLEAR_HINT}"


def filter_warnings(filt: Mapping[str, Any], known: Known) -> list[str]:
    """What ``POST /api/filter`` answers beside the stored filter (``warnings``).

    Ids that match no known model or layer are stored all the same (configuring the
    view before a model sends its first frame is legitimate) but each kind is
    named once; and when the filter hides every layer, :func:`hidden_notice` says so.
    """
    warnings = []
    models = {m: list(layers) for m, layers in known.items()}
    unknown_models = [m for m in filt.get("model_ids", []) if m not in models]
    if unknown_models:
        warnings.append(f"model_ids {', '.join(map(repr, unknown_models))} match no known "
                        f"model (known: {_listed(models)}); stored, it applies once they "
                        "send frames")
    names = {layer for layers in models.values() for layer in layers}
    names |= {f"{m}/{layer}" for m, layers in models.items() for layer in layers}
    unknown_layers = [name for name in filt.get("layer_ids", []) if name not in names]
    if unknown_layers:
        known_layers = {layer for layers in models.values() for layer in layers}
        warnings.append(f"layer_ids {', '.join(map(repr, unknown_layers))} match no known "
                        f"layer (known: {_listed(known_layers)}); stored, it applies once "
                        "they send frames")
    notice = hidden_notice(filt, models)
    if notice:
        warnings.append(notice)
    return warnings
