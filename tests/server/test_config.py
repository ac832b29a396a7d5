"""Server flags and their NH_SERVER_* environment fallbacks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from neural_heatmap_server.config import parse_config

from tests.support._process import REPO_ROOT, free_port, http_ok


def test_environment_value_is_used_and_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NH_SERVER_WINDOW", "7")
    monkeypatch.setenv("NH_SERVER_ANOMALY_COOLDOWN", "0.5")
    config = parse_config([])
    assert config.window == 7
    assert config.anomaly_cooldown == 0.5


def test_command_line_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NH_SERVER_WINDOW", "7")
    assert parse_config(["--window", "9"]).window == 9


def test_environment_value_is_validated_like_a_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NH_SERVER_WINDOW", "0")
    with pytest.raises(SystemExit) as exit_info:
        parse_config([])
    assert exit_info.value.code == 2
    assert "--window" in capsys.readouterr().err


def test_the_default_data_dir_is_the_users_not_the_working_folder(tmp_path: Path) -> None:
    """Issue 27: ``./data`` relative to wherever the server was started made a new, empty
    state per folder. Without --data-dir the state goes to the user's data directory
    (platformdirs), the same from any folder, and the start-up line names it."""
    home, cwd = tmp_path / "data-home", tmp_path / "somewhere"
    cwd.mkdir()
    env = {**os.environ, "XDG_DATA_HOME": str(home), "PYTHONPATH": os.pathsep.join(
        str(REPO_ROOT / d) for d in ("contract/python", "server"))}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "neural_heatmap_server", "--port", str(port),
                             "--no-source"], cwd=cwd, env=env, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the "listening on ..." line comes first
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{port}/health") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
    expected = home / "neural-heatmap"
    assert f"(data {expected}," in first, first
    assert (expected / "neural_heatmap.sqlite3").is_file()
    assert list(cwd.iterdir()) == []  # nothing written where it was started
