"""The one reading of boolean environment variables (``NH_SERVER_*``, ``NH_BRIDGE_*``).

Why one parser: the server used to accept only true-words and the bridge to reject only
false-words, so ``NH_SERVER_SOURCE=enabled`` meant "off" and ``NH_BRIDGE_UVLOOP=disabled``
meant "on". Both processes now accept exactly the words below and refuse anything else at
start-up, naming the variable and the accepted words.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Final

TRUE_WORDS: Final = ("1", "true", "yes", "on")
FALSE_WORDS: Final = ("0", "false", "no", "off")


class EnvBoolError(ValueError):
    """An environment variable meant as a boolean holds another word."""


def parse_bool(variable: str, raw: str) -> bool:
    """The boolean ``raw`` spells (case and surrounding blanks ignored).

    Args:
        variable: The environment variable's name, for the error message.
        raw: Its value.

    Raises:
        EnvBoolError: When ``raw`` is neither a true-word nor a false-word.
    """
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise EnvBoolError(
        f"{variable}={raw!r} is not a boolean; use one of {', '.join(TRUE_WORDS)} "
        f"or {', '.join(FALSE_WORDS)}"
    )


def env_bool(variable: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """``variable`` read as a boolean; ``default`` when it is unset or blank.

    Raises:
        EnvBoolError: When it holds a word :func:`parse_bool` does not know.
    """
    raw = environ.get(variable, "")
    return parse_bool(variable, raw) if raw.strip() else default


def flag_default(prog: str, variable: str, default: bool) -> bool:
    """A boolean flag's default from ``variable``, for a process's argument parser.

    An unknown word ends start-up the way argparse ends it for a bad flag: one line on
    stderr (``<prog>: error: NH_X='maybe' is not a boolean; use one of ...``), exit status 2.
    """
    try:
        return env_bool(variable, default)
    except EnvBoolError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
