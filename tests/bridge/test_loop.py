"""The bridge's event loop: uvloop when importable (the whole suite runs on it), else asyncio."""

from __future__ import annotations

import asyncio

import pytest
from neural_heatmap_bridge import _loop
from neural_heatmap_bridge._config import parse_config


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_no_uvloop_keeps_asyncio() -> None:
    assert _loop.loop_factory(False) is None
    assert _loop.run(_loop_module(), use_uvloop=False).startswith("asyncio")


def test_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    assert _loop.run(_loop_module(), use_uvloop=True).startswith("uvloop")


def test_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NH_BRIDGE_UVLOOP", raising=False)
    monkeypatch.delenv("NH_BRIDGE_ANOMALY_CACHE", raising=False)
    assert parse_config([]).uvloop is True
    assert parse_config(["--no-uvloop"]).uvloop is False
    monkeypatch.setenv("NH_BRIDGE_UVLOOP", "0")
    assert parse_config([]).uvloop is False
    assert parse_config(["--uvloop"]).uvloop is True
    monkeypatch.setenv("NH_BRIDGE_ANOMALY_CACHE", "0")
    assert parse_config([]).anomaly_cache == 0
