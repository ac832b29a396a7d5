"""`pip install neural-heatmap` is the SDK alone; `[server]` adds server, bridge and `serve`.

The wheel and sdist come from ``python -m build`` (conftest), are installed into
fresh virtual environments with nothing of the source tree on the path, and
the installed console script must serve an SDK call of the installed SDK.
"""

from __future__ import annotations

import signal
import subprocess
import tarfile
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging.conftest import Dists, Venv, clean_env, new_venv, run, wait_until_serving
from tests.support.server_process import REPO_ROOT, free_port

pytestmark = pytest.mark.slow

SERVER_ONLY = ("aiohttp", "prometheus_client", "uvloop", "matplotlib", "typer", "rich",
               "grpc_reflection", "pandas", "opentelemetry", "torch", "connectrpc", "uvicorn")

CLIENT_PROBE = """
import importlib.util, sys
import neural_heatmap
from neural_heatmap import ActivationFrame, connect
assert "aiohttp" not in sys.modules, "import neural_heatmap imported aiohttp"
print(sorted(m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m) is not None))
"""

SDK_CALL = """
import asyncio, sys
from neural_heatmap import connect

async def main() -> None:
    async with await connect(sys.argv[1]) as client:
        summary = await client.log_activations("installed", "l", [1.0, 2.0, 3.0], step=1)
        models = await client.list_models()
        print(summary.frames_accepted, [m.model_id for m in models if m.model_id == "installed"])

asyncio.run(main())
"""


@dataclass(frozen=True)
class Installed:
    """One fresh venv, probed after the base install, then given the ``[server]`` extra
    (one venv instead of two: installing numpy and grpcio twice is most of the time)."""

    venv: Venv
    client_only_probe: str


@pytest.fixture(scope="module")
def installed(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    venv = new_venv(root / "venv")
    venv.pip_install(dists.wheel)
    probe = run([venv.python, "-c", CLIENT_PROBE.format(SERVER_ONLY=SERVER_ONLY)], cwd=root)
    venv.pip_install(f"{dists.wheel}[server]")
    return Installed(venv, probe)


def test_client_only_install_is_the_sdk_without_server_dependencies(
        installed: Installed) -> None:
    assert installed.client_only_probe.strip() == "[]"


def test_sdist_holds_every_module_of_the_wheel(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        in_wheel = {n for n in wheel.namelist() if n.endswith((".py", ".pyi", "py.typed"))}
    with tarfile.open(dists.sdist) as sdist:
        in_sdist = [m.name for m in sdist.getmembers()]
    assert {"neural_heatmap/__init__.py", "neural_heatmap_contract/tracing.py",
            "neural_heatmap_server/app.py", "neural_heatmap_bridge/serve.py"} <= in_wheel
    missing = [n for n in in_wheel if not any(m.endswith("/" + n) for m in in_sdist)]
    assert missing == []


def test_the_dashboard_ships_in_both_distributions(dists: Dists) -> None:
    """The bridge's web port serves the page from the installed package (``_web/``)."""
    with zipfile.ZipFile(dists.wheel) as wheel:
        page = {n for n in wheel.namelist() if n.startswith("neural_heatmap_bridge/_web/")}
    with tarfile.open(dists.sdist) as sdist:
        in_sdist = [m.name for m in sdist.getmembers()]
    assert {"neural_heatmap_bridge/_web/index.html", "neural_heatmap_bridge/_web/app.js"} <= page
    assert [n for n in page if not any(m.endswith("/" + n) for m in in_sdist)] == []


# The launchers of the installed package: the console script, and the CLI's `serve` once the
# `neural-heatmap` command is part of the repository (it passes other flags to the script).
HAS_CLI = (REPO_ROOT / "sdk" / "python" / "neural_heatmap_cli").is_dir()
LAUNCHERS = [
    pytest.param(("neural-heatmap-serve", "--listen"), id="neural-heatmap-serve"),
    pytest.param(("neural-heatmap", "serve", "--target"), id="neural-heatmap serve",
                 marks=pytest.mark.skipif(not HAS_CLI, reason="no neural-heatmap command yet")),
]


@dataclass(frozen=True)
class Serving:
    """The bridge's gRPC target and its web port's URL."""

    target: str
    web_url: str


@pytest.fixture(params=LAUNCHERS)
def serving(request: pytest.FixtureRequest, installed: Installed,
            tmp_path: Path) -> Iterator[Serving]:
    """The installed package's launcher serving."""
    *command, listen_flag = request.param
    target, web_port = f"127.0.0.1:{free_port()}", free_port()
    proc = subprocess.Popen(
        [installed.venv.script(command[0]), *command[1:], "--server-port", str(free_port()),
         "--server-data-dir", str(tmp_path / "data"), "--no-server-source", listen_flag, target,
         "--web-port", str(web_port)],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(target, proc)
        yield Serving(target, f"http://127.0.0.1:{web_port}/")
    finally:
        proc.send_signal(signal.SIGTERM)
        output = (proc.communicate(timeout=30)[0] or b"").decode(errors="replace")
        assert proc.returncode == 0, output


def test_installed_serve_answers_the_installed_sdk(
        installed: Installed, serving: Serving, tmp_path: Path) -> None:
    out = run([installed.venv.python, "-c", SDK_CALL, serving.target], cwd=tmp_path,
              timeout=120)
    assert out.split("\n")[0] == "1 ['installed']"
    # The web port serves the dashboard shipped in the installed package.
    with urllib.request.urlopen(serving.web_url, timeout=10) as page:
        assert page.read() == (REPO_ROOT / "bridge/neural_heatmap_bridge/_web/index.html") \
            .read_bytes()
