"""Remake the theme images in docs/images/ from a live bridge (what `make run` starts).

Usage::

    make run                                    # in one terminal
    .venv/bin/python scripts/render_theme_images.py [--target localhost:50051]

It waits until the built-in activation source has trained a few steps, then asks the
bridge (``RenderHeatmap``) for the heatmap canvas of one demo model in each theme and
for the correlation matrix of both models, and writes ``docs/images/theme-<theme>.png``
and ``docs/images/correlation.png``. The server draws them: these are exactly what
every client gets.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib

from neural_heatmap import VisualizationTheme, connect

IMAGES = pathlib.Path(__file__).resolve().parents[1] / "docs" / "images"
THEMES = [VisualizationTheme.THERMAL, VisualizationTheme.PLASMA,
          VisualizationTheme.HOLOGRAPHIC, VisualizationTheme.CONTOUR]
CUSTOM_COLORS = ["#1b1b3a", "#693668", "#a74482", "#f84aa7", "#ff3562"]
MIN_FRAMES = 50


async def main(target: str, model: str, width: int, height: int) -> None:
    client = await connect(target, connect_timeout=30.0)
    try:
        for _ in range(120):  # the source ingests about one step per 100 ms
            models = {m.model_id: m for m in await client.list_models()}
            if model in models and min(layer.frames for layer in models[model].layers) \
                    >= MIN_FRAMES:
                break
            await asyncio.sleep(0.5)
        else:
            raise SystemExit(f"model {model!r} has no {MIN_FRAMES} frames at {target}; "
                             "is `make run` (with its activation source) running?")
        IMAGES.mkdir(parents=True, exist_ok=True)
        for theme in THEMES:
            image = await client.render_heatmap(model, theme=theme, width=width, height=height)
            print(image.save_png(IMAGES / f"theme-{theme.value}.png"))
        custom = await client.render_heatmap(model, theme="custom", custom_colors=CUSTOM_COLORS,
                                             width=width, height=height)
        print(custom.save_png(IMAGES / "theme-custom.png"))
        matrix = await client.render_correlation(theme=VisualizationTheme.THERMAL,
                                                 width=width, height=height)
        print(matrix.save_png(IMAGES / "correlation.png"))
    finally:
        await client.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="localhost:50051", help="the bridge's address")
    parser.add_argument("--model", default="mlp-a", help="the model whose canvas is drawn")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.target, args.model, args.width, args.height))
