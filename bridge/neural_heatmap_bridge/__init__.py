"""gRPC bridge to the Neural Heatmap server.

Serves ``neural_heatmap.v1.NeuralHeatmapService`` by translating each RPC to
the server's HTTP routes and fanning out one shared upstream WebSocket to
every stream. See ``docs/bridge.md`` for flags, the error table and the
stream policies.
"""

from ._config import BridgeConfig, build_parser, parse_config
from ._errors import UpstreamError
from ._server import SERVICE_NAME, Bridge

__all__ = [
    "SERVICE_NAME",
    "Bridge",
    "BridgeConfig",
    "UpstreamError",
    "build_parser",
    "parse_config",
]
