"""``neural-heatmap-serve``: the server (with its built-in activation source) and the bridge.

This is what ``make run`` calls. The server runs as a child process
(``python -m neural_heatmap_server``); the bridge runs in this process and
points at it. Flags starting with ``--server-`` go to the server without the
prefix (``--server-port 9090`` -> ``--port 9090``, ``--no-server-source`` ->
``--no-source``); every other flag is a bridge flag (``--listen``,
``--token``, ...). SIGINT or SIGTERM stops the bridge gracefully, then the
server.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from neural_heatmap_contract.policy import BRIDGE_ADDRESS, BRIDGE_PORT, SERVER_HOST, SERVER_PORT
from neural_heatmap_contract.routes import http

from . import _loop
from ._config import build_parser, parse_config
from ._server import Bridge

log = logging.getLogger("neural_heatmap_bridge.serve")
DEFAULT_SERVER_PORT = SERVER_PORT


def split_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate ``--server-*`` flags (renamed for the server) from the bridge's flags."""
    server: list[str] = []
    bridge: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith(("--server-", "--no-server-")):
            renamed = arg.replace("--server-", "--", 1).replace("--no-server-", "--no-", 1)
            server.append(renamed)
            if "=" not in arg and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                server.append(argv[i + 1])
                i += 1
        else:
            bridge.append(arg)
        i += 1
    return server, bridge


def server_port(server_args: Sequence[str]) -> int:
    """The port the server will listen on (``--port``, else its default 8080)."""
    for i, arg in enumerate(server_args):
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
        if arg == "--port" and i + 1 < len(server_args):
            return int(server_args[i + 1])
    return DEFAULT_SERVER_PORT


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + http("Health").path, timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


async def _wait_for_server(proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"neural-heatmap-server exited with {proc.returncode}")
        if await asyncio.to_thread(_healthy, url):
            return
        await asyncio.sleep(0.2)
    raise SystemExit(
        f"neural-heatmap-server did not answer {url}{http('Health').path} within {timeout:.0f} s"
    )


async def _watch(proc: subprocess.Popen[bytes], stop: asyncio.Event) -> None:
    """Stop everything if the server dies on its own."""
    while proc.poll() is None and not stop.is_set():
        await asyncio.sleep(0.5)
    if not stop.is_set():
        log.error("neural-heatmap-server exited with %s; stopping", proc.returncode)
        stop.set()


async def run(argv: Sequence[str]) -> int:
    """Start server and bridge, serve until a signal, stop both."""
    server_args, bridge_args = split_args(argv)
    port = server_port(server_args)
    url = f"http://{SERVER_HOST}:{port}"
    config = parse_config([*bridge_args, "--upstream", url]
                          if "--upstream" not in bridge_args else bridge_args)
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cmd = [sys.executable, "-m", "neural_heatmap_server", "--port", str(port), *server_args]
    proc = subprocess.Popen(cmd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bridge: Bridge | None = None
    try:
        await _wait_for_server(proc, url, 60.0)
        bridge = Bridge(config)
        await bridge.start()
        print(f"neural-heatmap: server on {url}, gRPC bridge on {config.listen} "
              f"(try: grpcurl -plaintext {config.listen} list)", flush=True)
        if bridge.web_url:
            print(f"neural-heatmap: dashboard on {bridge.web_url} "
                  "(Connect and gRPC-Web on the same port)", flush=True)
        watcher = loop.create_task(_watch(proc, stop))
        await stop.wait()
        watcher.cancel()
    finally:
        if bridge is not None:
            await bridge.stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0 if proc.returncode in (0, -signal.SIGTERM) else 1


EXAMPLES = f"""\
examples:
  neural-heatmap-serve --server-data-dir var/data        # what `make run` calls
  neural-heatmap-serve                                   # state in ./data instead
  neural-heatmap-serve --listen 0.0.0.0:{BRIDGE_PORT} --token T  # bridge flags: an address, a token
  neural-heatmap-serve --server-port 9090 --no-server-source --server-window 4096
  NH_SERVER_SOURCE_RATE=30 neural-heatmap-serve          # env fallbacks: NH_SERVER_*, NH_BRIDGE_*
"""

# A flag at a word start in the server's help: --port, --no-source.
_SERVER_FLAG = re.compile(r"(?<![\w-])--(no-)?([a-z][a-z0-9-]*)")
# An option line of argparse's help with its description on the same line.
_OPTION_LINE = re.compile(r"^(  -\S.*?)\s{2,}(\S.*)$")
_HELP_COLUMN = 24


def _server_help() -> str:
    """The server's flags as serve takes them: its ``--help`` with every flag renamed.

    Asked from the server itself (a child process, as ``run`` starts it) because the bridge
    never imports the server; the rename is :func:`split_args`' rule run backwards.
    """
    try:
        done = subprocess.run([sys.executable, "-m", "neural_heatmap_server", "--help"],
                              capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(the server's flags are unavailable: {exc}; see neural-heatmap-server --help)\n"
    lines = done.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("  --host")), len(lines))
    return "".join(_renamed(line) for line in lines[start:])


def _renamed(line: str) -> str:
    """One help line with its flags renamed, the description kept in argparse's column."""
    new = _SERVER_FLAG.sub(lambda m: f"--{m.group(1) or ''}server-{m.group(2)}", line)
    m = _OPTION_LINE.match(new)
    if m is None:
        return new + "\n"
    option, text = m.groups()
    if len(option) + 2 <= _HELP_COLUMN:
        return f"{option:<{_HELP_COLUMN}}{text}\n"
    return f"{option}\n{'':<{_HELP_COLUMN}}{text}\n"


def print_help() -> None:
    """serve's own usage: the bridge flags it takes, the server flags it passes, examples."""
    parser = build_parser()
    parser.prog = "neural-heatmap-serve"
    parser.usage = "neural-heatmap-serve [BRIDGE FLAGS ...] [--server-FLAG VALUE ...]"
    parser.description = (
        "Start the Neural Heatmap server (a child process, with its built-in activation "
        "source) and the gRPC bridge in front of it; what `make run` calls. SIGINT or SIGTERM "
        "stops the bridge gracefully, then the server. Flags starting with --server- (or "
        "--no-server-) go to the server without that prefix (--server-port 9090 -> --port "
        "9090); every other flag is one of the bridge's, below (--upstream is set to the "
        f"server). The bridge listens on {BRIDGE_ADDRESS} (gRPC) and :8090 (the dashboard, "
        f"Connect and gRPC-Web) and the server on :{SERVER_PORT} by default."
    )
    parser.print_help()
    print("\nserver flags (passed through to neural-heatmap-server):")
    print(_server_help(), end="")
    print()
    print(EXAMPLES, end="")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(split_args(args)[1]):
        print_help()
        raise SystemExit(0)
    _, bridge_args = split_args(args)
    use_uvloop = parse_config(bridge_args).uvloop
    raise SystemExit(_loop.run(run(args), use_uvloop))


if __name__ == "__main__":
    main()
