"""Client calls that draw: the heatmap canvas and the correlation matrix as PNG images."""

from __future__ import annotations

from collections.abc import Sequence

from neural_heatmap_contract.v1 import render_pb2, view_pb2

from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._convert import as_str_list, float_to_ts
from neural_heatmap._enums import VisualizationTheme
from neural_heatmap._render_types import RenderedImage

__all__ = ["RenderMixin"]

TimeRangeMs = Sequence[float | None]


class RenderMixin(ClientBase):
    """Render PNG images on the server (one implementation of the themes for every client)."""

    async def render_heatmap(
        self,
        model_id: str | None = None,
        layers: Sequence[str] | None = None,
        *,
        theme: VisualizationTheme | str | None = None,
        custom_colors: Sequence[str] | None = None,
        width: int = 0,
        height: int = 0,
        time_range: TimeRangeMs | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> RenderedImage:
        """Render the live heatmap canvas: each layer's newest frame on its canvas grid.

        Units the stored view filter hides (:meth:`set_filter`) are grey; what this
        call leaves unset (model, layers, time range) comes from that filter too.

        Args:
            model_id: One model; ``None``: every model.
            layers: Layer ids (or ``model/layer``); ``None``: every layer.
            theme: A :class:`VisualizationTheme` or its name; ``None``: the stored theme.
            custom_colors: ``"#rrggbb"`` colours (two or more) for ``CUSTOM``.
            width: Pixels; 0: the server's default (800). At most 4096.
            height: Pixels; 0: the server's default (600). At most 4096, and
                ``width * height`` at most 8 Mi pixels.
            time_range: ``(start_ms, end_ms)`` in milliseconds since the epoch, as in
                :meth:`set_filter` (a bound may be ``None``); the newest frame inside is shown.

        Returns:
            The PNG (a ``bytes`` subclass) with ``width``, ``height`` and ``theme``.

        Raises:
            InvalidArgumentError: A bad option or a size over a limit (the message names it).
            NotFoundError: An unknown model or layer.
        """
        return await self._render(render_pb2.RENDER_KIND_HEATMAP, model_id, layers, theme,
                                  custom_colors, width, height, time_range,
                                  timeout=timeout, metadata=metadata, retry=retry)

    async def render_correlation(
        self,
        model_id: str | None = None,
        layers: Sequence[str] | None = None,
        *,
        theme: VisualizationTheme | str | None = None,
        custom_colors: Sequence[str] | None = None,
        width: int = 0,
        height: int = 0,
        time_range: TimeRangeMs | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> RenderedImage:
        """Render the layer correlation matrix with its labels on a [-1, 1] scale.

        The arguments are those of :meth:`render_heatmap`; the matrix is the one
        :meth:`get_correlation_matrix` returns with ``use_view_filter=True``. Large
        matrices get at most 64 evenly spaced labels per axis.
        """
        return await self._render(render_pb2.RENDER_KIND_CORRELATION, model_id, layers, theme,
                                  custom_colors, width, height, time_range,
                                  timeout=timeout, metadata=metadata, retry=retry)

    async def _render(
        self,
        kind: render_pb2.RenderKind.ValueType,
        model_id: str | None,
        layers: Sequence[str] | None,
        theme: VisualizationTheme | str | None,
        custom_colors: Sequence[str] | None,
        width: int,
        height: int,
        time_range: TimeRangeMs | None,
        *,
        timeout: Timeout,
        metadata: Metadata,
        retry: RetryArg,
    ) -> RenderedImage:
        request = render_pb2.RenderHeatmapRequest(
            kind=kind, model_id=model_id or "", layer_ids=as_str_list(layers),
            custom_colors=as_str_list(custom_colors), width=width, height=height)
        if theme is not None:
            request.theme = view_pb2.Theme.ValueType(VisualizationTheme.parse(theme).to_proto())
        if time_range is not None:
            start, end = time_range
            request.time_range.SetInParent()
            if start is not None:
                request.time_range.start.CopyFrom(float_to_ts(start / 1000.0))
            if end is not None:
                request.time_range.end.CopyFrom(float_to_ts(end / 1000.0))
        stub = self._open()
        resp = await self._unary(
            stub.RenderHeatmap, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return RenderedImage.from_proto(resp)
