"""Client calls for the correlation matrix: fetched as numpy or pandas, or saved locally."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from neural_heatmap_contract.v1 import analytics_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._analytics_types import CorrelationMatrix
from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._convert import as_str_list, float_to_ts
from neural_heatmap._enums import Granularity
from neural_heatmap._files import format_from_suffix, write_matrix

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CorrelationMixin"]


class CorrelationMixin(ClientBase):
    """``get_correlation_matrix`` and ``download_correlation_matrix``."""

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = ...,
        layer_ids: Sequence[str] | None = ...,
        as_dataframe: Literal[False] = ...,
        *,
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        use_view_filter: bool = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> CorrelationMatrix: ...

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = ...,
        layer_ids: Sequence[str] | None = ...,
        *,
        as_dataframe: Literal[True],
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        use_view_filter: bool = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> pd.DataFrame: ...

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None,
        layer_ids: Sequence[str] | None,
        as_dataframe: Literal[True],
        *,
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        use_view_filter: bool = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> pd.DataFrame: ...

    @overload
    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = ...,
        layer_ids: Sequence[str] | None = ...,
        as_dataframe: bool = ...,
        *,
        granularity: Granularity | str | None = ...,
        start_time: float | None = ...,
        end_time: float | None = ...,
        use_view_filter: bool = ...,
        timeout: Timeout = ...,
        metadata: Metadata = ...,
        retry: RetryArg = ...,
    ) -> CorrelationMatrix | pd.DataFrame: ...

    async def get_correlation_matrix(
        self,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        as_dataframe: bool = False,
        *,
        granularity: Granularity | str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        use_view_filter: bool = False,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> CorrelationMatrix | pd.DataFrame:
        """Get the Pearson correlation matrix between activity series.

        Args:
            model_ids: Models to include; ``None``: all.
            layer_ids: Layers to include; ``None``: all.
            as_dataframe: Return a pandas DataFrame labelled both ways.
            granularity: ``"layer"`` (default; labels ``model/layer``) or
                ``"unit"`` (labels ``model/layer/index``).
            start_time: Only frames at or after this time (epoch seconds).
            end_time: Only frames before this time (epoch seconds).
            use_view_filter: Fill what this call leaves unset from the stored view
                filter (:meth:`set_filter`); by default another client's view state
                never changes this answer.

        Returns:
            A :class:`CorrelationMatrix` whose ``matrix`` is a zero-copy,
            read-only float32 numpy view of the wire bytes, or a DataFrame.
        """
        stub = self._open()
        request = pb.GetCorrelationMatrixRequest(
            model_ids=as_str_list(model_ids),
            layer_ids=as_str_list(layer_ids),
            use_view_filter=use_view_filter,
        )
        if granularity is not None:
            request.granularity = analytics_pb2.Granularity.ValueType(
                Granularity.parse(granularity).to_proto()
            )
        if start_time is not None:
            request.time_range.start.CopyFrom(float_to_ts(start_time))
        if end_time is not None:
            request.time_range.end.CopyFrom(float_to_ts(end_time))
        resp = await self._unary(
            stub.GetCorrelationMatrix, request, timeout=timeout, metadata=metadata, retry=retry
        )
        matrix = CorrelationMatrix.from_proto(resp.matrix)
        return matrix.to_dataframe() if as_dataframe else matrix

    async def download_correlation_matrix(
        self,
        filepath: str | os.PathLike[str],
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        *,
        granularity: Granularity | str | None = None,
        use_view_filter: bool = False,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> Path:
        """Fetch the correlation matrix and write it to a local file.

        The format comes from the suffix: ``.csv`` and ``.parquet`` (a table
        labelled both ways), ``.json`` (``{matrix, labels, timestamp,
        metadata}``). ``use_view_filter`` as for :meth:`get_correlation_matrix`.

        Returns:
            The path written.

        Raises:
            ValueError: For another suffix (checked before any call).
        """
        format_from_suffix(Path(filepath))
        matrix = await self.get_correlation_matrix(
            model_ids,
            layer_ids,
            granularity=granularity,
            use_view_filter=use_view_filter,
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return write_matrix(matrix, filepath)
