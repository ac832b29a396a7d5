"""The route table against the protos, and every layer that derives from it.

``neural_heatmap_contract.routes`` is the one place a route's method and path are
written. Here: every RPC of the service has exactly one entry and no entry names an
unknown RPC (read from the compiled descriptor, so a new RPC without a route fails
here); the server registers exactly the table's routes with a handler each; the
OpenAPI document has one operation per route (the WebSocket upgrade aside); the
WebSocket messages the bridge sends are ones the server handles. Whether the paths
are the ones clients hit is pinned by the raw-HTTP tests in tests/server.
"""

from __future__ import annotations

import pytest
from neural_heatmap_contract import routes
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2
from neural_heatmap_server import app, openapi, ws
from neural_heatmap_server.config import ServerConfig

SERVICE = neural_heatmap_service_pb2.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
RPCS = [method.name for method in SERVICE.methods]


def test_every_rpc_has_exactly_one_route_and_no_route_names_an_unknown_rpc() -> None:
    assert list(routes.RPC_ROUTES) == RPCS  # same names, once each, in the proto's order


def test_server_only_routes_are_no_rpcs_and_every_operation_is_declared_once() -> None:
    assert not set(routes.SERVER_ROUTES) & set(RPCS)
    operations = [r.operation for r in routes.http_routes().values()]
    assert len(operations) == len(set(operations))
    assert len(routes.http_routes()) == len(routes.SERVER_ROUTES) + sum(
        isinstance(b, routes.HttpRoute) for b in routes.RPC_ROUTES.values())


def test_routes_are_well_formed() -> None:
    for name, route in routes.http_routes().items():
        assert route.method in {"GET", "POST", "DELETE"}, name
        assert route.path.startswith("/") and not route.path.endswith("/"), name
        assert set(route.wide) <= set(route.params), name
    for name, binding in routes.RPC_ROUTES.items():
        if isinstance(binding, routes.WebSocketRoute):
            assert binding.subscribe, name
            assert all(m.startswith("subscribe_") for m in binding.subscribe), name
        if isinstance(binding, routes.SameRoute):  # names an RPC with a route of its own
            assert isinstance(routes.RPC_ROUTES[binding.rpc], routes.HttpRoute), name


def test_paths_are_filled_and_routed_as_declared() -> None:
    download = routes.http("DownloadExport")
    assert download.params == ("name",)
    assert download.router_path == "/api/exports/{name:.+}"
    assert download.fill(name="run/a%2Cb.csv") == "/api/exports/run/a%2Cb.csv"
    ack = routes.http("AckAnomalies")
    assert ack.router_path == ack.path  # a one-segment parameter keeps aiohttp's default
    assert ack.fill(name="c1") == "/api/consumers/c1/ack"
    assert ack.operation == "POST /api/consumers/{name}/ack"
    with pytest.raises(KeyError, match="takes the path parameters"):
        ack.fill()
    with pytest.raises(KeyError, match="takes the path parameters"):
        routes.http("ListModels").fill(name="x")


def test_lookups_refuse_what_the_table_does_not_have() -> None:
    with pytest.raises(KeyError, match="no HTTP route named 'SubscribeHeatmap'"):
        routes.http("SubscribeHeatmap")  # a WebSocket RPC
    with pytest.raises(KeyError, match="no HTTP route named 'Nope'"):
        routes.http("Nope")
    with pytest.raises(KeyError, match="RPC 'ListModels' has no WebSocket route"):
        routes.websocket("ListModels")
    assert routes.http("ClearFilter") == routes.http("SetFilter")  # a SameRoute
    assert routes.websocket("StreamUpdates").unsubscribe == (
        "unsubscribe_heatmap", "unsubscribe_correlations", "unsubscribe_temporal",
        "unsubscribe_anomalies")


def test_the_server_registers_exactly_the_tables_routes() -> None:
    assert set(app.HANDLERS) == set(routes.http_routes())
    registered = {(r.method, r.resource.canonical) for r in
                  app.create_app(ServerConfig(source=False)).router.routes()
                  if r.resource is not None and r.method != "HEAD"}
    assert registered == {(r.method, r.path) for r in routes.http_routes().values()}
    assert set(app.PUBLIC_PATHS) == {"/health", "/openapi.json"}


@pytest.mark.parametrize("token", [None, "secret"])
def test_openapi_has_one_operation_per_route(token: str | None) -> None:
    doc = openapi.openapi_document(ServerConfig(token=token))
    documented = {(method.upper(), path): op for path, ops in doc["paths"].items()
                  for method, op in ops.items()}
    expected = {(r.method, r.path): r for name, r in routes.http_routes().items()
                if name not in openapi.NOT_OPERATIONS}
    assert set(documented) == set(expected)
    for key, route in expected.items():
        if token is None:
            assert "security" not in documented[key]
        else:
            assert documented[key]["security"] == ([] if route.public else [{"bearer": []}])


def test_the_servers_websocket_handles_every_message_the_table_names() -> None:
    for binding in routes.RPC_ROUTES.values():
        if isinstance(binding, routes.WebSocketRoute):
            assert set(binding.subscribe) | set(binding.unsubscribe) <= set(ws.HANDLERS)
