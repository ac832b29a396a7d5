"""Analytics results: correlation matrices, temporal patterns, anomalies, comparisons.

Every type is a plain dataclass with the seed's name and field names, built
from the generated message by a ``from_proto`` class method. Large arrays are
never copied element by element: a correlation matrix and a model similarity
matrix are numpy views over the bytes the message carries (read-only; call
``.copy()`` for a writable array).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from neural_heatmap_contract.v1 import analytics_pb2

from neural_heatmap._convert import (
    location_to_dict,
    metadata_dict,
    opt_float,
    opt_ts,
    tensor_to_numpy,
    ts_to_float,
)
from neural_heatmap._enums import AnomalyType, PatternType, Severity
from neural_heatmap._unit_types import OscillatingUnit, UnitStatistics

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Anomaly",
    "AnomalyPage",
    "CorrelationMatrix",
    "LayerSimilarity",
    "LayerStatistics",
    "ModelComparison",
    "TemporalPattern",
    "TemporalStatistics",
]


@dataclass(eq=False)
class CorrelationMatrix:
    """Pearson correlations between activity series (the seed's type).

    Attributes:
        matrix: ``n x n`` float32 numpy array, a read-only view over the wire
            bytes (no copy). It behaves like the seed's ``List[List[float]]``
            for reading: ``len(m.matrix)``, ``m.matrix[i][j]``, iteration.
            Use :meth:`tolist` for real lists, ``.copy()`` to write.
        labels: Row/column labels, ``"model/layer"`` (or
            ``"model/layer/index"`` at unit granularity).
        timestamp: When the server computed it, seconds since the epoch.
        metadata: The server's notes (granularity, samples, models, layers...).
    """

    matrix: npt.NDArray[np.float32]
    labels: list[str]
    timestamp: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, msg: analytics_pb2.CorrelationMatrix) -> CorrelationMatrix:
        """Build from the generated message, viewing the matrix bytes in place."""
        arr = tensor_to_numpy(msg.matrix)
        n = len(msg.labels)
        if arr.ndim != 2:
            arr = arr.reshape((n, n))
        return cls(
            matrix=arr,
            labels=list(msg.labels),
            timestamp=ts_to_float(msg.timestamp),
            metadata=metadata_dict(msg.metadata),
        )

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``."""
        rows, cols = self.matrix.shape
        return int(rows), int(cols)

    def to_numpy(self) -> npt.NDArray[np.float32]:
        """The matrix as a numpy array: zero-copy and read-only."""
        return self.matrix

    def tolist(self) -> list[list[float]]:
        """The matrix as nested Python lists (copies; for JSON and the like)."""
        rows: list[list[float]] = self.matrix.astype(np.float64).tolist()
        return rows

    def to_dataframe(self) -> pd.DataFrame:
        """A pandas DataFrame with the labels as both index and columns."""
        import pandas as pd

        return pd.DataFrame(self.matrix, index=list(self.labels), columns=list(self.labels))

    def to_dict(self) -> dict[str, Any]:
        """The seed's JSON shape: ``{matrix, labels, timestamp, metadata}``."""
        return {
            "matrix": self.tolist(),
            "labels": list(self.labels),
            "timestamp": self.timestamp,
            "metadata": dict(self.metadata),
        }


@dataclass
class TemporalPattern:
    """A pattern found in one layer's activity series (the seed's type).

    ``start_time``/``end_time`` are seconds since the epoch; ``model_id`` and
    ``layer_id`` (also in ``metadata``) say where it was found, and for a unit's own
    series (``granularity="unit"``) ``unit`` and its canvas ``location`` which unit.
    ``pattern_type`` is a :class:`PatternType` member for a known kind and the server's
    plain string for a kind this SDK does not know yet (both compare equal to the seed's
    string).
    """

    pattern_type: PatternType | str
    frequency: float | None
    amplitude: float | None
    phase: float | None
    confidence: float
    start_time: float | None
    end_time: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    model_id: str = ""
    layer_id: str = ""
    unit: int | None = None
    location: dict[str, float] | None = None

    @classmethod
    def from_proto(cls, msg: analytics_pb2.TemporalPattern) -> TemporalPattern:
        """Build from the generated message."""
        return cls(
            pattern_type=PatternType.named(msg.pattern_type_name, msg.pattern_type),
            frequency=opt_float(msg, "frequency"),
            amplitude=opt_float(msg, "amplitude"),
            phase=opt_float(msg, "phase"),
            confidence=msg.confidence,
            start_time=opt_ts(msg, "start_time"),
            end_time=opt_ts(msg, "end_time"),
            metadata=metadata_dict(msg.metadata),
            model_id=msg.model_id,
            layer_id=msg.layer_id,
            unit=msg.unit if msg.HasField("unit") else None,
            location=location_to_dict(msg.location) if msg.HasField("location") else None,
        )


@dataclass
class Anomaly:
    """One detected anomaly (the seed's type plus its durable ``sequence``).

    ``location`` is ``{"x": .., "y": ..}`` on the heatmap canvas or ``None``.
    ``anomaly_type`` is an :class:`AnomalyType` member for a known kind and the server's
    plain string for a kind this SDK does not know yet (both compare equal to the seed's
    string), so a new detector's name reaches your code.
    """

    anomaly_type: AnomalyType | str
    severity: Severity
    timestamp: float
    location: dict[str, float] | None
    layer: str | None
    model_id: str | None
    score: float
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    sequence: int = 0

    @classmethod
    def from_proto(cls, msg: analytics_pb2.Anomaly) -> Anomaly:
        """Build from the generated message."""
        return cls(
            anomaly_type=AnomalyType.named(msg.anomaly_type_name, msg.anomaly_type),
            severity=Severity.from_proto(msg.severity),
            timestamp=ts_to_float(msg.timestamp),
            location=location_to_dict(msg.location) if msg.HasField("location") else None,
            layer=msg.layer or None,
            model_id=msg.model_id or None,
            score=msg.score,
            description=msg.description,
            metadata=metadata_dict(msg.metadata),
            sequence=msg.sequence,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the seed's field names."""
        return {
            "sequence": self.sequence,
            "anomaly_type": str(self.anomaly_type),
            "severity": str(self.severity),
            "timestamp": self.timestamp,
            "location": dict(self.location) if self.location is not None else None,
            "layer": self.layer,
            "model_id": self.model_id,
            "score": self.score,
            "description": self.description,
            "metadata": dict(self.metadata),
        }


@dataclass
class AnomalyPage:
    """A page of anomalies with the log's bounds (for resuming by sequence)."""

    anomalies: list[Anomaly]
    last_sequence: int
    first_sequence: int


@dataclass
class LayerStatistics:
    """Summary statistics of one layer's activity series."""

    model_id: str
    layer_id: str
    samples: int
    mean: float
    std: float
    min: float
    max: float
    trend_slope: float
    dominant_frequency: float
    periodicity_strength: float
    state_changes: int

    @classmethod
    def from_proto(cls, msg: analytics_pb2.LayerStatistics) -> LayerStatistics:
        """Build from the generated message."""
        return cls(
            model_id=msg.model_id,
            layer_id=msg.layer_id,
            samples=msg.samples,
            mean=msg.mean,
            std=msg.std,
            min=msg.min,
            max=msg.max,
            trend_slope=msg.trend_slope,
            dominant_frequency=msg.dominant_frequency,
            periodicity_strength=msg.periodicity_strength,
            state_changes=msg.state_changes,
        )


@dataclass
class TemporalStatistics:
    """Temporal statistics of one model (``model_id`` set) or of every model.

    With ``granularity="unit"``, ``units`` has every selected unit's statistics and
    ``oscillating_units`` the units whose periodicity passes the periodic threshold,
    strongest first (both empty otherwise).
    """

    model_id: str | None
    layers: list[LayerStatistics]
    increasing_trends: int
    decreasing_trends: int
    flat_trends: int
    periodic_layers: int
    raw: dict[str, Any] = field(default_factory=dict)
    units: list[UnitStatistics] = field(default_factory=list)
    oscillating_units: list[OscillatingUnit] = field(default_factory=list)

    @classmethod
    def from_proto(cls, msg: analytics_pb2.TemporalStatistics) -> TemporalStatistics:
        """Build from the generated message."""
        return cls(
            model_id=msg.model_id or None,
            layers=[LayerStatistics.from_proto(layer) for layer in msg.layers],
            increasing_trends=msg.increasing_trends,
            decreasing_trends=msg.decreasing_trends,
            flat_trends=msg.flat_trends,
            periodic_layers=msg.periodic_layers,
            raw=metadata_dict(msg.raw),
            units=[UnitStatistics.from_proto(u) for u in msg.units],
            oscillating_units=[OscillatingUnit.from_proto(u) for u in msg.oscillating_units],
        )


@dataclass
class LayerSimilarity:
    """Linear CKA between a layer of one model and a layer of another."""

    model_a: str
    layer_a: str
    model_b: str
    layer_b: str
    cka: float


@dataclass(eq=False)
class ModelComparison:
    """How similar two or more models are.

    Attributes:
        model_ids: Models compared, in matrix order.
        similarity_matrix: ``n x n`` float64 CKA similarity (read-only view).
        metrics: ``{metric: {model_id: value}}``.
        layer_similarity: Per layer-pair CKA.
        steps: Common steps the comparison used.
        metadata: The server's other notes.
    """

    model_ids: list[str]
    similarity_matrix: npt.NDArray[np.float64]
    metrics: dict[str, dict[str, float]]
    layer_similarity: list[LayerSimilarity]
    steps: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, msg: analytics_pb2.ModelComparison) -> ModelComparison:
        """Build from the generated message."""
        return cls(
            model_ids=list(msg.model_ids),
            similarity_matrix=tensor_to_numpy(msg.similarity_matrix),
            metrics={m.metric: dict(m.values) for m in msg.metrics},
            layer_similarity=[
                LayerSimilarity(s.model_a, s.layer_a, s.model_b, s.layer_b, s.cka)
                for s in msg.layer_similarity
            ],
            steps=msg.steps,
            metadata=metadata_dict(msg.metadata),
        )

    def to_dataframe(self) -> pd.DataFrame:
        """The similarity matrix labelled by model id on both axes."""
        import pandas as pd

        return pd.DataFrame(
            self.similarity_matrix, index=list(self.model_ids), columns=list(self.model_ids)
        )
