"""Server-side exports (all formats, traversal refused) and the OpenAPI document."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow.parquet as pq
from neural_heatmap_server.app import create_app
from neural_heatmap_server.config import ServerConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.server.conftest import Api, unique
from tests.support.server_process import ServerProcess


def _model(api: Api) -> str:
    rng = np.random.default_rng(5)
    model = unique("exp")
    for layer in ("fc1", "fc2", "out"):
        api.ingest_series(model, layer, rng.normal(0, 1, (40, 8)).astype(np.float32))
    return model


def test_export_formats(api: Api, server: ServerProcess) -> None:
    model = _model(api)
    expected = api.get(f"/api/correlation?model_ids={model}")
    res = api.post("/api/export/correlation", {"filename": f"{model}.csv", "format": "csv",
                                               "model_ids": [model]})
    assert res["status"] == "ok" and res["files"][0]["name"] == f"{model}.csv"
    rows = list(csv.reader(io.StringIO((server.export_dir / f"{model}.csv").read_text())))
    assert rows[0][1:] == expected["labels"]
    np.testing.assert_allclose(np.array(rows[1:])[:, 1:].astype(float), expected["matrix"])

    api.post("/api/export/correlation", {"filename": f"{model}.json", "format": "json",
                                         "model_ids": [model]})
    doc = json.loads((server.export_dir / f"{model}.json").read_text())
    assert doc["labels"] == expected["labels"]

    api.post("/api/export/correlation", {"filename": f"{model}.parquet", "format": "parquet",
                                         "model_ids": [model]})
    table = pq.read_table(server.export_dir / f"{model}.parquet")
    assert table.column("label").to_pylist() == expected["labels"]
    np.testing.assert_allclose(table.column(expected["labels"][1]).to_numpy(),
                               np.array(expected["matrix"])[:, 1])

    res = api.post("/api/export/correlation", {"filename": f"{model}-tb",
                                               "format": "tensorboard", "model_ids": [model]})
    assert res["bytes"] > 0 and all(f["name"].startswith(f"{model}-tb/") for f in res["files"])
    acc = EventAccumulator(str(server.export_dir / f"{model}-tb"),
                           size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert f"activations/{model}/fc1/mean" in tags["scalars"]
    assert len(acc.Scalars(f"activations/{model}/fc1/mean")) == 40
    assert f"activations/{model}/out/histogram" in tags["histograms"]
    assert "correlation/matrix" in tags["images"]

    listing = api.get("/api/exports")["exports"]
    names = {e["name"] for e in listing}
    assert {f"{model}.csv", f"{model}.parquet", res["files"][0]["name"]} <= names
    status, _, body = api.request("GET", f"/api/exports/{model}.json")
    assert status == 200 and json.loads(body)["labels"] == expected["labels"]
    status, _, body = api.request("GET", "/api/exports/" + res["files"][0]["name"])
    assert status == 200 and len(body) == res["files"][0]["size"]


def test_export_refuses_escapes_and_bad_input(api: Api, server: ServerProcess) -> None:
    model = _model(api)
    for name in ["../evil.csv", "/etc/passwd", "a/b.csv", ".hidden", "..", "", "x\\y", None,
                 "a" * 200]:
        status, err = api.call("POST", "/api/export/correlation",
                               {"filename": name, "format": "csv", "model_ids": [model]})
        assert status == 400, (name, err)
    status, err = api.call("POST", "/api/export/correlation",
                           {"filename": "x.bin", "format": "excel"})
    assert status == 400
    assert not (server.export_dir.parent / "evil.csv").exists()
    for path in ["/api/exports/..%2F..%2Fetc%2Fpasswd", "/api/exports/../data",
                 "/api/exports/a/b/c", "/api/exports/missing.csv", "/api/exports/.hidden"]:
        status, _, _ = api.request("GET", path)
        assert status in (400, 404), path
    api.post("/api/export/correlation", {"filename": "dir-tb", "format": "tensorboard",
                                         "model_ids": [model]})
    status, err = api.call("POST", "/api/export/correlation",
                           {"filename": "dir-tb", "format": "csv", "model_ids": [model]})
    assert status == 409


def test_openapi_matches_routes(api: Api) -> None:
    doc = api.get("/openapi.json")
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    app = create_app(ServerConfig(source=False))
    registered = {(r.resource.canonical, r.method) for r in app.router.routes()
                  if r.resource is not None and r.method != "HEAD"}
    # the WebSocket is not an HTTP operation; docs/http-api.md describes it
    assert documented == registered - {("/ws", "GET")}
