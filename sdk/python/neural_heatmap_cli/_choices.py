"""Option values the SDK names as enums, checked while the arguments are parsed.

A bad value is then click's usage error (exit 2) naming the valid values; the
help lists them after the option's own help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from neural_heatmap import ExportFormat, Granularity, PatternType, Severity, VisualizationTheme

__all__ = ["choice"]

SdkEnum = (
    type[Severity] | type[PatternType] | type[Granularity] | type[ExportFormat]
    | type[VisualizationTheme]
)


def choice(enum_type: SdkEnum, metavar: str, help: str) -> dict[str, Any]:
    """``typer.Option``/``Argument`` settings that accept the values of ``enum_type``
    except ``unspecified`` (any case) and pass them on as that value.

    The values are listed in the help text (``help``, then ``one of: ...``), which wraps
    between words, rather than in the metavar, which a narrow terminal would fold
    mid-word; the metavar is the short ``metavar``.
    """
    values = [m.value for m in enum_type if m.value != "unspecified"]

    def parse(text: str) -> str:
        try:
            value = str(enum_type.parse(text).value)
        except ValueError:
            value = ""
        if value not in values:
            # raised as is (not a ValueError, which Typer's pydantic coercion would reword)
            raise typer.BadParameter(f"{text!r} is not one of {', '.join(values)}")
        return value

    parser: Callable[[str], str] = parse
    return {"parser": parser, "metavar": metavar,
            "help": f"{help}; one of: {', '.join(values)}"}
