"""Putting the frames of several layers on one time axis.

Rule (used by correlation and comparison alike):

1. The time range (if any) is applied to each layer first.
2. **By step** when every layer has training steps on all its frames and the
   steps they share number at least two: the samples are the common steps in
   increasing order (for a step logged twice, the later frame wins).
3. **By frame index** otherwise: the last ``n`` frames of every layer, ``n``
   being the shortest layer's length, matched oldest to newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np
import numpy.typing as npt

from .store import NO_STEP, FloatArray, IntArray

Index = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Alignment:
    """Which frame of each layer forms each sample.

    Attributes:
        indices: Per layer, positions into that layer's (time-filtered) frames.
        mode: ``"step"`` or ``"frame_index"``.
        steps: The common steps when ``mode == "step"``.
    """

    indices: list[Index]
    mode: str
    steps: IntArray | None

    @property
    def samples(self) -> int:
        """Number of aligned samples."""
        return int(self.indices[0].size) if self.indices else 0


def time_mask(timestamps: FloatArray, start: float | None, end: float | None) -> Index:
    """Positions of the frames with ``start <= t <= end`` (bounds optional)."""
    keep = np.ones(timestamps.shape, dtype=bool)
    if start is not None:
        keep &= timestamps >= start
    if end is not None:
        keep &= timestamps <= end
    return np.flatnonzero(keep)


def align(step_lists: list[IntArray]) -> Alignment:
    """Align layers given each one's steps (``NO_STEP`` where absent)."""
    if not step_lists:
        return Alignment([], "frame_index", None)
    if all(s.size and bool((s != NO_STEP).all()) for s in step_lists):
        common = reduce(np.intersect1d, step_lists)
        if common.size >= 2:
            indices = []
            for steps in step_lists:
                # Last occurrence of each step: search in the reversed array.
                rev = steps[::-1]
                order = np.argsort(rev, kind="stable")
                pos = np.searchsorted(rev, common, sorter=order)
                indices.append((steps.size - 1 - order[pos]).astype(np.intp))
            return Alignment(indices, "step", common)
    n = min(s.size for s in step_lists)
    return Alignment([np.arange(s.size - n, s.size, dtype=np.intp) for s in step_lists],
                     "frame_index", None)
