"""Client calls for temporal analytics: patterns and statistics, per layer or per unit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from neural_heatmap_contract.v1 import analytics_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._analytics_types import TemporalPattern, TemporalStatistics
from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._enums import Granularity, PatternType
from neural_heatmap._unit_types import unit_selector

__all__ = ["TemporalMixin"]


def _ms(value: float | None) -> int:
    """Whole milliseconds for the request; 0 is the proto's "no window"."""
    return 0 if value is None else int(value)


def _units(granularity: Granularity | str | None, unit: int | Iterable[int] | None
           ) -> dict[str, Any]:
    """The granularity and unit selector fields of a temporal request."""
    fields = unit_selector(unit)
    if granularity is not None:
        fields["granularity"] = analytics_pb2.Granularity.ValueType(
            Granularity.parse(granularity).to_proto())
    return fields


class TemporalMixin(ClientBase):
    """``get_temporal_patterns`` and ``get_temporal_statistics``."""

    async def get_temporal_patterns(
        self,
        model_id: str | None = None,
        time_window: float | None = None,
        pattern_types: Sequence[PatternType | str] | None = None,
        *,
        layer_id: str | None = None,
        use_view_filter: bool = False,
        granularity: Granularity | str | None = None,
        unit: int | Iterable[int] | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> list[TemporalPattern]:
        """Get the periodic, trend and state-change patterns in activity series.

        Args:
            model_id: Only this model; ``None``: every model.
            time_window: Look back this many milliseconds from the newest frame.
            pattern_types: Only these (``"periodic"``, ``"trend"``, ``"state_change"``).
            layer_id: Only this layer.
            use_view_filter: Only samples inside the stored view filter's time range
                (:meth:`set_filter`); by default the whole window, whatever another
                client's view state.
            granularity: ``"layer"`` (default): each layer's mean activity; ``"unit"``:
                each selected unit's own series, with the same detectors.
            unit: With ``granularity="unit"``, the units of each selected layer: an index,
                a ``range`` or indices (default every unit). At most the server's
                ``--max-matrix-labels`` unit series; an index a layer lacks, or ``unit``
                without ``granularity="unit"``, is :class:`InvalidArgumentError`.

        Returns:
            The patterns; each carries ``model_id`` and ``layer_id`` (and at unit
            granularity ``unit`` and its canvas ``location``).
        """
        stub = self._open()
        types = [PatternType.parse(t).to_proto() for t in (pattern_types or [])]
        request = pb.GetTemporalPatternsRequest(
            model_id=model_id or "",
            time_window=_ms(time_window),
            pattern_types=types,
            layer_id=layer_id or "",
            use_view_filter=use_view_filter,
            **_units(granularity, unit),
        )
        resp = await self._unary(
            stub.GetTemporalPatterns, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return [TemporalPattern.from_proto(p) for p in resp.patterns]

    async def get_temporal_statistics(
        self,
        model_id: str | None = None,
        *,
        layer_id: str | None = None,
        use_view_filter: bool = False,
        granularity: Granularity | str | None = None,
        unit: int | Iterable[int] | None = None,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> TemporalStatistics:
        """Get temporal statistics (trends, periodicity, level changes) per layer, and with
        ``granularity="unit"`` per unit with the units that oscillate.

        Args:
            model_id: Only this model; ``None``: every model.
            layer_id: Only this layer.
            use_view_filter: Only samples inside the stored view filter's time range
                (:meth:`set_filter`); by default the whole window, whatever another
                client's view state.
            granularity: ``"unit"`` adds ``units`` and ``oscillating_units``.
            unit: As for :meth:`get_temporal_patterns`.
        """
        stub = self._open()
        resp = await self._unary(
            stub.GetTemporalStatistics,
            pb.GetTemporalStatisticsRequest(
                model_id=model_id or "",
                layer_id=layer_id or "",
                use_view_filter=use_view_filter,
                **_units(granularity, unit),
            ),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return TemporalStatistics.from_proto(resp.statistics)
