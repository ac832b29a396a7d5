"""Client calls for the shared view state: filter, theme and layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import view_pb2

from neural_heatmap._arguments import float_pair, named_numbers
from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._convert import as_str_list
from neural_heatmap._enums import VisualizationTheme
from neural_heatmap._view_types import SPATIAL_BOUNDS_KEYS, Filter, LayoutConfig, ThemeSettings

__all__ = ["ViewStateMixin"]


class ViewStateMixin(ClientBase):
    """Get and set the filter, the theme and the layout."""

    async def set_filter(
        self,
        model_ids: Sequence[str] | None = None,
        layer_ids: Sequence[str] | None = None,
        intensity_range: Sequence[float] | Mapping[str, float] | None = None,
        spatial_bounds: Sequence[float] | Mapping[str, float] | None = None,
        time_range: Sequence[float] | None = None,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> Filter:
        """Replace the view filter (all ``None`` clears it, as the seed's ``{}``).

        Args:
            model_ids: Only these models.
            layer_ids: Only these layers.
            intensity_range: ``(min, max)`` or ``{"min": .., "max": ..}``.
            spatial_bounds: ``{"min_x", "min_y", "max_x", "max_y"}`` or a
                4-tuple in that order.
            time_range: ``(start_ms, end_ms)``, milliseconds since the epoch.

        Returns:
            The filter now in force; its ``warnings`` name ids that match no known
            model or layer (the filter is stored all the same: configuring ahead is
            fine) and say when the filter hides every layer.

        Raises:
            InvalidParameterError: An argument of another shape, named with the shape
                it takes (before any call is made).
        """
        flt = Filter(
            model_ids=as_str_list(model_ids),
            layer_ids=as_str_list(layer_ids),
            intensity_range=None if intensity_range is None else float_pair(
                "intensity_range", intensity_range, ("min", "max")),
            spatial_bounds=None if spatial_bounds is None else named_numbers(
                "spatial_bounds", spatial_bounds, SPATIAL_BOUNDS_KEYS),
            time_range=None if time_range is None else float_pair(
                "time_range", time_range, ("start", "end"), infinite=True),
        )
        stub = self._open()
        resp = await self._unary(
            stub.SetFilter,
            pb.SetFilterRequest(filter=flt.to_proto()),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        stored = Filter.from_proto(resp.filter)
        stored.warnings = list(resp.warnings)
        return stored

    async def clear_filter(
        self,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> None:
        """Remove every filter."""
        stub = self._open()
        await self._unary(
            stub.ClearFilter,
            pb.ClearFilterRequest(),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )

    async def get_filter(
        self,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> Filter:
        """Get the filter in force (``Filter().is_empty`` when none); its ``warnings`` say
        what it matches nothing of and whether it hides every layer now."""
        stub = self._open()
        resp = await self._unary(
            stub.GetFilter, pb.GetFilterRequest(), timeout=timeout, metadata=metadata, retry=retry
        )
        stored = Filter.from_proto(resp.filter)
        stored.warnings = list(resp.warnings)
        return stored

    async def set_theme(
        self,
        theme: VisualizationTheme | str,
        *,
        custom_colors: Sequence[str] | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> ThemeSettings:
        """Set the visualization theme.

        Args:
            theme: A :class:`VisualizationTheme` or its name (``"plasma"``).
            custom_colors: ``"#rrggbb"`` colours, required for ``CUSTOM``.

        Returns:
            The theme now in force.
        """
        stub = self._open()
        request = pb.SetThemeRequest(
            theme=view_pb2.Theme.ValueType(VisualizationTheme.parse(theme).to_proto()),
            custom_colors=as_str_list(custom_colors),
        )
        resp = await self._unary(
            stub.SetTheme, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return ThemeSettings.from_proto(resp.theme)

    async def get_theme(
        self,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> ThemeSettings:
        """Get the theme in force."""
        stub = self._open()
        resp = await self._unary(
            stub.GetTheme, pb.GetThemeRequest(), timeout=timeout, metadata=metadata, retry=retry
        )
        return ThemeSettings.from_proto(resp.theme)

    async def set_layout(
        self,
        layout: LayoutConfig | Mapping[str, Any],
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> LayoutConfig:
        """Replace the dashboard layout.

        Args:
            layout: A :class:`LayoutConfig` or the contract's dict
                (``panel_positions``, ``panel_sizes``, ``visibility``, ``z_order``).

        Returns:
            The layout now in force.
        """
        config = layout if isinstance(layout, LayoutConfig) else LayoutConfig.from_dict(layout)
        stub = self._open()
        resp = await self._unary(
            stub.SetLayout,
            pb.SetLayoutRequest(layout=config.to_proto()),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return LayoutConfig.from_proto(resp.layout)

    async def get_layout(
        self,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> LayoutConfig:
        """Get the layout in force."""
        stub = self._open()
        resp = await self._unary(
            stub.GetLayout, pb.GetLayoutRequest(), timeout=timeout, metadata=metadata, retry=retry
        )
        return LayoutConfig.from_proto(resp.layout)
