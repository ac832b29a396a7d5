"""Client call for per-unit layer health: dead, saturated and most spiking units."""

from __future__ import annotations

from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._unit_types import LayerHealth

__all__ = ["HealthMixin"]


class HealthMixin(ClientBase):
    """``get_layer_health``."""

    async def get_layer_health(
        self,
        model_id: str | None = None,
        *,
        layer_id: str | None = None,
        top_k: int | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> list[LayerHealth]:
        """Name each layer's dead and saturated units (index, canvas cell, since when) and
        the units with the largest recent spike scores.

        Unlike the ``dead_units`` anomaly, which fires only when a quarter of a layer is
        dead, this names every dead unit, even one among thousands.

        Args:
            model_id: Only this model; ``None``: every model.
            layer_id: Only this layer.
            top_k: How many most-spiking units per layer (``None``: the server's 5).

        Returns:
            One :class:`LayerHealth` per selected layer.
        """
        stub = self._open()
        resp = await self._unary(
            stub.GetLayerHealth,
            pb.GetLayerHealthRequest(
                model_id=model_id or "", layer_id=layer_id or "", top_k=top_k or 0
            ),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return [LayerHealth.from_proto(layer) for layer in resp.layers]
