"""Ingestion: the frames ``log_batch`` sends and the summary it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy.typing as npt
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2

from neural_heatmap._convert import metadata_dict

__all__ = ["ActivationFrame", "FrameRejection", "IngestSummary"]


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
            details=metadata_dict(msg.details),
            frames_sent=frames_sent,
            messages_sent=messages_sent,
        )
