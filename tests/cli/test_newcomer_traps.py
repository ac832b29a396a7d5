"""What tripped a new user (issue 27), against a real server and bridge.

Each test first reproduces the trap as it was reported: a stored filter of layers
that do not exist making renders blank with exit 0, tracebacks from ``serve`` on a
busy port, ``anomalies -m nope`` exiting 0, a file error naming the wrong reason,
internals in the default error line, ``--follow`` staying silent while the
services are down.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.cli.conftest import Seeded, post_nan_frames
from tests.cli.runner import (
    SERVE_PATH,
    assert_one_line_error,
    cli_env,
    invoke,
    invoke_json,
    start_cli,
)
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess

EXIT_LOCAL, EXIT_SERVER, EXIT_EMPTY = 1, 5, 6


def at(bridge: BridgeProcess) -> list[str]:
    return ["--target", bridge.target]


@pytest.fixture
def cleared(bridge: BridgeProcess) -> Iterator[None]:
    """The shared view filter is cleared afterwards, whatever the test left."""
    yield
    assert invoke("filter", "--clear", *at(bridge)).returncode == 0


# ---------------------------------------------------------------- 1: empty answers say why


def test_a_filter_of_unknown_layers_warns_and_renders_of_nothing_fail_saying_why(
    bridge: BridgeProcess, seeded: Seeded, tmp_path: Path, cleared: None
) -> None:
    # the original Quick Start: set_filter(layer_ids=["layer1", "layer2"])
    flt = invoke("filter", "-l", "layer1", "-l", "layer2", *at(bridge))
    assert flt.returncode == 0, flt.stderr  # pre-configuring is legitimate...
    warnings = [line for line in flt.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, flt.stderr  # ...but it says what matches nothing
    assert "'layer1', 'layer2' match no known layer" in warnings[0]
    hides = re.search(r"hides all (\d+) layers", warnings[1])
    assert hides is not None and int(hides.group(1)) >= 4, warnings  # m1/a m1/b m2/a anom/x
    assert "neural-heatmap filter --clear" in warnings[1]
    as_json = invoke_json("filter", "-l", "layer1", "-l", "layer2", *at(bridge))
    assert len(as_json["warnings"]) == 2 and as_json["layer_ids"] == ["layer1", "layer2"]
    shown = invoke("filter", *at(bridge))  # showing it later says the same
    assert shown.returncode == 0 and shown.stderr.count("warning: ") == 2, shown.stderr

    for argv in (["render", str(tmp_path / "h.png")],
                 ["render", str(tmp_path / "c.png"), "--kind", "correlation"],
                 ["matrix", "--out", str(tmp_path / "m.png")]):
        done = invoke(*argv, *at(bridge))
        assert_one_line_error(done, EXIT_EMPTY, "nothing to render", "hides all",
                              "neural-heatmap filter --clear")
    assert list(tmp_path.iterdir()) == []  # no blank placeholder left behind

    # the table ignores the stored filter (use_view_filter=false), as before
    assert "m1/a" in invoke("matrix", *at(bridge)).stdout

    assert invoke("filter", "--clear", *at(bridge)).returncode == 0
    drawn = invoke("render", str(tmp_path / "h.png"), *at(bridge))
    assert drawn.returncode == 0 and (tmp_path / "h.png").stat().st_size > 0, drawn.stderr


def test_a_filter_of_known_layers_says_nothing(
    bridge: BridgeProcess, seeded: Seeded, cleared: None
) -> None:
    done = invoke("filter", "-m", "m1", "-l", "a", *at(bridge))
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr


def test_an_intensity_range_that_hides_every_unit_is_an_empty_render(
    bridge: BridgeProcess, seeded: Seeded, tmp_path: Path, cleared: None
) -> None:
    assert invoke("filter", "--intensity", "1000", "2000", *at(bridge)).returncode == 0
    done = invoke("render", str(tmp_path / "h.png"), "-m", "m1", *at(bridge))
    assert_one_line_error(done, EXIT_EMPTY, "intensity_range", "hide every unit")


# ---------------------------------------------------------------- 2: one clear line


@pytest.mark.parametrize("argv", [
    ["anomalies", "-m", "nope"], ["anomalies", "-m", "nope", "--follow"],
    ["matrix", "-m", "nope"], ["patterns", "-m", "nope"], ["health", "nope"],
    ["render", "x.png", "-m", "nope"],
])
def test_an_unknown_model_is_the_same_exit_code_in_every_command(
    bridge: BridgeProcess, seeded: Seeded, argv: list[str], tmp_path: Path
) -> None:
    argv = [str(tmp_path / a) if a.endswith(".png") else a for a in argv]
    assert_one_line_error(invoke(*argv, *at(bridge)), EXIT_SERVER, "nope",
                          "neural-heatmap models")


def test_a_file_where_a_folder_must_be_is_named_as_the_reason(
    bridge: BridgeProcess, seeded: Seeded, tmp_path: Path
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for argv in (["matrix", "--out", str(afile / "m.csv")], ["render", str(afile / "x.png")]):
        done = invoke(*argv, *at(bridge))
        assert_one_line_error(done, EXIT_LOCAL, f"{afile} is a file, not a folder")
        assert "non-existent" not in done.stderr


def test_internals_only_with_verbose(bridge: BridgeProcess, seeded: Seeded,
                                     tmp_path: Path) -> None:
    png = str(tmp_path / "x.png")
    plain = invoke("render", png, "--width", "99999", *at(bridge))
    assert_one_line_error(plain, EXIT_SERVER, "4096")
    for internal in ("INVALID_ARGUMENT", "upstream", "/api/render", "reason="):
        assert internal not in plain.stderr, plain.stderr
    verbose = invoke("render", png, "--width", "99999", "--verbose", *at(bridge))
    assert_one_line_error(verbose, EXIT_SERVER, "4096", "INVALID_ARGUMENT", "/api/render",
                          "reason=")


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def _wait_for(lines: queue.Queue[str], pattern: str, seconds: float) -> list[str]:
    """Lines read until one matches ``pattern`` (or the time is up)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            continue
        if re.search(pattern, seen[-1]):
            break
    return seen


def test_follow_says_the_services_are_gone_and_keeps_retrying(server: ServerProcess) -> None:
    post_nan_frames(server.url, "gone", 1)
    with BridgeProcess(server.url) as bridge:
        proc = start_cli("anomalies", "--follow", "-n", "1", "-m", "gone", *at(bridge))
        out: queue.Queue[str] = queue.Queue()
        errs: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None and proc.stderr is not None
        threading.Thread(target=_lines, args=(proc.stdout, out), daemon=True).start()
        threading.Thread(target=_lines, args=(proc.stderr, errs), daemon=True).start()
        try:
            assert any("#" in line for line in _wait_for(out, "#", 30))  # following
            bridge.stop()
            said = _wait_for(errs, r"attempt 2\b", 60)
            status = [line for line in said if line.startswith("reconnecting: ")]
            assert len(status) >= 2, said  # from the first failed attempts on
            assert bridge.target in status[0] and "still retrying" in status[0], status
            assert "Traceback" not in "\n".join(said) and proc.poll() is None
            bridge.start()
            post_nan_frames(server.url, "gone", 1)
            assert any("gone" in line for line in _wait_for(out, "gone", 60))  # back
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process (here: a socket of this one) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    proc = start_cli("serve", *args, pythonpath=SERVE_PATH)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_serve_on_a_busy_port_names_the_port_and_the_flag(
    taken_port: int, tmp_path: Path
) -> None:
    data = ["--server-data-dir", str(tmp_path)]
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        other = free.getsockname()[1]
    bridge_busy = _serve("--target", f"127.0.0.1:{taken_port}", "--server-port", str(other),
                         *data)
    assert_one_line_error(bridge_busy, EXIT_LOCAL, str(taken_port), "--target")
    server_busy = _serve("--target", f"127.0.0.1:{other}", "--server-port", str(taken_port),
                         *data)
    assert_one_line_error(server_busy, EXIT_LOCAL, str(taken_port), "--server-port")


def test_the_launcher_on_a_busy_port_names_its_own_flag(taken_port: int, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "neural_heatmap_bridge.serve", "--listen",
         f"127.0.0.1:{taken_port}", "--server-data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False, env=cli_env(SERVE_PATH))
    assert done.returncode == EXIT_LOCAL, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(taken_port) in lines[0] and "--listen" in lines[0], lines
