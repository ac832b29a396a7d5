"""Answers the stored view filter empties say so (issue 27): the filter's answer warns
about ids that match nothing known, and a render of nothing says why in its headers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.server.conftest import Api
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    """A server of its own: the layer counts in the warnings are exact."""
    with ServerProcess() as server:
        yield Api(server)


def test_an_empty_store_has_nothing_to_hide_and_renders_say_so(api: Api) -> None:
    answer = api.post("/api/filter", {"layer_ids": ["layer1"]})
    assert answer["warnings"] == [
        "layer_ids 'layer1' match no known layer (known: none yet); stored, it applies once "
        "they send frames"]
    status, headers, png = api.request("GET", "/api/render")
    assert status == 200 and png.startswith(b"\x89PNG")
    assert headers["X-Render-Empty"] == "true"
    said = json.loads(headers["X-Render-Warning"])
    assert said == "no model has sent frames yet; nothing to draw"
    api.post("/api/filter", {})


def test_ids_that_match_nothing_warn_and_the_hidden_layers_are_counted(api: Api) -> None:
    for model, layer in (("mlp-a", "fc1"), ("mlp-a", "fc2"), ("mlp-b", "fc1")):
        api.post("/api/activations", {"model_id": model, "layer_id": layer,
                                      "values": [0.1, 0.2, 0.3, 0.4]})
    try:
        answer = api.post("/api/filter", {"model_ids": ["nope"], "layer_ids": ["layer1"]})
        assert answer["filter"] == {"model_ids": ["nope"], "layer_ids": ["layer1"]}  # stored
        assert answer["warnings"] == [
            "model_ids 'nope' match no known model (known: mlp-a, mlp-b); stored, it applies "
            "once they send frames",
            "layer_ids 'layer1' match no known layer (known: fc1, fc2); stored, it applies "
            "once they send frames",
            "the view filter (model_ids nope; layer_ids layer1) hides all 3 layers; clear it "
            "with `neural-heatmap filter --clear` (HTTP: POST /api/filter {})"]
        # reading the filter back says the same, in a header (the body stays the filter)
        status, headers, body = api.request("GET", "/api/filter")
        assert status == 200
        assert json.loads(body) == answer["filter"]
        assert json.loads(headers["X-Filter-Warnings"]) == answer["warnings"]
        for kind in ("heatmap", "correlation"):
            _, headers, _ = api.request("GET", f"/api/render?kind={kind}")
            assert headers.get("X-Render-Empty") == "true", kind
            assert "hides all 3 layers" in json.loads(headers["X-Render-Warning"])
        # known ids in another spelling (model/layer) are known: no warning at all
        assert api.post("/api/filter", {"layer_ids": ["mlp-a/fc2"]})["warnings"] == []
        assert "X-Filter-Warnings" not in api.request("GET", "/api/filter")[1]
        _, headers, _ = api.request("GET", "/api/render")
        assert "X-Render-Empty" not in headers and "X-Render-Warning" not in headers
        # an intensity range outside every value hides every unit drawn
        api.post("/api/filter", {"intensity_range": [5.0, 6.0]})
        _, headers, _ = api.request("GET", "/api/render?model_id=mlp-a")
        assert headers.get("X-Render-Empty") == "true"
        assert "hide every unit of the 2 layers" in json.loads(headers["X-Render-Warning"])
    finally:
        api.post("/api/filter", {})
