"""Server flags and their NH_SERVER_* environment fallbacks."""

from __future__ import annotations

import pytest
from neural_heatmap_server.config import parse_config


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
