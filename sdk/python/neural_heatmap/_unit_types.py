"""Per-unit answers: unit statistics, oscillating units, and layer health.

Plain dataclasses built from the generated messages by ``from_proto``;
``location`` is the unit's canvas cell as the seed's ``{"x": .., "y": ..}``,
times are seconds since the epoch, and a step is ``None`` when the frames
carried none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from neural_heatmap_contract.v1 import analytics_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._convert import location_to_dict, metadata_dict, ts_to_float

__all__ = [
    "LayerHealth",
    "OscillatingUnit",
    "StuckUnit",
    "UnitSpike",
    "UnitStatistics",
    "unit_selector",
]


def unit_selector(unit: int | Iterable[int] | None) -> dict[str, Any]:
    """``unit=`` of the temporal calls as request fields: an index, a ``range`` (step 1,
    sent as one inclusive range however long) or any iterable of indices.

    Raises:
        ValueError: For a negative index or a range with a step other than 1.
    """
    if unit is None:
        return {}
    if isinstance(unit, range):
        if unit.step != 1:
            raise ValueError(f"unit={unit!r}: a range of units must have step 1")
        if not unit:
            raise ValueError(f"unit={unit!r} selects no unit")
        if unit.start < 0:
            raise ValueError(f"unit={unit!r}: unit indices are never negative")
        return {"unit_ranges": [pb.UnitRange(first=unit.start, last=unit.stop - 1)]}
    indices = [unit] if isinstance(unit, int) else [int(u) for u in unit]
    if any(u < 0 for u in indices):
        raise ValueError(f"unit={unit!r}: unit indices are never negative")
    if not indices:
        raise ValueError("unit=[] selects no unit; pass None for every unit")
    return {"units": indices}


@dataclass
class UnitStatistics:
    """Summary statistics of one unit's activation series (``granularity="unit"``)."""

    model_id: str
    layer_id: str
    unit: int
    location: dict[str, float]
    samples: int
    mean: float
    std: float
    min: float
    max: float
    trend_slope: float
    trend_r_squared: float
    dominant_frequency: float
    periodicity_strength: float
    periodic: bool
    state_changes: int

    @classmethod
    def from_proto(cls, msg: analytics_pb2.UnitStatistics) -> UnitStatistics:
        """Build from the generated message."""
        return cls(
            model_id=msg.model_id, layer_id=msg.layer_id, unit=msg.unit,
            location=location_to_dict(msg.location), samples=msg.samples, mean=msg.mean,
            std=msg.std, min=msg.min, max=msg.max, trend_slope=msg.trend_slope,
            trend_r_squared=msg.trend_r_squared, dominant_frequency=msg.dominant_frequency,
            periodicity_strength=msg.periodicity_strength, periodic=msg.periodic,
            state_changes=msg.state_changes,
        )


@dataclass
class OscillatingUnit:
    """A unit whose periodicity passes the server's periodic threshold."""

    model_id: str
    layer_id: str
    unit: int
    location: dict[str, float]
    frequency: float
    periodicity_strength: float
    amplitude: float

    @classmethod
    def from_proto(cls, msg: analytics_pb2.OscillatingUnit) -> OscillatingUnit:
        """Build from the generated message."""
        return cls(
            model_id=msg.model_id, layer_id=msg.layer_id, unit=msg.unit,
            location=location_to_dict(msg.location), frequency=msg.frequency,
            periodicity_strength=msg.periodicity_strength, amplitude=msg.amplitude,
        )


@dataclass
class StuckUnit:
    """A dead (always 0) or saturated unit over the recent frames, and since when."""

    unit: int
    location: dict[str, float]
    since_step: int | None
    since: float
    frames: int
    since_window_start: bool
    value: float

    @classmethod
    def from_proto(cls, msg: analytics_pb2.StuckUnit) -> StuckUnit:
        """Build from the generated message."""
        return cls(
            unit=msg.unit, location=location_to_dict(msg.location),
            since_step=msg.since_step if msg.HasField("since_step") else None,
            since=ts_to_float(msg.since), frames=msg.frames,
            since_window_start=msg.since_window_start, value=msg.value,
        )


@dataclass
class UnitSpike:
    """A unit's largest recent robust z-score against its own earlier frames."""

    unit: int
    location: dict[str, float]
    score: float
    value: float
    median: float
    step: int | None
    timestamp: float

    @classmethod
    def from_proto(cls, msg: analytics_pb2.UnitSpike) -> UnitSpike:
        """Build from the generated message."""
        return cls(
            unit=msg.unit, location=location_to_dict(msg.location), score=msg.score,
            value=msg.value, median=msg.median,
            step=msg.step if msg.HasField("step") else None,
            timestamp=ts_to_float(msg.timestamp),
        )


@dataclass
class LayerHealth:
    """Per-unit health of one layer: dead, saturated and most spiking units."""

    model_id: str
    layer_id: str
    units: int
    frames: int
    dead_units: list[StuckUnit] = field(default_factory=list)
    saturated_units: list[StuckUnit] = field(default_factory=list)
    top_spikes: list[UnitSpike] = field(default_factory=list)
    criteria: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, msg: analytics_pb2.LayerHealth) -> LayerHealth:
        """Build from the generated message."""
        return cls(
            model_id=msg.model_id, layer_id=msg.layer_id, units=msg.units, frames=msg.frames,
            dead_units=[StuckUnit.from_proto(u) for u in msg.dead_units],
            saturated_units=[StuckUnit.from_proto(u) for u in msg.saturated_units],
            top_spikes=[UnitSpike.from_proto(u) for u in msg.top_spikes],
            criteria=metadata_dict(msg.criteria),
        )
