"""The one boolean reading of ``NH_SERVER_*`` / ``NH_BRIDGE_*`` variables, in both processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from neural_heatmap_contract.env import (
    FALSE_WORDS,
    TRUE_WORDS,
    EnvBoolError,
    env_bool,
    parse_bool,
)

from tests.support._process import REPO_ROOT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True), ("true", True), ("yes", True), ("on", True),
        ("TRUE", True), (" Yes ", True), ("On", True),
        ("0", False), ("false", False), ("no", False), ("off", False),
        ("FALSE", False), (" No\n", False), ("Off", False),
    ],
)
def test_known_words(raw: str, expected: bool) -> None:
    assert parse_bool("NH_X", raw) is expected


@pytest.mark.parametrize("raw", ["maybe", "enabled", "disabled", "2", "-1", "y", "n", "t", "tru"])
def test_unknown_word_is_refused_naming_the_variable_and_the_words(raw: str) -> None:
    with pytest.raises(EnvBoolError) as info:
        parse_bool("NH_SERVER_SOURCE", raw)
    message = str(info.value)
    assert message.startswith(f"NH_SERVER_SOURCE={raw!r} is not a boolean")
    for accepted in (*TRUE_WORDS, *FALSE_WORDS):
        assert accepted in message


@pytest.mark.parametrize(
    ("environ", "default", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NH_X": ""}, True, True),  # blank is unset (an empty `VAR=` in a container file)
        ({"NH_X": "  "}, False, False),
        ({"NH_X": "off"}, True, False),
        ({"NH_X": "on"}, False, True),
    ],
)
def test_env_bool(environ: dict[str, str], default: bool, expected: bool) -> None:
    assert env_bool("NH_X", default, environ) is expected


def test_true_and_false_words_are_disjoint() -> None:
    assert not set(TRUE_WORDS) & set(FALSE_WORDS)


@pytest.mark.parametrize(
    ("module", "variable"),
    [
        ("neural_heatmap_server", "NH_SERVER_SOURCE"),
        ("neural_heatmap_bridge", "NH_BRIDGE_UVLOOP"),
        ("neural_heatmap_bridge", "NH_BRIDGE_READ_CACHE"),
    ],
)
def test_process_refuses_an_unknown_word_at_start_up(module: str, variable: str) -> None:
    """The real process exits 2 before serving, with one line naming the variable."""
    env = dict(os.environ)
    env[variable] = "maybe"
    env["PYTHONPATH"] = os.pathsep.join(
        str(REPO_ROOT / d) for d in ("contract/python", "server", "bridge", "sdk/python")
    )
    done = subprocess.run(
        [sys.executable, "-m", module, "--port" if module.endswith("server") else "--listen",
         "0" if module.endswith("server") else "127.0.0.1:0"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    prog = module.replace("_", "-")
    assert lines == [
        f"{prog}: error: {variable}='maybe' is not a boolean; use one of "
        f"{', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}"
    ]
