"""The server's memory budget for activation windows, and the machine memory it defaults from.

Each layer window preallocates ``--window`` frames of its units (float32) plus three per-frame
series, so what a client can make the server hold grows with every new layer it names. The
per-layer (``--max-units``) and count (``--max-layers``) caps alone allow 1,024 x 256 MiB; the
budget bounds the total: a layer whose window would not fit is refused when it is created,
and layers already held keep ingesting.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BUDGET_FRACTION = 0.25
"""Share of the machine's memory (or of the cgroup limit, when lower) that the windows of all
layers may take when ``--memory-budget`` is not given."""

_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
                  Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))  # cgroup v1
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a huge number


def window_bytes(capacity: int, units: int) -> int:
    """Bytes one layer window holds: ``capacity`` frames of float32 units, plus the float64
    timestamp, int64 step and float64 activity of each frame (see ``store.LayerWindow``)."""
    return capacity * (4 * units + 8 + 8 + 8)


def machine_memory_bytes() -> int:
    """Physical memory, or the process's cgroup memory limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < _UNLIMITED:
            total = min(total, int(text))
    return total


def default_memory_budget() -> int:
    """``DEFAULT_BUDGET_FRACTION`` of ``machine_memory_bytes()``."""
    return int(machine_memory_bytes() * DEFAULT_BUDGET_FRACTION)
