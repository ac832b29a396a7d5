"""Which units a temporal query analyses: the ``granularity`` and ``unit`` parameters.

``granularity=unit`` asks for one series per unit instead of the layer's mean
activity. ``unit`` chooses the units of every selected layer in the form of a
Linux CPU list (``taskset -c``, cgroup ``cpuset.cpus``): comma-separated indices
and inclusive ranges, ``unit=3``, ``unit=0-15,40,48-63``; without it every unit
of the selected layers is analysed. The parameter is given once (a comma list
already says "several"), and it means nothing at layer granularity, so a
request that gives it without ``granularity=unit`` is refused rather than
answered at layer level.

Bounds. The unit series one request analyses count as labels against
``--max-matrix-labels`` (the limit a unit-granularity correlation matrix
has); an index must exist in every selected layer. Both are checked on the
event loop, before any copy or worker is spent, from the ranges alone (a
range of a billion indices is never expanded).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from neural_heatmap_contract.enums import GRANULARITIES

from .errors import invalid
from .params import opt_choice
from .store import IntArray, LayerWindow

UNIT_PARAM = "unit"
_ITEM = "[0-9]+(?:-[0-9]+)?"  # ASCII digits, no blanks: what JSON Schema's pattern says
_LIST = f"{_ITEM}(?:,{_ITEM})*"
UNIT_LIST_PATTERN = f"^(?:{_LIST})?$"  # empty: absent, as for every list parameter
_ITEM_RE = re.compile("([0-9]+)(?:-([0-9]+))?")
# Characters of one ``unit`` value (dozens of ranges): the whole request line must stay
# under aiohttp's 8190 bytes even when a refused value is percent-encoded UTF-8.
MAX_UNIT_TEXT = 512


@dataclass(frozen=True)
class UnitSelection:
    """The units chosen in each selected layer.

    Attributes:
        spans: Sorted, disjoint inclusive ``(first, last)`` ranges; None: every unit.
    """

    spans: tuple[tuple[int, int], ...] | None

    def count(self, units: int) -> int:
        """How many units of a layer of ``units`` units this selects."""
        if self.spans is None:
            return units
        return sum(last - first + 1 for first, last in self.spans)

    def indices(self, units: int) -> IntArray:
        """The selected indices of a layer of ``units`` units, ascending."""
        if self.spans is None:
            return np.arange(units, dtype=np.int64)
        return np.concatenate([np.arange(a, b + 1, dtype=np.int64) for a, b in self.spans])


def parse_unit_list(text: str) -> tuple[tuple[int, int], ...]:
    """Parse a CPU-list style ``unit`` value into sorted, merged inclusive ranges.

    Raises:
        ApiError: 400 naming ``unit`` for bad syntax, an empty value or a range whose
            first index is larger than its last.
    """
    if len(text) > MAX_UNIT_TEXT:
        raise invalid(f"unit is {len(text)} characters long, more than {MAX_UNIT_TEXT}; "
                      "select consecutive units with ranges (0-99)",
                      field=UNIT_PARAM, limit=MAX_UNIT_TEXT)
    if not re.fullmatch(_LIST, text):
        raise invalid("unit must be unit indices and inclusive ranges separated by commas, "
                      "e.g. unit=3 or unit=0-15,40", field=UNIT_PARAM, value=text[:100])
    spans = []
    for item in text.split(","):
        match = _ITEM_RE.fullmatch(item)
        assert match is not None  # the whole value matched the pattern above
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if first > last:
            raise invalid(f"unit range {first}-{last} runs backwards; write {last}-{first}",
                          field=UNIT_PARAM, value=item, constraint="first <= last")
        spans.append((first, last))
    spans.sort()
    merged = [spans[0]]
    for first, last in spans[1:]:
        if first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def unit_selection(params: Mapping[str, Any]) -> UnitSelection | None:
    """The request's unit selection, or None for layer granularity.

    Raises:
        ApiError: 400 for an unknown granularity, a bad ``unit`` value, or ``unit``
            without ``granularity=unit``.
    """
    granularity = opt_choice(params, "granularity", GRANULARITIES) or "layer"
    raw = params.get(UNIT_PARAM)
    if raw is not None and not isinstance(raw, str):
        raise invalid("unit must be a string such as 0-15,40", field=UNIT_PARAM)
    if granularity != "unit":
        if raw:
            raise invalid("unit selects units of granularity=unit; add granularity=unit",
                          field=UNIT_PARAM, constraint="unit requires granularity=unit")
        return None
    return UnitSelection(parse_unit_list(raw) if raw else None)


def check_selection(windows: list[LayerWindow], selection: UnitSelection,
                    max_labels: int) -> None:
    """Refuse a selection that names a unit a layer lacks or analyses too many series.

    Raises:
        ApiError: 400 naming the layer and its unit count, or ``--max-matrix-labels``.
    """
    total = 0
    for w in windows:
        if selection.spans is not None and selection.spans[-1][1] >= w.units:
            raise invalid(
                f"unit {selection.spans[-1][1]} is out of range: layer "
                f"{w.model_id}/{w.layer_id} has {w.units} units (0-{w.units - 1})",
                field=UNIT_PARAM, model_id=w.model_id, layer_id=w.layer_id, units=w.units,
                constraint=f"unit < {w.units}")
        total += selection.count(w.units)
    if total > max_labels:
        raise invalid(
            f"the request selects {total} unit series, more than the limit of {max_labels} "
            "labels (--max-matrix-labels); choose a layer_id or fewer units with unit=",
            field=UNIT_PARAM, units=total, limit=max_labels,
            constraint=f"unit series <= {max_labels}")
