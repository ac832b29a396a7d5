"""Client calls about the models themselves: what is being watched, how alike they are."""

from __future__ import annotations

from collections.abc import Sequence

from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.version import VERSION_HEADER

from neural_heatmap._analytics_types import ModelComparison
from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._convert import as_str_list
from neural_heatmap._model_types import ModelInfo

__all__ = ["ModelsMixin"]


class ModelsMixin(ClientBase):
    """``list_models``, ``compare_models`` and ``bridge_version``."""

    async def bridge_version(
        self,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> str:
        """The contract version the bridge reports, to check compatibility before relying on it.

        The bridge sends it as the ``x-neural-heatmap-version`` response header on every RPC;
        this reads it from a ``ListModels`` call (cheap, answered from the bridge's cache).
        Same MAJOR (before 1.0: same MINOR) as :data:`neural_heatmap.__version__` means
        compatible (docs/clients.md, "Versions and compatibility").

        Returns:
            The version, e.g. ``"0.2.0"``; ``""`` for a bridge too old to send one.
        """
        stub = self._open()
        md = self._metadata(metadata)

        async def attempt(per_try: float | None) -> str:
            call = stub.ListModels(pb.ListModelsRequest(), timeout=per_try, metadata=md)
            headers = await call.initial_metadata()
            await call  # the status: a failure raises here, and is retried like any read
            value = dict(headers or ()).get(VERSION_HEADER, "")
            return value.decode() if isinstance(value, bytes) else str(value)

        return await self._call(attempt, rpc="ListModels", timeout=timeout, retry=retry)

    async def list_models(
        self,
        include_units: bool = False,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> list[ModelInfo]:
        """List every model with its layers.

        Args:
            include_units: Also list every unit's canvas location.

        Returns:
            The models the server knows, with layer unit counts and frames.
        """
        stub = self._open()
        resp = await self._unary(
            stub.ListModels,
            pb.ListModelsRequest(include_units=include_units),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return [ModelInfo.from_proto(m) for m in resp.models]

    async def compare_models(
        self,
        model_ids: Sequence[str],
        metrics: Sequence[str] | None = None,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> ModelComparison:
        """Compare two or more models (CKA similarity and per-model metrics).

        Args:
            model_ids: Two or more models.
            metrics: ``"cka"``, ``"mean_activation"``, ``"sparsity"``; ``None``: all.
        """
        stub = self._open()
        resp = await self._unary(
            stub.CompareModels,
            pb.CompareModelsRequest(model_ids=as_str_list(model_ids), metrics=as_str_list(metrics)),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return ModelComparison.from_proto(resp.comparison)
