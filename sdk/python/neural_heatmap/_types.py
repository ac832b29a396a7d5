"""Data types of the SDK, with the seed's names and field names.

Every type is a plain dataclass built from the generated message by a
``from_proto`` class method. Closed sets are ``StrEnum`` members, so they
compare equal to the seed's strings (``p.pattern_type == "periodic"``,
``update.severity == "critical"``) and print as those strings.

Large arrays are never copied element by element: a correlation matrix, a
model similarity matrix and heatmap values are numpy views over the bytes the
message carries (read-only; call ``.copy()`` for a writable array).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from neural_heatmap._convert import (
    float_to_ts,
    opt_ts,
    struct_to_dict,
    tensor_to_numpy,
    ts_to_float,
)
from neural_heatmap.v1 import (
    analytics_pb2,
    common_pb2,
    export_pb2,
    models_pb2,
    neural_heatmap_service_pb2,
    updates_pb2,
    view_pb2,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ActivationFrame",
    "Anomaly",
    "AnomalyPage",
    "AnomalyType",
    "AnomalyUpdate",
    "CorrelationMatrix",
    "CorrelationUpdate",
    "ExportFormat",
    "ExportResult",
    "ExportedFile",
    "Filter",
    "FrameRejection",
    "Granularity",
    "HeatmapUpdate",
    "IngestSummary",
    "LayerInfo",
    "LayerSimilarity",
    "LayerStatistics",
    "LayoutConfig",
    "ModelComparison",
    "ModelInfo",
    "PatternType",
    "Severity",
    "TemporalPattern",
    "TemporalStatistics",
    "TemporalUpdate",
    "ThemeSettings",
    "UnitInfo",
    "Update",
    "UpdateType",
    "VisualizationTheme",
]


class _ProtoEnum(enum.StrEnum):
    """A str enum with a two-way mapping to a generated proto enum."""

    @classmethod
    def from_proto(cls, value: int) -> Any:
        """Map a proto enum number to a member (UNSPECIFIED for unknown numbers)."""
        for member in cls:
            if member.to_proto() == value:
                return member
        return cls("unspecified")

    def to_proto(self) -> int:
        """The proto enum number of this member."""
        return int(self._proto_values()[self.name])

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        raise NotImplementedError

    @classmethod
    def parse(cls, value: str | _ProtoEnum) -> Any:
        """Accept a member, its value (``"critical"``) or its name (``"CRITICAL"``).

        Raises:
            ValueError: For anything else; the message lists valid values.
        """
        if isinstance(value, cls):
            return value
        text = str(value).strip()
        for member in cls:
            if text.lower() in (member.value, member.name.lower()):
                return member
        valid = ", ".join(m.value for m in cls if m.value != "unspecified")
        raise ValueError(f"unknown {cls.__name__} {value!r}; expected one of: {valid}")


def _enum_values(enum_type: Any, prefix: str) -> dict[str, int]:
    return {name.removeprefix(prefix): number for name, number in enum_type.items()}


class Severity(_ProtoEnum):
    """How serious an anomaly is.

    Members compare equal to the seed's strings. Use :attr:`rank` (0..4) to
    order them; string comparison (``<``) would be alphabetical.
    """

    UNSPECIFIED = "unspecified"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        return _enum_values(common_pb2.Severity, "SEVERITY_")

    @property
    def rank(self) -> int:
        """0 (unspecified) to 4 (critical); larger is more severe."""
        return self.to_proto()


class PatternType(_ProtoEnum):
    """Kind of temporal pattern: ``"periodic"``, ``"trend"`` or ``"state_change"``."""

    UNSPECIFIED = "unspecified"
    PERIODIC = "periodic"
    TREND = "trend"
    STATE_CHANGE = "state_change"

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        return _enum_values(analytics_pb2.PatternType, "PATTERN_TYPE_")


class AnomalyType(_ProtoEnum):
    """What an anomaly detector saw."""

    UNSPECIFIED = "unspecified"
    NON_FINITE = "non_finite"
    EXPLODING = "exploding"
    DEAD_UNITS = "dead_units"
    SATURATION = "saturation"
    SPIKE = "spike"

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        return _enum_values(analytics_pb2.AnomalyType, "ANOMALY_TYPE_")


class VisualizationTheme(_ProtoEnum):
    """Colour scheme of the heatmap canvas (the seed's theme system)."""

    UNSPECIFIED = "unspecified"
    THERMAL = "thermal"
    PLASMA = "plasma"
    HOLOGRAPHIC = "holographic"
    CONTOUR = "contour"
    CUSTOM = "custom"

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        return _enum_values(view_pb2.Theme, "THEME_")


class ExportFormat(_ProtoEnum):
    """File format of an export."""

    UNSPECIFIED = "unspecified"
    CSV = "csv"
    JSON = "json"
    TENSORBOARD = "tensorboard"
    PARQUET = "parquet"

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        return _enum_values(export_pb2.ExportFormat, "EXPORT_FORMAT_")


class Granularity(_ProtoEnum):
    """Rows of a correlation matrix: one per layer (default) or one per unit."""

    UNSPECIFIED = "unspecified"
    LAYER = "layer"
    UNIT = "unit"

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        return _enum_values(analytics_pb2.Granularity, "GRANULARITY_")


class UpdateType(_ProtoEnum):
    """Kinds of live update, named as the seed's WebSocket message types.

    :meth:`parse` also accepts the short forms ``"heatmap"``,
    ``"correlation"``/``"correlations"``, ``"temporal"`` and
    ``"anomaly"``/``"anomalies"``.
    """

    UNSPECIFIED = "unspecified"
    HEATMAP = "heatmap_update"
    CORRELATION = "correlation_update"
    TEMPORAL = "temporal_update"
    ANOMALY = "anomaly_update"

    @classmethod
    def _proto_values(cls) -> Mapping[str, int]:
        return _enum_values(updates_pb2.UpdateType, "UPDATE_TYPE_")

    @classmethod
    def parse(cls, value: str | _ProtoEnum) -> Any:
        """Like :meth:`_ProtoEnum.parse`, plus the short and plural forms."""
        aliases = {
            "heatmap": cls.HEATMAP,
            "correlation": cls.CORRELATION,
            "correlations": cls.CORRELATION,
            "temporal": cls.TEMPORAL,
            "anomaly": cls.ANOMALY,
            "anomalies": cls.ANOMALY,
        }
        if isinstance(value, str) and value.strip().lower() in aliases:
            return aliases[value.strip().lower()]
        return super().parse(value)


def _location(msg: common_pb2.Location) -> dict[str, float]:
    return {"x": msg.x, "y": msg.y}


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
            metadata=struct_to_dict(msg.metadata),
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
    ``layer_id`` (also in ``metadata``) say where it was found.
    """

    pattern_type: PatternType
    frequency: float | None
    amplitude: float | None
    phase: float | None
    confidence: float
    start_time: float | None
    end_time: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    model_id: str = ""
    layer_id: str = ""

    @classmethod
    def from_proto(cls, msg: analytics_pb2.TemporalPattern) -> TemporalPattern:
        """Build from the generated message."""
        return cls(
            pattern_type=PatternType.from_proto(msg.pattern_type),
            frequency=msg.frequency if msg.HasField("frequency") else None,
            amplitude=msg.amplitude if msg.HasField("amplitude") else None,
            phase=msg.phase if msg.HasField("phase") else None,
            confidence=msg.confidence,
            start_time=opt_ts(msg, "start_time"),
            end_time=opt_ts(msg, "end_time"),
            metadata=struct_to_dict(msg.metadata),
            model_id=msg.model_id,
            layer_id=msg.layer_id,
        )


@dataclass
class Anomaly:
    """One detected anomaly (the seed's type plus its durable ``sequence``).

    ``location`` is ``{"x": .., "y": ..}`` on the heatmap canvas or ``None``.
    """

    anomaly_type: AnomalyType
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
            anomaly_type=AnomalyType.from_proto(msg.anomaly_type),
            severity=Severity.from_proto(msg.severity),
            timestamp=ts_to_float(msg.timestamp),
            location=_location(msg.location) if msg.HasField("location") else None,
            layer=msg.layer or None,
            model_id=msg.model_id or None,
            score=msg.score,
            description=msg.description,
            metadata=struct_to_dict(msg.metadata),
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
    """Temporal statistics of one model (``model_id`` set) or of every model."""

    model_id: str | None
    layers: list[LayerStatistics]
    increasing_trends: int
    decreasing_trends: int
    flat_trends: int
    periodic_layers: int
    raw: dict[str, Any] = field(default_factory=dict)

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
            raw=struct_to_dict(msg.raw),
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
            metadata=struct_to_dict(msg.metadata),
        )

    def to_dataframe(self) -> pd.DataFrame:
        """The similarity matrix labelled by model id on both axes."""
        import pandas as pd

        return pd.DataFrame(
            self.similarity_matrix, index=list(self.model_ids), columns=list(self.model_ids)
        )


@dataclass
class Filter:
    """The view filter (what the views and default queries show).

    ``time_range`` is ``(start_ms, end_ms)`` in milliseconds since the epoch,
    as the seed's ``set_filter(time_range=[start_ms, end_ms])``.
    """

    model_ids: list[str] = field(default_factory=list)
    layer_ids: list[str] = field(default_factory=list)
    intensity_range: tuple[float, float] | None = None
    spatial_bounds: dict[str, float] | None = None
    time_range: tuple[float, float] | None = None

    @property
    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return not (
            self.model_ids
            or self.layer_ids
            or self.intensity_range
            or self.spatial_bounds
            or self.time_range
        )

    @classmethod
    def from_proto(cls, msg: view_pb2.Filter) -> Filter:
        """Build from the generated message."""
        time_range: tuple[float, float] | None = None
        if msg.HasField("time_range"):
            tr = msg.time_range
            time_range = (
                ts_to_float(tr.start) * 1000.0 if tr.HasField("start") else float("-inf"),
                ts_to_float(tr.end) * 1000.0 if tr.HasField("end") else float("inf"),
            )
        return cls(
            model_ids=list(msg.model_ids),
            layer_ids=list(msg.layer_ids),
            intensity_range=(
                (msg.intensity_range.min, msg.intensity_range.max)
                if msg.HasField("intensity_range")
                else None
            ),
            spatial_bounds=(
                {
                    "min_x": msg.spatial_bounds.min_x,
                    "min_y": msg.spatial_bounds.min_y,
                    "max_x": msg.spatial_bounds.max_x,
                    "max_y": msg.spatial_bounds.max_y,
                }
                if msg.HasField("spatial_bounds")
                else None
            ),
            time_range=time_range,
        )

    def to_proto(self) -> view_pb2.Filter:
        """The generated message for this filter."""
        msg = view_pb2.Filter(model_ids=self.model_ids, layer_ids=self.layer_ids)
        if self.intensity_range is not None:
            lo, hi = self.intensity_range
            msg.intensity_range.CopyFrom(view_pb2.IntensityRange(min=lo, max=hi))
        if self.spatial_bounds is not None:
            b = self.spatial_bounds
            msg.spatial_bounds.CopyFrom(
                view_pb2.SpatialBounds(
                    min_x=b["min_x"], min_y=b["min_y"], max_x=b["max_x"], max_y=b["max_y"]
                )
            )
        if self.time_range is not None:
            start_ms, end_ms = self.time_range
            tr = common_pb2.TimeRange()
            if start_ms != float("-inf"):
                tr.start.CopyFrom(float_to_ts(start_ms / 1000.0))
            if end_ms != float("inf"):
                tr.end.CopyFrom(float_to_ts(end_ms / 1000.0))
            msg.time_range.CopyFrom(tr)
        return msg


@dataclass
class ThemeSettings:
    """The theme in force with its custom colours (``"#rrggbb"``)."""

    theme: VisualizationTheme
    custom_colors: list[str] = field(default_factory=list)

    @classmethod
    def from_proto(cls, msg: view_pb2.ThemeSettings) -> ThemeSettings:
        """Build from the generated message."""
        return cls(VisualizationTheme.from_proto(msg.theme), list(msg.custom_colors))


@dataclass
class LayoutConfig:
    """Arrangement of the dashboard's panels (the contract's layout body).

    Attributes:
        panel_positions: ``{panel: {"x": .., "y": ..}}``.
        panel_sizes: ``{panel: {"width": .., "height": ..}}``.
        visibility: ``{panel: bool}``.
        z_order: Panel names from back to front.
    """

    panel_positions: dict[str, dict[str, float]] = field(default_factory=dict)
    panel_sizes: dict[str, dict[str, float]] = field(default_factory=dict)
    visibility: dict[str, bool] = field(default_factory=dict)
    z_order: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayoutConfig:
        """Build from the contract's JSON shape; unknown keys are a ``ValueError``."""
        known = {"panel_positions", "panel_sizes", "visibility", "z_order"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown layout keys {sorted(unknown)}; expected {sorted(known)}")
        return cls(
            panel_positions={
                k: {"x": float(v["x"]), "y": float(v["y"])}
                for k, v in dict(data.get("panel_positions") or {}).items()
            },
            panel_sizes={
                k: {"width": float(v["width"]), "height": float(v["height"])}
                for k, v in dict(data.get("panel_sizes") or {}).items()
            },
            visibility={k: bool(v) for k, v in dict(data.get("visibility") or {}).items()},
            z_order=[str(z) for z in data.get("z_order") or []],
        )

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON shape."""
        return {
            "panel_positions": {k: dict(v) for k, v in self.panel_positions.items()},
            "panel_sizes": {k: dict(v) for k, v in self.panel_sizes.items()},
            "visibility": dict(self.visibility),
            "z_order": list(self.z_order),
        }

    @classmethod
    def from_proto(cls, msg: view_pb2.Layout) -> LayoutConfig:
        """Build from the generated message."""
        return cls(
            panel_positions={k: {"x": v.x, "y": v.y} for k, v in msg.panel_positions.items()},
            panel_sizes={
                k: {"width": v.width, "height": v.height} for k, v in msg.panel_sizes.items()
            },
            visibility=dict(msg.visibility),
            z_order=list(msg.z_order),
        )

    def to_proto(self) -> view_pb2.Layout:
        """The generated message for this layout."""
        msg = view_pb2.Layout(z_order=self.z_order, visibility=self.visibility)
        for k, p in self.panel_positions.items():
            msg.panel_positions[k].CopyFrom(view_pb2.PanelPosition(x=p["x"], y=p["y"]))
        for k, s in self.panel_sizes.items():
            msg.panel_sizes[k].CopyFrom(view_pb2.PanelSize(width=s["width"], height=s["height"]))
        return msg


@dataclass
class ExportedFile:
    """One file in the server's export directory."""

    name: str
    size: int


@dataclass
class ExportResult:
    """What a server-side export wrote."""

    filename: str
    format: ExportFormat
    files: list[ExportedFile]
    bytes: int

    @classmethod
    def from_proto(cls, msg: export_pb2.ExportResult) -> ExportResult:
        """Build from the generated message."""
        return cls(
            filename=msg.filename,
            format=ExportFormat.from_proto(msg.format),
            files=[ExportedFile(f.name, f.size) for f in msg.files],
            bytes=msg.bytes,
        )


@dataclass
class UnitInfo:
    """One unit of a layer and its place on the canvas."""

    index: int
    x: float
    y: float


@dataclass
class LayerInfo:
    """A layer as the server knows it."""

    layer_id: str
    units: int
    width: int
    height: int
    frames: int
    units_detail: list[UnitInfo] = field(default_factory=list)


@dataclass
class ModelInfo:
    """A model being watched and its layers."""

    model_id: str
    layers: list[LayerInfo]
    frames: int
    first_timestamp: float | None
    last_timestamp: float | None

    @classmethod
    def from_proto(cls, msg: models_pb2.Model) -> ModelInfo:
        """Build from the generated message."""
        return cls(
            model_id=msg.model_id,
            layers=[
                LayerInfo(
                    layer_id=layer.layer_id,
                    units=layer.units,
                    width=layer.width,
                    height=layer.height,
                    frames=layer.frames,
                    units_detail=[
                        UnitInfo(u.index, u.location.x, u.location.y) for u in layer.units_detail
                    ],
                )
                for layer in msg.layers
            ],
            frames=msg.frames,
            first_timestamp=opt_ts(msg, "first_timestamp"),
            last_timestamp=opt_ts(msg, "last_timestamp"),
        )


@dataclass(eq=False)
class ActivationFrame:
    """One step of one layer, to send with ``log_batch``.

    Attributes:
        model_id: The model.
        layer_id: The layer.
        values: Activation of every unit (1-D; sent as float32).
        timestamp: Seconds since the epoch; the server's arrival time if ``None``.
        step: Training step, or ``None``.
    """

    model_id: str
    layer_id: str
    values: npt.ArrayLike
    timestamp: float | None = None
    step: int | None = None


@dataclass
class FrameRejection:
    """Why one streamed frame was not stored."""

    index: int
    model_id: str
    layer_id: str
    code: str
    message: str


@dataclass
class IngestSummary:
    """What an ingestion call stored."""

    frames_accepted: int
    frames_rejected: int
    rejections: list[FrameRejection]
    details: dict[str, Any]
    frames_sent: int = 0
    messages_sent: int = 0

    @classmethod
    def from_proto(
        cls,
        msg: neural_heatmap_service_pb2.IngestActivationsResponse,
        *,
        frames_sent: int = 0,
        messages_sent: int = 0,
    ) -> IngestSummary:
        """Build from the generated response."""
        return cls(
            frames_accepted=msg.frames_accepted,
            frames_rejected=msg.frames_rejected,
            rejections=[
                FrameRejection(r.index, r.model_id, r.layer_id, r.code, r.message)
                for r in msg.rejections
            ],
            details=struct_to_dict(msg.details),
            frames_sent=frames_sent,
            messages_sent=messages_sent,
        )


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
            location=_location(msg.location),
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
            trends=[struct_to_dict(t) for t in msg.trends],
            state_changes=[struct_to_dict(s) for s in msg.state_changes],
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


Update = HeatmapUpdate | CorrelationUpdate | TemporalUpdate | AnomalyUpdate
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
    return None


def as_str_list(values: str | Sequence[str] | None) -> list[str]:
    """Accept one string, a sequence of strings, or ``None``."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]
