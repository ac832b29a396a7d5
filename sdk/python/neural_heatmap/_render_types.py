"""``RenderedImage``: the PNG bytes of a rendered heatmap or correlation matrix."""

from __future__ import annotations

import os
import pathlib
from typing import Self

from neural_heatmap_contract.v1 import render_pb2

from neural_heatmap._enums import VisualizationTheme

__all__ = ["RenderedImage"]


class RenderedImage(bytes):
    """A PNG image as drawn by the server (``RenderHeatmap``).

    It *is* the PNG file's bytes (a ``bytes`` subclass), so it can be written,
    sent or opened with Pillow as is; in Jupyter it displays inline
    (``_repr_png_``).

    Attributes:
        width: Width in pixels.
        height: Height in pixels.
        theme: The theme it was drawn in (the stored theme when the call left it unset).
        kind: ``"heatmap"`` or ``"correlation"``.
        empty: True when the image shows no layer (or the view filter hides every
            unit drawn): a placeholder, not data.
        warnings: Why it is empty, one sentence each (e.g. "the view filter ... hides
            all 6 layers; clear it with ..."); empty when the image shows data.
    """

    width: int
    height: int
    theme: VisualizationTheme
    kind: str
    empty: bool
    warnings: list[str]

    def __new__(cls, png: bytes, width: int, height: int, theme: VisualizationTheme,
                kind: str, *, empty: bool = False, warnings: list[str] | None = None) -> Self:
        """Wrap ``png`` with what it shows."""
        image = super().__new__(cls, png)
        image.width, image.height, image.theme, image.kind = width, height, theme, kind
        image.empty, image.warnings = empty, list(warnings or [])
        return image

    @classmethod
    def from_proto(cls, resp: render_pb2.RenderHeatmapResponse) -> RenderedImage:
        """Build from a ``RenderHeatmapResponse``."""
        kind = "correlation" if resp.kind == render_pb2.RENDER_KIND_CORRELATION else "heatmap"
        return cls(resp.png, resp.width, resp.height,
                   VisualizationTheme.from_proto(resp.theme), kind, empty=resp.empty,
                   warnings=list(resp.warnings))

    def save_png(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the PNG file (replacing it) and return its path."""
        out = pathlib.Path(path)
        out.write_bytes(self)
        return out

    def _repr_png_(self) -> bytes:
        """Jupyter's inline display hook."""
        return bytes(self)

    def __repr__(self) -> str:
        return (f"RenderedImage(kind={self.kind!r}, theme={self.theme.value!r}, "
                f"width={self.width}, height={self.height}, bytes={len(self)}"
                + (f", empty=True, warnings={self.warnings!r})" if self.empty else ")"))
