"""The shared view state: filter, theme and dashboard layout.

Each is a dataclass with a ``from_proto`` class method and, where the client
sends it, a ``to_proto`` method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neural_heatmap_contract.v1 import common_pb2, view_pb2

from neural_heatmap._arguments import named_numbers
from neural_heatmap._convert import float_to_ts, ts_to_float
from neural_heatmap._enums import VisualizationTheme
from neural_heatmap._errors import InvalidParameterError

__all__ = ["SPATIAL_BOUNDS_KEYS", "Filter", "LayoutConfig", "ThemeSettings"]

SPATIAL_BOUNDS_KEYS = ("min_x", "min_y", "max_x", "max_y")
"""Keys of ``Filter.spatial_bounds``, in the order of the seed's 4-tuple."""


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
    warnings: list[str] = field(default_factory=list, compare=False)
    """What ``set_filter``'s and ``get_filter``'s answers warn about (ids that match
    nothing known, a filter that hides every layer); empty when nothing is amiss."""

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
                {k: getattr(msg.spatial_bounds, k) for k in SPATIAL_BOUNDS_KEYS}
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
            bounds = {k: self.spatial_bounds[k] for k in SPATIAL_BOUNDS_KEYS}
            msg.spatial_bounds.CopyFrom(view_pb2.SpatialBounds(**bounds))
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
        """Build from the contract's JSON shape.

        Raises:
            InvalidParameterError: An unknown key, or a value of another shape (a
                position as a list, say), named as ``layout.panel_positions['main']``.
        """
        known = ("panel_positions", "panel_sizes", "visibility", "z_order")
        if not isinstance(data, Mapping) or set(data) - set(known):
            raise InvalidParameterError("layout", "a mapping of " + ", ".join(known), data)

        def panels(key: str, fields: tuple[str, str]) -> dict[str, dict[str, float]]:
            value = data.get(key) or {}
            if not isinstance(value, Mapping):
                raise InvalidParameterError(f"layout.{key}", "a mapping of panel names", value)
            return {str(k): named_numbers(f"layout.{key}[{k!r}]", v, fields, ordered=False)
                    for k, v in value.items()}

        return cls(
            panel_positions=panels("panel_positions", ("x", "y")),
            panel_sizes=panels("panel_sizes", ("width", "height")),
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
