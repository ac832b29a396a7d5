"""Shared limits: each is the default of the flag that enforces it, and the env fallback works."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from neural_heatmap._channel import DEFAULT_MAX_MESSAGE_BYTES
from neural_heatmap_bridge._config import parse_config as bridge_config
from neural_heatmap_contract import limits
from neural_heatmap_server.config import parse_config as server_config

B = "NH_BRIDGE_"
FLAGS: list[tuple[Callable[[list[str]], Any], str, str, int]] = [
    (server_config, "NH_SERVER_MAX_ANOMALY_LIMIT", "max_anomaly_limit", limits.MAX_ANOMALY_LIMIT),
    (bridge_config, B + "MAX_SEND_BYTES", "max_send_bytes", limits.MAX_MESSAGE_BYTES),
    (bridge_config, B + "MAX_RECEIVE_BYTES", "max_receive_bytes", limits.MAX_MESSAGE_BYTES),
    (bridge_config, B + "INGEST_BATCH_BYTES", "ingest_batch_bytes", limits.INGEST_BATCH_BYTES),
]


@pytest.mark.parametrize(("parse", "env", "attribute", "default"), FLAGS, ids=[f[2] for f in FLAGS])
def test_limit_is_a_flag_with_env_fallback(
    monkeypatch: pytest.MonkeyPatch,
    parse: Callable[[list[str]], Any],
    env: str,
    attribute: str,
    default: int,
) -> None:
    monkeypatch.delenv(env, raising=False)
    assert getattr(parse([]), attribute) == default
    monkeypatch.setenv(env, "4096")
    assert getattr(parse([]), attribute) == 4096
    flag = "--" + attribute.replace("_", "-")
    assert getattr(parse([flag, "77"]), attribute) == 77


def test_values() -> None:
    """The numbers the docs state (README "Limits", docs/bridge.md flags)."""
    assert limits.MAX_MESSAGE_BYTES == 256 * 1024 * 1024
    assert limits.MAX_ANOMALY_LIMIT == 10_000
    assert limits.INGEST_BATCH_BYTES == 8 * 1024 * 1024
    assert DEFAULT_MAX_MESSAGE_BYTES == limits.MAX_MESSAGE_BYTES


_ROOT = Path(__file__).resolve().parents[2]
_INT_EXPR = re.compile(r"^[0-9 */<>()+]+$")


def _constant(path: str, name: str) -> int:
    """The value of an integer constant in Go or TypeScript source (`256 << 20`, `256 * 1024`)."""
    text = (_ROOT / path).read_text()
    match = re.search(rf"\b{name}\s*=\s*([^;\n]+)", text)
    assert match, f"{name} not found in {path}"
    expr = match.group(1).strip()
    assert _INT_EXPR.match(expr), f"{name} in {path} is not a plain integer expression: {expr}"
    value = eval(expr, {"__builtins__": {}})  # digits and operators only (checked above)
    assert isinstance(value, int)
    return value


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("sdk/go/neuralheatmap/policy_gen.go", "DefaultMaxMessageBytes"),
        ("sdk/typescript/src/policy_gen.ts", "DEFAULT_MAX_MESSAGE_BYTES"),
        ("sdk/java/src/main/java/dev/neuralheatmap/Policy.java", "MAX_MESSAGE_BYTES"),
    ],
)
def test_other_languages_use_the_same_message_limit(path: str, name: str) -> None:
    """Go, TypeScript and Java cannot import the Python contract; make gen writes theirs."""
    assert _constant(path, name) == limits.MAX_MESSAGE_BYTES
