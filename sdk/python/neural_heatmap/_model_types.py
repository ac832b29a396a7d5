"""What ``list_models`` returns: models, their layers and the units' canvas places."""

from __future__ import annotations

from dataclasses import dataclass, field

from neural_heatmap_contract.v1 import models_pb2

from neural_heatmap._convert import opt_ts

__all__ = ["LayerInfo", "ModelInfo", "UnitInfo"]


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
