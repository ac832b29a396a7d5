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
import errno
import logging
import os
import re
import signal
import socket
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
DEFAULT_SERVER_HOST = SERVER_HOST
"""The server's own defaults (``neural-heatmap-server --help``)."""
EXIT_PORT_BUSY = 1
"""Exit status when a port is taken (the usual status of a failed start)."""
LISTEN_FLAG_ENV = "NEURAL_HEATMAP_SERVE_LISTEN_FLAG"
"""The flag that set the bridge's address where the user typed it: ``neural-heatmap serve``
sets ``--target``; unset, it is this launcher's ``--listen``."""


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


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The last value given to ``flag`` (``--flag V`` or ``--flag=V``), else None."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(args):
            value = args[i + 1]
    return value


def server_port(server_args: Sequence[str]) -> int:
    """The port the server will listen on (``--port``, else its default 8080)."""
    value = flag_value(server_args, "--port")
    return DEFAULT_SERVER_PORT if value is None else int(value)


def busy_port(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on now (None: it can), found by binding it
    the way a listener would; port 0 (any free port) always can."""
    if port == 0:
        return None
    host = host.strip("[]") or "0.0.0.0"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return exc
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listeners do
            try:
                sock.bind(address)
            except OSError as exc:
                return exc
    return None


def busy_ports_message(listen: str, listen_flag: str, server_host: str, port: int) -> str | None:
    """One line naming each address that is taken and the flag that moves it, or None.

    Asked before anything starts, so a taken port is this sentence rather than the
    bridge's ``RuntimeError: Failed to bind`` or the server's ``OSError: [Errno 98]``.

    Args:
        listen: The bridge's ``host:port``.
        listen_flag: The flag that sets it where the user typed it (``--listen``, or
            ``--target`` in ``neural-heatmap serve``).
        server_host: The server's ``--host``.
        port: The server's ``--port``.
    """
    host, _, bridge_port = listen.rpartition(":")
    problems = []
    for what, address, number, flag in (("the gRPC bridge", host, bridge_port, listen_flag),
                                        ("the server", server_host, str(port),
                                         "--server-port")):
        if not number.isdigit():
            continue  # an address the bridge itself will refuse, naming it
        exc = busy_port(address, int(number))
        if exc is not None:
            reason = ("another process listens there" if exc.errno == errno.EADDRINUSE
                      else exc.strerror or str(exc))
            problems.append(f"{what} cannot listen on port {number} ({address or '*'}): "
                            f"{reason}; choose another port with {flag}")
    return "; and ".join(problems) or None


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
    listen_flag = os.environ.get(LISTEN_FLAG_ENV, "--listen")
    cmd = [sys.executable, "-m", "neural_heatmap_server", "--port", str(port), *server_args]
    proc = subprocess.Popen(cmd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bridge: Bridge | None = None
    try:
        await _wait_for_server(proc, url, 60.0)
        starting = Bridge(config)
        try:
            await starting.start()
        except RuntimeError as exc:  # grpc's "Failed to bind": taken since the check above
            print(f"error: the gRPC bridge cannot listen on "
                  f"{config.listen} ({exc}); choose another address with {listen_flag}",
                  file=sys.stderr, flush=True)
            return EXIT_PORT_BUSY
        bridge = starting
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
  neural-heatmap-serve                                   # state in the user's data dir
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
    server_args, bridge_args = split_args(args)
    config = parse_config(bridge_args)
    # Before any event loop or gRPC thread exists: a taken port is one line and exit 1.
    busy = busy_ports_message(config.listen, os.environ.get(LISTEN_FLAG_ENV, "--listen"),
                              flag_value(server_args, "--host") or DEFAULT_SERVER_HOST,
                              server_port(server_args))
    if busy is not None:
        print(f"error: {busy}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_PORT_BUSY)
    raise SystemExit(_loop.run(run(args), config.uvloop))


if __name__ == "__main__":
    main()
