"""Render the contract's route table into the docs, between marker comments.

``docs/http-api.md`` gets every HTTP route of the server with the RPCs the bridge serves
through it and the route's summary from the server's OpenAPI document; ``docs/bridge.md``
gets each RPC with the upstream call it becomes. Both come from
``neural_heatmap_contract.routes``, the one place a route is written. Run by ``make gen``
(``scripts/gen.sh``); ``--check`` (``make lint``) fails when a doc differs from the table.

Usage: ``python scripts/render_route_table.py [--check]`` (cwd anywhere; the packages are
found at ``contract/python`` and ``server``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "contract/python"), str(ROOT / "server")]

from neural_heatmap_contract import routes  # noqa: E402
from neural_heatmap_server.config import ServerConfig  # noqa: E402
from neural_heatmap_server.openapi import openapi_document  # noqa: E402
from render_error_table import render  # noqa: E402  (scripts/ is on sys.path as the script's)


def _messages(binding: routes.WebSocketRoute) -> str:
    return ", ".join(f"`{m}`" for m in binding.subscribe)


def _rpcs_by_route() -> dict[str, list[str]]:
    """Route name -> how each RPC served through it is named in the server's table."""
    served: dict[str, list[str]] = {name: [] for name in routes.http_routes()}
    for rpc, binding in routes.RPC_ROUTES.items():
        if isinstance(binding, routes.HttpRoute):
            served[rpc].append(f"`{rpc}`")
        elif isinstance(binding, routes.SameRoute):
            served[binding.rpc].append(f"`{rpc}` (sends {binding.how})")
        else:
            served["WebSocket"].append(f"`{rpc}` ({_messages(binding)})")
    return served


def server_table() -> str:
    """Every HTTP route of the server (docs/http-api.md)."""
    paths = openapi_document(ServerConfig())["paths"]
    lines = ["| route | RPC the bridge serves with it | what |", "|---|---|---|"]
    served = _rpcs_by_route()
    by_path = sorted(routes.http_routes().items(), key=lambda item: (item[1].path,
                                                                      item[1].method))
    for name, route in by_path:
        op = paths.get(route.path, {}).get(route.method.lower())
        what = op["summary"].replace("<", "&lt;") if op else "the WebSocket (below)"
        if route.public:
            what += " No token needed."
        lines.append(f"| `{route.operation}` | {', '.join(served[name]) or '-'} | {what} |")
    return "\n".join(lines)


def bridge_table() -> str:
    """Each RPC and the upstream call the bridge makes for it (docs/bridge.md)."""
    ws = routes.http("WebSocket").path
    lines = ["| RPC | upstream call |", "|---|---|"]
    for rpc, binding in routes.RPC_ROUTES.items():
        if isinstance(binding, routes.HttpRoute):
            call = f"`{binding.operation}`"
        elif isinstance(binding, routes.SameRoute):
            call = f"`{routes.http(rpc).operation}` with {binding.how}"
        else:
            call = f"the shared WebSocket `{ws}`: {_messages(binding)} (and `un...` to stop)"
        lines.append(f"| `{rpc}` | {call} |")
    return "\n".join(lines)


TARGETS = {
    ROOT / "docs/http-api.md": ("routes", server_table),
    ROOT / "docs/bridge.md": ("upstream-calls", bridge_table),
}


def main(argv: list[str]) -> int:
    """Write the docs, or with ``--check`` report the stale ones and fail."""
    check = "--check" in argv
    stale = []
    for path, (name, make) in TARGETS.items():
        old = path.read_text()
        new = render(old, name, make(), by="scripts/render_route_table.py")
        if new != old:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new)
    if check and stale:
        print("route table docs are stale; run 'make gen' and commit:",
              *map(str, stale), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
