"""Client calls for temporal analytics: patterns and per-layer statistics."""

from __future__ import annotations

from collections.abc import Sequence

from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._analytics_types import TemporalPattern, TemporalStatistics
from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._enums import PatternType

__all__ = ["TemporalMixin"]


def _ms(value: float | None) -> int:
    """Whole milliseconds for the request; 0 is the proto's "no window"."""
    return 0 if value is None else int(value)


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

        Returns:
            The patterns; each carries ``model_id`` and ``layer_id``.
        """
        stub = self._open()
        types = [PatternType.parse(t).to_proto() for t in (pattern_types or [])]
        request = pb.GetTemporalPatternsRequest(
            model_id=model_id or "",
            time_window=_ms(time_window),
            pattern_types=types,
            layer_id=layer_id or "",
            use_view_filter=use_view_filter,
        )
        resp = await self._unary(
            stub.GetTemporalPatterns, request, timeout=timeout, metadata=metadata, retry=retry
        )
        return [TemporalPattern.from_proto(p) for p in resp.patterns]

    async def get_temporal_statistics(
        self,
        model_id: str | None = None,
        *,
        use_view_filter: bool = False,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> TemporalStatistics:
        """Get per-layer temporal statistics (trends, periodicity, level changes).

        Args:
            model_id: Only this model; ``None``: every model.
            use_view_filter: Only samples inside the stored view filter's time range
                (:meth:`set_filter`); by default the whole window, whatever another
                client's view state.
        """
        stub = self._open()
        resp = await self._unary(
            stub.GetTemporalStatistics,
            pb.GetTemporalStatisticsRequest(
                model_id=model_id or "", use_view_filter=use_view_filter
            ),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return TemporalStatistics.from_proto(resp.statistics)
