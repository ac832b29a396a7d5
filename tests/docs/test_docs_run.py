"""Every code block of README.md and docs/*.md runs as printed, or says why it cannot.

The convention (also in docs/contributing.md): a fenced block whose info string is
``python``, ``ts``, ``go``, ``java`` or ``sh``/``bash`` is executed by this test exactly as
printed; any other block, or a runnable one that must not run here, has the line
``<!-- not-run: REASON -->`` right before its fence, with REASON one word of
``tests/docs/doc_blocks.py:REASONS`` (``text`` and ``output`` blocks mark
themselves). A block that is neither fails ``test_every_block_runs_or_is_marked``.

How each language runs, as a user outside this repository would run it:

- python: saved as ``snippet.py`` in an empty temporary folder and run by the
  virtualenv's interpreter (this checkout's ``neural_heatmap`` first on the path).
- ts: the package is packed once (``npm pack`` of ``sdk/typescript``, from a clean copy
  of its sources, as ``src/test/pack.live.test.ts`` does) and installed into an empty
  ESM project outside the repository with the tsconfig.json block of docs/clients.md;
  each block is saved as ``main.ts``, type-checked and compiled by ``tsc`` (strict),
  and run by ``node``.
- go: one new module outside the repository with ``require`` +
  ``replace github.com/neural-heatmap/neural-heatmap/sdk/go => <repo>/sdk/go``; each
  block is ``package main`` in its own folder, run by ``go run -mod=mod`` (which adds the
  SDK's requirements to go.mod as the documented ``go mod tidy`` does).
- java: saved as ``Main.java`` in an empty folder outside the repository and run as a
  single source file (``java -cp <jar>:<dependencies> Main.java``) against the jar
  ``mvn package`` builds in ``sdk/java/target`` (with ``target/classpath.txt``); ``make
  test`` builds it in ``test-java`` before this runs, else the fixture builds it.
- sh: run by ``bash -e -o pipefail`` in an empty folder whose entries link to the
  repository's top level, so ``.tools/bin/...``, ``.venv/bin/...`` and ``cd sdk/go`` work as
  from the repository root while the files a block writes land in the temporary folder.

One server (with its built-in activation source, so the demo models ``mlp-a`` and
``mlp-b`` exist) and one bridge on free loopback ports serve every block. The
examples find the bridge the way they document: ``NEURAL_HEATMAP_TARGET`` (default
``localhost:50051``, what ``make run`` serves), which this test sets to its bridge, and
``NEURAL_HEATMAP_WEB`` (default ``http://localhost:8090``) for the bridge's web port;
nothing in a block is rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.doc_blocks import REASONS, REPO_ROOT, Block, all_blocks
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

BLOCKS = all_blocks()
RUNNABLE = [b for b in BLOCKS if b.language and b.reason is None]
RUN_TIMEOUT_S = 120
# Builds (npm pack/install, mvn package) get a wider bound: a functional limit that a busy
# 2-core machine must not trip, not a speed check.
BUILD_TIMEOUT_S = 600
GO_MODULE = "github.com/neural-heatmap/neural-heatmap/sdk/go"
TS_PACKAGE = REPO_ROOT / "sdk" / "typescript"
TS_NODE_MODULES = (TS_PACKAGE / "node_modules").resolve()
# The tsconfig.json docs/clients.md tells a TypeScript project to use, read from the page.
TSCONFIG = next(json.loads(b.code) for b in BLOCKS
                if b.path.name == "clients.md" and b.info == "json" and "compilerOptions" in b.code)


def test_every_block_runs_or_is_marked() -> None:
    """A block is executed below, or marked with a known one-word reason."""
    problems = [f"{b.name}: ```{b.info or '(no info string)'} is not run by this harness; "
                "add `<!-- not-run: REASON -->` before it" for b in BLOCKS
                if b.language is None and b.reason is None]
    problems += [f"{b.name}: unknown not-run reason {b.reason!r} (known: {sorted(REASONS)})"
                 for b in BLOCKS if b.reason is not None and b.reason not in REASONS]
    assert not problems, "\n".join(problems)


def test_the_getting_started_flows_are_run() -> None:
    """Each language's example is among the executed blocks (not marked away)."""
    languages = {b.language for b in RUNNABLE}
    assert {"python", "ts", "go", "java", "sh"} <= languages, languages


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    """One server (built-in source) and one bridge; the environment every block runs in."""
    with ServerProcess(extra_args=["--source", "--source-rate", "30"]) as server, \
            BridgeProcess(server.url, web=True) as bridge:
        _wait_for_demo_state(server.url)
        # This checkout's packages first, as tests/support does (the console scripts too).
        paths = [str(REPO_ROOT / d) for d in ("contract/python", "sdk/python", "bridge", "server")]
        yield {**os.environ, "NEURAL_HEATMAP_TARGET": bridge.target,
               "NEURAL_HEATMAP_WEB": bridge.web_url,
               "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
               "GOFLAGS": "-buildvcs=false", "MPLBACKEND": "Agg"}


def _wait_for_demo_state(url: str, timeout: float = 60.0) -> None:
    """Until the demo models have frames and the log holds a few anomalies.

    The examples are written for services that have been running a while (`make run`):
    they name `mlp-a` and read a few anomalies before they stop.
    """
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{url}/api/models", timeout=5) as resp:
            models = {m["model_id"] for m in json.load(resp)["models"]}
        with urllib.request.urlopen(f"{url}/api/anomalies?limit=3", timeout=5) as resp:
            anomalies = json.load(resp)["anomalies"]
        if {"mlp-a", "mlp-b"} <= models and len(anomalies) >= 3:
            return
        assert time.monotonic() < deadline, f"demo state not reached: {models}, {anomalies}"
        time.sleep(0.5)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], block: Block | None = None,
         timeout: float = RUN_TIMEOUT_S) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    where = block.name if block else " ".join(cmd)
    assert done.returncode == 0, (
        f"{where} failed ({' '.join(cmd)}, exit {done.returncode})\n"
        f"{block.code if block else ''}\n--- stdout\n{done.stdout[-4000:]}\n"
        f"--- stderr\n{done.stderr[-4000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def ts_app(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """An empty ESM project outside the repository with the packed package installed."""
    work = tmp_path_factory.mktemp("ts-docs")
    src = work / "src-copy"  # a clean copy: prepack must build from nothing
    src.mkdir()
    for name in ("package.json", "tsconfig.json"):
        shutil.copy(TS_PACKAGE / name, src / name)
    shutil.copytree(TS_PACKAGE / "src", src / "src",
                    ignore=shutil.ignore_patterns("test", "testing", "conformance"))
    (src / "node_modules").symlink_to(TS_NODE_MODULES)
    _run(["npm", "pack", "--pack-destination", str(work), "--loglevel=error"], src, env,
         timeout=BUILD_TIMEOUT_S)
    tarball = next(work.glob("*.tgz"))
    app = work / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "nh-docs", "private": True,
                                                  "type": "module"}))
    _run(["npm", "install", str(tarball), "--no-audit", "--no-fund", "--prefer-offline",
          "--loglevel=error"], app, env, timeout=BUILD_TIMEOUT_S)
    # typescript and @types/node: a user installs them (npm install -D); here, the repo's.
    config = json.loads(json.dumps(TSCONFIG))
    config["compilerOptions"]["typeRoots"] = [str(TS_NODE_MODULES / "@types")]
    config["files"] = ["main.ts"]
    (app / "tsconfig.json").write_text(json.dumps(config))
    return app


@pytest.fixture(scope="module")
def go_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new Go module outside the repository that requires the SDK through a replace."""
    mod = tmp_path_factory.mktemp("go-docs")
    sdk = REPO_ROOT / "sdk" / "go"
    go_version = next(line.split()[1] for line in (sdk / "go.mod").read_text().splitlines()
                      if line.startswith("go "))
    (mod / "go.mod").write_text(
        f"module example.com/nhdocs\n\ngo {go_version}\n\nrequire {GO_MODULE} v0.0.0\n\n"
        f"replace {GO_MODULE} => {sdk}\n")
    shutil.copy(sdk / "go.sum", mod / "go.sum")
    return mod


@pytest.fixture(scope="module")
def java_classpath(env: dict[str, str]) -> str:
    """The packaged Java client and its runtime dependencies, built when missing or stale."""
    sdk = REPO_ROOT / "sdk" / "java"
    version = (REPO_ROOT / "protos" / "VERSION").read_text(encoding="utf-8").strip()
    jar = sdk / "target" / f"neural-heatmap-client-{version}.jar"
    deps = sdk / "target" / "classpath.txt"
    sources = [sdk / "pom.xml", *(sdk / "src" / "main").rglob("*"),
               *(REPO_ROOT / "protos").rglob("*")]
    # The jar is stale when a source is newer; classpath.txt only when the pom is (Maven
    # rewrites it only when the dependency list changes, so its age says nothing else).
    if not (jar.exists() and deps.exists()) or any(
            f.stat().st_mtime > jar.stat().st_mtime for f in sources if f.is_file()) or (
            (sdk / "pom.xml").stat().st_mtime > deps.stat().st_mtime):
        _run(["mvn", "-q", "-DskipTests", "package"], sdk, env, timeout=BUILD_TIMEOUT_S)
    return f"{jar}{os.pathsep}{deps.read_text(encoding='utf-8').strip()}"


def _run_java(block: Block, tmp_path: Path, classpath: str, env: dict[str, str]) -> None:
    (tmp_path / "Main.java").write_text(block.code)
    _run(["java", "-cp", classpath, "Main.java"], tmp_path, env, block)


def _run_python(block: Block, tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "snippet.py").write_text(block.code)
    _run([sys.executable, "snippet.py"], tmp_path, env, block)


def _run_sh(block: Block, tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "snippet.sh"
    script.write_text(block.code)
    root = tmp_path / "root"
    root.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.name != ".git":
            (root / entry.name).symlink_to(entry)
    _run(["bash", "-e", "-o", "pipefail", str(script)], root, env, block)


def _run_ts(block: Block, app: Path, env: dict[str, str]) -> None:
    shutil.rmtree(app / "out", ignore_errors=True)
    (app / "main.ts").write_text(block.code)
    _run([str(TS_NODE_MODULES / ".bin" / "tsc"), "-p", "tsconfig.json"], app, env, block,
         timeout=BUILD_TIMEOUT_S)
    _run(["node", "out/main.js"], app, env, block)


def _run_go(block: Block, mod: Path, env: dict[str, str]) -> None:
    folder = mod / f"block{block.line}"
    folder.mkdir(exist_ok=True)
    (folder / "main.go").write_text(block.code)
    # -mod=mod: go.mod gains the SDK's requirements as `go mod tidy` would add them, without
    # tidy's download of every dependency's test-only modules.
    _run(["go", "run", "-mod=mod", f"./{folder.name}"], mod, env, block, timeout=BUILD_TIMEOUT_S)


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.name for b in RUNNABLE])
def test_block_runs_as_printed(block: Block, request: pytest.FixtureRequest,
                               tmp_path: Path, env: dict[str, str]) -> None:
    """The block, pasted into a new file outside the repository, runs without an error."""
    if block.language == "python":
        _run_python(block, tmp_path, env)
    elif block.language == "sh":
        _run_sh(block, tmp_path, env)
    elif block.language == "java":
        _run_java(block, tmp_path, request.getfixturevalue("java_classpath"), env)
    elif block.language == "ts":
        _run_ts(block, request.getfixturevalue("ts_app"), env)
    else:
        _run_go(block, request.getfixturevalue("go_module"), env)
