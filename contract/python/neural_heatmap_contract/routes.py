"""The route table: each RPC's HTTP route (or WebSocket message) on the server, written once.

The bridge serves every RPC of ``neural_heatmap.v1.NeuralHeatmapService`` by calling the
server over HTTP or its WebSocket; the server's router (``app.py``), its OpenAPI document
(``openapi.py``), the bridge's upstream calls and the route tables in docs/http-api.md and
docs/bridge.md (``scripts/render_route_table.py``) all read the method and path here, so a
route cannot be spelt two ways. ``tests/contract/test_routes.py`` ties the table to the
protos (every RPC has exactly one entry, no entry names an unknown RPC) and
``tests/contract/test_route_literals.py`` fails when a route string is written by hand
anywhere else.

Two tables:

* ``RPC_ROUTES``, keyed by RPC name: an ``HttpRoute`` (one request per call, or one
  request per batch for ``IngestActivations``), a ``WebSocketRoute`` (the
  ``subscribe_*`` messages a live stream sends upstream) or a ``SameRoute`` (the bridge
  sends another RPC's request: ``ClearFilter`` is ``SetFilter`` with ``{}``).
* ``SERVER_ROUTES``: the server's HTTP routes that no RPC owns (probes, the document,
  metrics, the WebSocket itself, ``DELETE /api/filter``, the durable consumers' cursor
  and claim), keyed by a name that is not an RPC's.

Paths are OpenAPI templates (``/api/exports/{name}``); a parameter that may span
several segments says so in ``wide`` and ``router_path`` gives aiohttp's form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP operation of the server.

    Attributes:
        method: ``GET``, ``POST`` or ``DELETE``.
        path: The OpenAPI path template, parameters in braces (``/api/consumers/{name}``).
        public: Answered without the bearer token (probes and the document).
        wide: Path parameters that may contain ``/`` (an export inside a run directory).
    """

    method: str
    path: str
    public: bool = False
    wide: tuple[str, ...] = ()

    @property
    def operation(self) -> str:
        """``"GET /api/anomalies"``: how messages and the docs name the route."""
        return f"{self.method} {self.path}"

    @property
    def params(self) -> tuple[str, ...]:
        """The path parameters, in order."""
        return tuple(_PARAM.findall(self.path))

    @property
    def router_path(self) -> str:
        """The path as aiohttp's router takes it: a ``wide`` parameter matches ``.+``."""
        return _PARAM.sub(lambda m: f"{{{m[1]}:.+}}" if m[1] in self.wide else m[0], self.path)

    def fill(self, **values: str) -> str:
        """The path with each parameter replaced by its value, inserted as given.

        Args:
            **values: One value per path parameter, already percent-encoded by the caller
                (the bridge's ``_upstream.segment``); a wide one may hold ``/``.

        Raises:
            KeyError: A parameter is missing, or a value names no parameter.
        """
        if set(values) != set(self.params):
            raise KeyError(f"{self.operation} takes the path parameters {self.params}, "
                           f"not {tuple(sorted(values))}")
        return _PARAM.sub(lambda m: values[m[1]], self.path)


@dataclass(frozen=True)
class WebSocketRoute:
    """An RPC served over the server's WebSocket (``SERVER_ROUTES["WebSocket"]``).

    Attributes:
        subscribe: The client message types the bridge sends for it; each has an
            ``unsubscribe_*`` twin (``unsubscribe``).
    """

    subscribe: tuple[str, ...]

    @property
    def unsubscribe(self) -> tuple[str, ...]:
        """The matching ``unsubscribe_*`` message types."""
        return tuple(f"un{message}" for message in self.subscribe)


@dataclass(frozen=True)
class SameRoute:
    """An RPC the bridge serves with another RPC's route.

    Attributes:
        rpc: The RPC whose ``HttpRoute`` is called.
        how: What is sent on it, for the docs.
    """

    rpc: str
    how: str


Binding = HttpRoute | WebSocketRoute | SameRoute

# In the order of the service in protos/neural_heatmap/v1/neural_heatmap_service.proto.
RPC_ROUTES: Mapping[str, Binding] = MappingProxyType({
    "ListModels": HttpRoute("GET", "/api/models"),
    "GetCorrelationMatrix": HttpRoute("GET", "/api/correlation"),
    "GetTemporalPatterns": HttpRoute("GET", "/api/temporal"),
    "GetTemporalStatistics": HttpRoute("GET", "/api/temporal/stats"),
    "GetAnomalies": HttpRoute("GET", "/api/anomalies"),
    "SetFilter": HttpRoute("POST", "/api/filter"),
    "ClearFilter": SameRoute("SetFilter", "an empty filter `{}`: the seed's way, which every "
                                          "upstream has, unlike `DELETE`"),
    "GetFilter": HttpRoute("GET", "/api/filter"),
    "SetTheme": HttpRoute("POST", "/api/theme"),
    "GetTheme": HttpRoute("GET", "/api/theme"),
    "SetLayout": HttpRoute("POST", "/api/layout"),
    "GetLayout": HttpRoute("GET", "/api/layout"),
    "CompareModels": HttpRoute("POST", "/api/compare"),
    "ExportCorrelationMatrix": HttpRoute("POST", "/api/export/correlation"),
    "ListExports": HttpRoute("GET", "/api/exports"),
    "DownloadExport": HttpRoute("GET", "/api/exports/{name}", wide=("name",)),
    "SubscribeHeatmap": WebSocketRoute(("subscribe_heatmap",)),
    "SubscribeCorrelations": WebSocketRoute(("subscribe_correlations",)),
    "SubscribeTemporal": WebSocketRoute(("subscribe_temporal",)),
    "SubscribeAnomalies": WebSocketRoute(("subscribe_anomalies",)),
    "StreamUpdates": WebSocketRoute(("subscribe_heatmap", "subscribe_correlations",
                                     "subscribe_temporal", "subscribe_anomalies")),
    "IngestActivations": HttpRoute("POST", "/api/activations"),
    "RenderHeatmap": HttpRoute("GET", "/api/render"),
    "AckAnomalies": HttpRoute("POST", "/api/consumers/{name}/ack"),
    "GetLayerHealth": HttpRoute("GET", "/api/layers/health"),
})

SERVER_ROUTES: Mapping[str, HttpRoute] = MappingProxyType({
    "Health": HttpRoute("GET", "/health", public=True),
    "OpenApi": HttpRoute("GET", "/openapi.json", public=True),
    "Metrics": HttpRoute("GET", "/metrics"),
    "WebSocket": HttpRoute("GET", "/ws"),
    "DeleteFilter": HttpRoute("DELETE", "/api/filter"),  # the server's own way to clear
    # A durable consumer's cursor and a group member's lease (SubscribeAnomalies with
    # ``consumer``); acknowledging is AckAnomalies.
    "GetConsumer": HttpRoute("GET", "/api/consumers/{name}"),
    "ClaimAnomalies": HttpRoute("POST", "/api/consumers/{name}/claim"),
})


def http_routes() -> dict[str, HttpRoute]:
    """Every HTTP route of the server by name: ``SERVER_ROUTES``, then the RPCs' routes."""
    rpcs = {name: b for name, b in RPC_ROUTES.items() if isinstance(b, HttpRoute)}
    return {**SERVER_ROUTES, **rpcs}


def http(name: str) -> HttpRoute:
    """The HTTP route of an RPC (for a ``SameRoute``, the route it uses) or of a
    ``SERVER_ROUTES`` name.

    Raises:
        KeyError: ``name`` is neither, or its RPC has no HTTP route.
    """
    binding = RPC_ROUTES.get(name)
    route = http_routes().get(binding.rpc if isinstance(binding, SameRoute) else name)
    if route is None:
        raise KeyError(f"no HTTP route named {name!r}: see neural_heatmap_contract.routes")
    return route


def websocket(rpc: str) -> WebSocketRoute:
    """The WebSocket messages of an RPC served over the WebSocket.

    Raises:
        KeyError: ``rpc`` is unknown or not served over the WebSocket.
    """
    binding = RPC_ROUTES.get(rpc)
    if not isinstance(binding, WebSocketRoute):
        raise KeyError(f"RPC {rpc!r} has no WebSocket route: see neural_heatmap_contract.routes")
    return binding
