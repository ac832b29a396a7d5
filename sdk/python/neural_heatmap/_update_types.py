"""Live updates, named as the seed's WebSocket messages.

Each update type carries its :class:`UpdateType` as the class attribute
``type``; heatmap values are read-only numpy views over the wire bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2, updates_pb2

from neural_heatmap._analytics_types import Anomaly, CorrelationMatrix, TemporalPattern
from neural_heatmap._convert import location_to_dict, metadata_dict, tensor_to_numpy, ts_to_float
from neural_heatmap._enums import Severity, UpdateType
from neural_heatmap._view_types import Filter, LayoutConfig, ThemeSettings

__all__ = [
    "AnomalyUpdate",
    "CorrelationUpdate",
    "HeatmapUpdate",
    "TemporalUpdate",
    "Update",
    "ViewUpdate",
    "update_from_proto",
]


@dataclass(eq=False)
class HeatmapUpdate:
    """The newest activations of one layer (the seed's ``heatmap_update``).

    ``values`` is a read-only float32 view over the wire bytes.
    """

    type: ClassVar[UpdateType] = UpdateType.HEATMAP
    timestamp: float
    model_id: str
    layer: str
    intensity: float
    location: dict[str, float]
    step: int | None
    width: int
    height: int
    values: npt.NDArray[np.float32]

    @classmethod
    def from_proto(cls, msg: updates_pb2.HeatmapUpdate) -> HeatmapUpdate:
        """Build from the generated message."""
        return cls(
            timestamp=ts_to_float(msg.timestamp),
            model_id=msg.model_id,
            layer=msg.layer,
            intensity=msg.intensity,
            location=location_to_dict(msg.location),
            step=msg.step if msg.step >= 0 else None,
            width=msg.width,
            height=msg.height,
            values=tensor_to_numpy(msg.values),
        )


@dataclass(eq=False)
class CorrelationUpdate:
    """A freshly computed correlation matrix (the seed's ``correlation_update``).

    ``matrix``, ``labels`` and ``metadata`` are those of :attr:`correlation`.
    """

    type: ClassVar[UpdateType] = UpdateType.CORRELATION
    timestamp: float
    correlation: CorrelationMatrix

    @property
    def matrix(self) -> npt.NDArray[np.float32]:
        """The matrix (zero-copy, read-only)."""
        return self.correlation.matrix

    @property
    def labels(self) -> list[str]:
        """Row/column labels."""
        return self.correlation.labels

    @property
    def metadata(self) -> dict[str, Any]:
        """The server's notes on the matrix."""
        return self.correlation.metadata

    @classmethod
    def from_proto(cls, msg: updates_pb2.CorrelationUpdate) -> CorrelationUpdate:
        """Build from the generated message."""
        return cls(ts_to_float(msg.timestamp), CorrelationMatrix.from_proto(msg.matrix))


@dataclass
class TemporalUpdate:
    """Freshly found temporal patterns (the seed's ``temporal_update``)."""

    type: ClassVar[UpdateType] = UpdateType.TEMPORAL
    timestamp: float
    patterns: list[TemporalPattern]
    trends: list[dict[str, Any]]
    state_changes: list[dict[str, Any]]

    @classmethod
    def from_proto(cls, msg: updates_pb2.TemporalUpdate) -> TemporalUpdate:
        """Build from the generated message."""
        return cls(
            timestamp=ts_to_float(msg.timestamp),
            patterns=[TemporalPattern.from_proto(p) for p in msg.patterns],
            trends=[metadata_dict(t.fields) for t in msg.trends],
            state_changes=[metadata_dict(s.fields) for s in msg.state_changes],
        )


@dataclass
class AnomalyUpdate:
    """Newly logged anomalies in ascending sequence (the seed's ``anomaly_update``).

    ``severity`` and ``description`` are those of the most severe anomaly.
    """

    type: ClassVar[UpdateType] = UpdateType.ANOMALY
    timestamp: float
    anomalies: list[Anomaly]
    severity: Severity
    description: str

    @classmethod
    def from_proto(cls, msg: updates_pb2.AnomalyUpdate) -> AnomalyUpdate:
        """Build from the generated message."""
        return cls(
            timestamp=ts_to_float(msg.timestamp),
            anomalies=[Anomaly.from_proto(a) for a in msg.anomalies],
            severity=Severity.from_proto(msg.severity),
            description=msg.description,
        )

    def only_after(self, sequence: int) -> AnomalyUpdate | None:
        """This update without anomalies at or before ``sequence``; ``None`` if empty."""
        kept = [a for a in self.anomalies if a.sequence > sequence]
        if len(kept) == len(self.anomalies):
            return self
        if not kept:
            return None
        worst = max(kept, key=lambda a: a.severity.rank)
        return AnomalyUpdate(self.timestamp, kept, worst.severity, worst.description)


@dataclass
class ViewUpdate:
    """The stored view state, whole: filter, theme and layout (``view_update``).

    Sent when a stream that asked for :attr:`UpdateType.VIEW` opens and after every
    change any client makes (``set_theme`` here, the dashboard, the CLI), so a viewer
    follows what is stored without polling. A later update replaces an earlier one.
    """

    type: ClassVar[UpdateType] = UpdateType.VIEW
    timestamp: float
    filter: Filter
    theme: ThemeSettings
    layout: LayoutConfig

    @classmethod
    def from_proto(cls, msg: updates_pb2.ViewUpdate) -> ViewUpdate:
        """Build from the generated message."""
        return cls(
            timestamp=ts_to_float(msg.timestamp),
            filter=Filter.from_proto(msg.filter),
            theme=ThemeSettings.from_proto(msg.theme),
            layout=LayoutConfig.from_proto(msg.layout),
        )


Update = HeatmapUpdate | CorrelationUpdate | TemporalUpdate | AnomalyUpdate | ViewUpdate
"""Any live update."""


def update_from_proto(msg: neural_heatmap_service_pb2.StreamUpdatesResponse) -> Update | None:
    """The update carried by a ``StreamUpdatesResponse``, or ``None`` if empty."""
    kind = msg.WhichOneof("update")
    if kind == "heatmap":
        return HeatmapUpdate.from_proto(msg.heatmap)
    if kind == "correlation":
        return CorrelationUpdate.from_proto(msg.correlation)
    if kind == "temporal":
        return TemporalUpdate.from_proto(msg.temporal)
    if kind == "anomaly":
        return AnomalyUpdate.from_proto(msg.anomaly)
    if kind == "view":
        return ViewUpdate.from_proto(msg.view)
    return None
