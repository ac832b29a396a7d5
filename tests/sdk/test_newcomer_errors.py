"""The SDK's side of issue 27: an empty answer says why, a wrong argument is one typed error.

The original traps: ``set_filter(layer_ids=["layer1", "layer2"])`` (the seed's Quick
Start) succeeding silently and every render afterwards blank;
``get_anomalies(limit=-1)`` raising protobuf's ``ValueError: Value out of range: -1``;
``set_filter`` with wrong ``spatial_bounds`` keys a bare ``KeyError: 'min_x'``;
``set_layout`` with a list position ``TypeError: list indices must be integers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, cast

import pytest
from neural_heatmap import (
    InvalidArgumentError,
    InvalidParameterError,
    NeuralHeatmapClient,
    ViewFilterWarning,
)

from tests.sdk.conftest import Seed

Call = Callable[[NeuralHeatmapClient], Awaitable[Any]]


async def test_a_filter_of_unknown_layers_warns_and_renders_say_they_are_empty(
    client: NeuralHeatmapClient, seeded: Seed
) -> None:
    stored = await client.set_filter(layer_ids=["layer1", "layer2"])
    assert stored.layer_ids == ["layer1", "layer2"]  # stored all the same
    assert len(stored.warnings) == 2, stored.warnings
    assert "'layer1', 'layer2' match no known layer" in stored.warnings[0]
    assert "hides all" in stored.warnings[1] and "filter --clear" in stored.warnings[1]
    read_back = await client.get_filter()
    assert read_back == stored and read_back.warnings == stored.warnings  # said on reading too

    for image in (await client.render_heatmap(), await client.render_correlation()):
        assert image.empty and image.startswith(b"\x89PNG"), repr(image)
        assert len(image.warnings) == 1 and "hides all" in image.warnings[0]

    assert (await client.set_filter(model_ids=["m1"])).warnings == []
    assert (await client.get_filter()).warnings == []
    drawn = await client.render_heatmap()
    assert not drawn.empty and drawn.warnings == []


@pytest.mark.parametrize(("call", "parameter", "shape"), [
    (lambda c: c.get_anomalies(limit=-1), "limit", "an integer from 0 to 4294967295"),
    (lambda c: c.get_anomalies(limit=1.5), "limit", "an integer"),
    (lambda c: c.set_filter(spatial_bounds={"x": 0, "y": 0, "w": 1, "h": 1}),
     "spatial_bounds", "{'min_x': number, 'min_y': number, 'max_x': number, 'max_y': number}"),
    (lambda c: c.set_filter(spatial_bounds=[0, 1]), "spatial_bounds", "4 numbers in that order"),
    (lambda c: c.set_filter(intensity_range=[0, 1, 2]), "intensity_range", "[min, max]"),
    (lambda c: c.set_filter(time_range="yesterday"), "time_range", "[start, end]"),
    (lambda c: c.set_layout({"panel_positions": {"main": [0, 0]}}),
     "layout.panel_positions['main']", "{'x': number, 'y': number}"),
    (lambda c: c.set_layout({"panel_sizes": {"main": {"width": "wide", "height": 1}}}),
     "layout.panel_sizes['main']['width']", "a finite number"),
    (lambda c: c.set_layout({"positions": {}}), "layout", "panel_positions"),
])
async def test_a_wrong_argument_is_one_typed_error_naming_it(
    client: NeuralHeatmapClient, call: Call, parameter: str, shape: str
) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        await call(client)
    exc = raised.value
    assert exc.parameter == parameter and shape in exc.expected, (exc.parameter, exc.expected)
    assert str(exc).startswith(f"{parameter} must be ") and "got " in str(exc)
    # one except catches the SDK's refusals and the server's; the seed's code caught these
    assert isinstance(exc, InvalidArgumentError)
    assert isinstance(exc, ValueError) and isinstance(exc, TypeError)


async def test_the_seeds_real_time_example_warns_when_the_filter_hides_every_heatmap(
    client: NeuralHeatmapClient, seeded: Seed
) -> None:
    """The original trap: after the Quick Start's filter, the Real-Time Updates example
    (``subscribe_heatmap()`` then ``stream_updates()``) printed nothing for 15 s."""
    await client.set_filter(layer_ids=["layer1", "layer2"])
    await client.subscribe_heatmap()
    try:
        with pytest.warns(ViewFilterWarning) as said:
            stream = cast("AsyncGenerator[Any, None]", client.stream_updates())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await anext(stream)
            await stream.aclose()
        messages = [str(w.message) for w in said]
        assert len(messages) == 2 and "hides all" in messages[1], messages
        assert all(m.startswith("heatmap updates follow the stored view filter: ")
                   for m in messages)
        await client.clear_filter()
        with warnings.catch_warnings():
            warnings.simplefilter("error", ViewFilterWarning)  # nothing to say now
            stream = cast("AsyncGenerator[Any, None]", client.stream_updates())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await anext(stream)
            await stream.aclose()
    finally:
        await client.unsubscribe("heatmap")
