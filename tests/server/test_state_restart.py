"""View state, restart persistence, retention (410), auth, body limits, request ids."""

from __future__ import annotations

import numpy as np

from tests.server.conftest import FAST_ARGS, Api
from tests.support.server_process import ServerProcess

FILTER = {"model_ids": ["a"], "layer_ids": ["fc1"], "intensity_range": [0.0, 1.0],
          "spatial_bounds": {"min_x": 0, "min_y": 0, "max_x": 4, "max_y": 4},
          "time_range": [1000.0, 2000.0]}
LAYOUT = {"panel_positions": {"heatmap": {"x": 10, "y": 20}},
          "panel_sizes": {"heatmap": {"width": 300, "height": 200}},
          "visibility": {"heatmap": True, "stats": False}, "z_order": ["heatmap", "stats"]}


def test_view_state_roundtrip_and_validation(api: Api) -> None:
    answer = api.post("/api/filter", FILTER)
    assert answer.pop("warnings")  # model "a" sent no frame here: said, and stored anyway
    assert answer == {"status": "ok", "filter": {
        **FILTER, "spatial_bounds": {k: float(v) for k, v in FILTER["spatial_bounds"].items()}}}
    assert api.get("/api/filter")["layer_ids"] == ["fc1"]
    assert api.post("/api/filter", {}) == {"status": "ok", "filter": {}, "warnings": []}
    assert api.get("/api/filter") == {}
    api.post("/api/filter", {"model_ids": ["x"]})
    assert api.call("DELETE", "/api/filter")[0] == 200 and api.get("/api/filter") == {}
    assert api.post("/api/theme", {"theme": "plasma"})["theme"] == "plasma"
    assert api.get("/api/theme") == {"theme": "plasma", "custom_colors": []}
    api.post("/api/theme", {"theme": "custom", "custom_colors": ["#FF0000", "#00ff00"]})
    assert api.get("/api/theme")["custom_colors"] == ["#ff0000", "#00ff00"]
    assert api.post("/api/layout", LAYOUT)["layout"]["z_order"] == ["heatmap", "stats"]
    assert api.get("/api/layout")["panel_sizes"]["heatmap"] == {"width": 300.0, "height": 200.0}
    bad = [
        ("/api/filter", {"intensity_range": [2, 1]}),
        ("/api/filter", {"time_range": [5000, 1000]}),
        ("/api/filter", {"spatial_bounds": {"min_x": 5, "min_y": 0, "max_x": 1, "max_y": 1}}),
        ("/api/filter", {"model_ids": "a"}),
        ("/api/filter", {"colour": "red"}),
        ("/api/theme", {"theme": "neon"}),
        ("/api/theme", {"theme": "custom", "custom_colors": ["red"]}),
        ("/api/layout", {"panel_sizes": {"p": {"width": -1, "height": 2}}}),
        ("/api/layout", {"visibility": {"p": "yes"}}),
        ("/api/layout", {"grid": 3}),
    ]
    for path, body in bad:
        status, err = api.call("POST", path, body)
        assert status == 400 and err["error"]["code"] == "invalid_argument", (path, body, err)
    assert api.get("/api/theme")["theme"] == "custom"  # nothing changed
    assert api.get("/api/layout")["z_order"] == ["heatmap", "stats"]


def test_restart_keeps_anomalies_and_view_state() -> None:
    with ServerProcess(extra_args=FAST_ARGS) as server:
        api = Api(server)
        for i in range(3):
            api.post("/api/activations", {"model_id": "m", "layer_id": "l", "step": i,
                                          "values": [float("nan"), 1.0]})
        before = api.get("/api/anomalies")
        api.post("/api/filter", FILTER)
        api.post("/api/theme", {"theme": "holographic"})
        api.post("/api/layout", LAYOUT)
        server.restart()
        after = api.get("/api/anomalies")
        assert after["anomalies"] == before["anomalies"]
        assert after["last_sequence"] == before["last_sequence"] == 3
        assert api.get("/api/filter")["time_range"] == [1000.0, 2000.0]
        assert api.get("/api/theme")["theme"] == "holographic"
        assert api.get("/api/layout")["visibility"] == {"heatmap": True, "stats": False}
        server.kill()
        server.start()
        api.post("/api/activations", {"model_id": "m", "layer_id": "l", "values": [np.inf, 1.0]})
        doc = api.get("/api/anomalies")
        assert [a["sequence"] for a in doc["anomalies"]] == [1, 2, 3, 4]


def test_retention_expires_sequences_and_limits() -> None:
    with ServerProcess(extra_args=[*FAST_ARGS, "--anomaly-retention", "3",
                                   "--max-body-bytes", "2000"], token="s3cret") as server:
        api = Api(server)
        for _ in range(5):
            api.post("/api/activations", {"model_id": "m", "layer_id": "l", "values": [np.nan]})
        doc = api.get("/api/anomalies")
        assert [a["sequence"] for a in doc["anomalies"]] == [3, 4, 5]
        assert (doc["first_sequence"], doc["last_sequence"]) == (3, 5)
        status, err = api.call("GET", "/api/anomalies?after_sequence=1")
        assert status == 410 and err["error"]["code"] == "sequence_expired"
        assert [a["sequence"] for a in api.get("/api/anomalies?after_sequence=2")["anomalies"]] \
            == [3, 4, 5]
        status, err = api.call("POST", "/api/activations",
                               {"model_id": "m", "layer_id": "l", "values": [1.0] * 500})
        assert status == 413 and err["error"]["code"] == "payload_too_large"
        server.token = None
        status, err = api.call("GET", "/api/models")
        assert status == 401 and err["error"]["code"] == "unauthenticated"
        status, _ = api.call("GET", "/api/models", headers={"Authorization": "Bearer wrong"})
        assert status == 401
        assert api.call("GET", "/ws")[0] == 401  # the upgrade request needs the token too
        assert api.call("GET", "/health")[0] == 200
        assert api.call("GET", "/openapi.json")[0] == 200


def test_request_id_and_unknown_route(api: Api) -> None:
    status, headers, _ = api.request("GET", "/api/models", headers={"X-Request-Id": "abc-123"})
    assert status == 200 and headers["X-Request-Id"] == "abc-123"
    status, headers, _ = api.request("GET", "/health")
    assert headers.get("X-Request-Id")
    status, err = api.call("GET", "/api/nothing-here")
    assert status == 404 and err["error"]["code"] == "not_found"
    status, err = api.call("PUT", "/api/filter", {})
    assert status == 405 and "error" in err
    assert api.get("/health")["status"] == "ok"
