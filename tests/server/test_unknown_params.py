"""Nothing silently ignored: an undeclared query parameter or body field is a 400 naming it.

The routes come from the contract's route table (which the server registers)
and the bodies from the server's OpenAPI document, so a route added later is
covered without touching this file. The ids rule (``neural_heatmap_contract.ids``)
is checked on every ingestion form the server has, and ``/api/anomalies`` takes
repeated ids.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote

import aiohttp
import numpy as np
import pytest
from neural_heatmap_contract.ids import ID_RULE
from neural_heatmap_contract.routes import http_routes

from tests.server.conftest import Api, unique
from tests.support.server_process import ServerProcess

UNKNOWN = "no_such_param"
# Every route the server registers (tests/contract/test_routes.py: exactly the table's).
ROUTES = [(r.method, r.router_path) for r in http_routes().values()]


def _concrete(path: str) -> str:
    """A request path for a route template (``{name}`` and ``{name:.+}`` become ``x``)."""
    return re.sub(r"\{[^}]+\}", "x", path)


def _assert_refused(status: int, doc: Any, name: str, where: str) -> list[str]:
    assert status == 400, (where, status, doc)
    err = doc["error"]
    assert err["code"] == "invalid_argument" and err["details"]["field"] == name, (where, err)
    assert repr(name) in err["message"], (where, err)
    allowed: list[str] = err["details"]["allowed"]
    return allowed


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_an_unknown_query_parameter_is_refused_on_every_route(api: Api, method: str,
                                                              path: str) -> None:
    template = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)
    declared = api.get("/openapi.json")["paths"].get(template, {}).get(method.lower(), {})
    expected = sorted(p["name"] for p in declared.get("parameters", []) if p["in"] == "query")
    status, doc = api.call(method, f"{_concrete(path)}?{UNKNOWN}=1",
                           body={} if method == "POST" else None)
    allowed = _assert_refused(status, doc, UNKNOWN, f"{method} {path}")
    assert allowed == expected  # the answer lists what the document declares


def test_every_declared_query_parameter_is_accepted(api: Api) -> None:
    """The other direction: no parameter the document declares is refused as unknown."""
    for path, ops in api.get("/openapi.json")["paths"].items():
        for method, op in ops.items():
            for param in (p for p in op.get("parameters", []) if p["in"] == "query"):
                status, _, raw = api.request(method.upper(),
                                             f"{_concrete(path)}?{param['name']}=1")
                if status == 400:
                    message = json.loads(raw)["error"]["message"]
                    assert "unknown query parameter" not in message, (path, param, message)


def _json_bodies(api: Api) -> list[tuple[str, str]]:
    document = api.get("/openapi.json")
    return [(method.upper(), path) for path, ops in document["paths"].items()
            for method, op in ops.items() if "requestBody" in op]


def test_every_route_with_a_body_refuses_an_unknown_field(api: Api) -> None:
    bodies = _json_bodies(api)
    assert ("POST", "/api/compare") in bodies and ("POST", "/api/activations") in bodies
    for method, path in bodies:
        status, doc = api.call(method, _concrete(path), body={UNKNOWN: 1})
        _assert_refused(status, doc, UNKNOWN, f"{method} {path}")


def test_each_known_body_still_works_next_to_the_refusal(api: Api) -> None:
    """The refusal is about the field: the same body without it is accepted."""
    head = api.get("/api/consumers/unknown-fields")["acked_sequence"]
    good = {"sequence": head}
    status, doc = api.call("POST", "/api/consumers/unknown-fields/ack", body={**good, "seq": 1})
    assert _assert_refused(status, doc, "seq", "ack") == ["sequence"]
    assert api.post("/api/consumers/unknown-fields/ack", good)["acked_sequence"] == head
    status, doc = api.call("POST", "/api/export/correlation",
                           body={"filename": "x.json", "format": "json", "layers": ["a"]})
    assert "layer_ids" in _assert_refused(status, doc, "layers", "export")


def test_an_unknown_frame_field_names_the_frame(api: Api) -> None:
    model = unique("extra")
    frame = {"model_id": model, "layer_id": "l", "values": [1.0, 2.0]}
    status, doc = api.call("POST", "/api/activations",
                           body={"frames": [frame, {**frame, "stepp": 3}]})
    allowed = _assert_refused(status, doc, "stepp", "frame")
    assert allowed == ["model_id", "layer_id", "values", "timestamp", "step"]
    assert doc["error"]["details"]["index"] == 1
    status, doc = api.call("POST", "/api/activations", body={"frames": [frame], "model": "m"})
    _assert_refused(status, doc, "model", "wrapper")
    assert api.post("/api/activations", {"frames": [frame]}) == {"accepted": 1}


def test_the_seed_clients_parameters_are_accepted(api: Api) -> None:
    """The seed's contract table (docs/seed-contract.md), every parameter at once."""
    model = unique("seed")
    api.ingest_series(model, "x", np.random.default_rng(1).normal(0, 1, (30, 4)))
    api.ingest_series(model, "y", np.random.default_rng(2).normal(0, 1, (30, 4)))
    corr = api.get(f"/api/correlation?model_ids={model}&layer_ids=x,y")
    assert corr["labels"] == [f"{model}/x", f"{model}/y"]
    api.get(f"/api/temporal?model_id={model}&time_window=1000&pattern_types=periodic,trend")
    api.get(f"/api/temporal/stats?model_id={model}")
    assert api.get(f"/api/anomalies?severity=low&limit=5&model_id={model}")["anomalies"] == []


@pytest.mark.parametrize("bad", ["p,q", "p/q", " p", "p ", "\tp", ""])
def test_an_id_the_comma_form_could_split_is_refused_at_every_ingest_form(api: Api,
                                                                          bad: str) -> None:
    frame = {"model_id": bad, "layer_id": "l", "values": [1.0]}
    for body in (frame, {"frames": [frame]}, {**frame, "model_id": "m", "layer_id": bad}):
        status, doc = api.call("POST", "/api/activations", body=body)
        assert status == 400, (bad, body, doc)
        assert ID_RULE in doc["error"]["message"]
    record = np.zeros(1, dtype=[("timestamp", "<f8"), ("step", "<i8"), ("values", "<f4", (1,))])
    status, _, raw = api.request(
        "POST", f"/api/activations?model_id={quote(bad)}&layer_id=l&units=1",
        raw=record.tobytes(), headers={"Content-Type": "application/vnd.neural-heatmap.frames"})
    assert status == 400 and ID_RULE in json.loads(raw)["error"]["message"], raw


async def test_websocket_ingest_follows_the_id_rule(server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        for model, kind in (("p,q", "error"), ("p", "data")):
            await ws.send_str(json.dumps({"type": "ingest_activations", "data": {
                "model_id": model, "layer_id": unique("ws-l"), "values": [1.0]}}))
            async with asyncio.timeout(10):
                doc = json.loads((await ws.receive()).data)
                while doc["data"].get("request") != "ingest_activations":
                    doc = json.loads((await ws.receive()).data)
            assert doc["type"] == kind, doc
            if kind == "error":
                assert ID_RULE in doc["data"]["message"]


def test_anomalies_take_repeated_model_ids(api: Api) -> None:
    """``model_id`` repeated selects several models, like the seed's ``model_ids`` list."""
    models = [unique("an1"), unique("an2"), unique("an3")]
    for model in models:  # a NaN unit: one critical non_finite anomaly per model
        api.post("/api/activations", {"model_id": model, "layer_id": "n",
                                      "values": [float("nan")] + [0.5] * 7})

    def models_of(query: str) -> set[str]:
        doc = api.get(f"/api/anomalies?limit=1000&{query}")
        return {a["model_id"] for a in doc["anomalies"]}

    assert models_of(f"model_id={models[0]}") == {models[0]}
    both = models_of(f"model_id={models[0]}&model_id={models[1]}")
    assert both == {models[0], models[1]}
    assert models_of(f"model_ids={models[0]},{models[1]}") == both
    status, doc = api.call("GET", f"/api/anomalies?model_ids={models[0]}&model_id={models[1]}")
    assert status == 400 and doc["error"]["details"]["constraint"] == "model_ids xor model_id"
