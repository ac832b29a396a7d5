"""Rich tables of the SDK's results (what people see without ``--json``).

Every table fits the terminal it is printed on, 80 columns included: numbers are
never cut (their columns are as wide as their widest value), text columns fold or
are shortened with the full text one flag away (``--wide``, ``--json``), and
matrix labels lose the prefix they all share, so no two become equal.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from neural_heatmap import Anomaly, CorrelationMatrix, ModelInfo, TemporalPattern
from rich import box
from rich.table import Table
from rich.text import Text

from neural_heatmap_cli._output import SEVERITY_STYLES, format_time

__all__ = [
    "MAX_MATRIX_LABELS_SHOWN",
    "anomaly_line",
    "anomaly_table",
    "clip",
    "elide_common_prefix",
    "matrix_columns",
    "matrix_table",
    "models_table",
    "patterns_table",
    "short_description",
]

MAX_MATRIX_LABELS_SHOWN = 16
"""Rows and columns a matrix table shows at most; the rest is for ``--out`` or ``--json``."""
MATRIX_CELL = len("+1.00")
"""Characters of one correlation value."""
LABEL_SEPARATORS = "/-_.:"
"""Where an elided common prefix may end, so a label keeps whole words."""


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _number_column(table: Table, header: str, values: Sequence[str]) -> None:
    """A right-aligned column as wide as its widest value: numbers are never cut."""
    table.add_column(header, justify="right", no_wrap=True,
                     min_width=max([len(v) for v in values] + [1]))


def models_table(models: Sequence[ModelInfo]) -> Table:
    """One row per layer: model, layer, units, canvas size, frames, last frame's time."""
    rows = [(model.model_id if i == 0 else "", layer.layer_id, str(layer.units),
             f"{layer.width}x{layer.height}", str(layer.frames),
             format_time(model.last_timestamp) if i == 0 else "")
            for model in models for i, layer in enumerate(model.layers)]
    table = Table(title="models")
    table.add_column("model", overflow="fold")
    table.add_column("layer", overflow="fold")
    _number_column(table, "units", [r[2] for r in rows])
    _number_column(table, "canvas", [r[3] for r in rows])
    _number_column(table, "frames", [r[4] for r in rows])
    table.add_column("last frame (UTC)", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def elide_common_prefix(labels: Sequence[str]) -> tuple[list[str], str]:
    """``labels`` without the prefix they all share (cut after a separator, so words stay
    whole) and that prefix; distinct labels stay distinct, as the same text is removed
    from each. ``["mlp-a/fc1", "mlp-b/fc1"]`` -> ``(["a/fc1", "b/fc1"], "mlp-")``."""
    if len(labels) < 2:
        return list(labels), ""
    prefix = os.path.commonprefix(list(labels))  # noqa: RUF071 (characters are meant)
    cut = max((prefix.rfind(sep) for sep in LABEL_SEPARATORS), default=-1) + 1
    prefix = prefix[:cut]
    if any(label == prefix for label in labels):
        return list(labels), ""  # a label would become empty
    return [label[len(prefix):] for label in labels], prefix


def matrix_columns(labels: Sequence[str], width: int, wide: bool) -> int:
    """How many labels a matrix table shows in ``width`` columns without cutting a value:
    at most :data:`MAX_MATRIX_LABELS_SHOWN`; with ``wide`` that many, whatever the width."""
    n = min(len(labels), MAX_MATRIX_LABELS_SHOWN)
    if wide or n == 0:
        return n
    row_label = min(max(len(label) for label in labels[:n]), 16)
    fits = (width - (row_label + 3) - 1) // (MATRIX_CELL + 3)
    return max(1, min(n, fits))


def _cell(value: float) -> Text:
    """A correlation coloured by sign and strength (red positive, blue negative)."""
    if not math.isfinite(value):
        return Text("nan", style="dim")
    strength = min(abs(value), 1.0)
    style = ("red" if value > 0 else "blue") if strength >= 0.5 else "default"
    if strength >= 0.9:
        style = "bold " + style
    return Text(f"{value:+.2f}", style=style)


def matrix_table(matrix: CorrelationMatrix, *, width: int, wide: bool = False) -> Table:
    """The first labels of a correlation matrix that fit ``width`` (:func:`matrix_columns`).

    Labels lose their common prefix (the caption names it) and fold rather than
    being cut, so no two headers read alike; ``wide`` keeps them whole.
    """
    n = matrix_columns(matrix.labels, width, wide)
    shown, prefix = (list(matrix.labels[:n]), "") if wide else \
        elide_common_prefix(matrix.labels[:n])
    caption = f"labels without their common prefix {prefix!r}" if prefix else None
    table = Table(title=f"correlation ({len(matrix.labels)} labels, "
                        f"{format_time(matrix.timestamp)} UTC)", caption=caption)
    table.add_column("", overflow="fold", max_width=None if wide else 16)
    for label in shown:
        table.add_column(label, justify="right", no_wrap=False, overflow="fold",
                         min_width=MATRIX_CELL)
    for i, label in enumerate(shown):
        table.add_row(label, *(_cell(float(matrix.matrix[i][j])) for j in range(n)))
    return table


def patterns_table(patterns: Sequence[TemporalPattern]) -> Table:
    """One row per pattern, most confident first; the place folds, numbers and times
    keep their full width."""
    ordered = sorted(patterns, key=lambda p: -p.confidence)
    rows = [(f"{p.model_id}/{p.layer_id}", str(p.pattern_type), _num(p.frequency),
             _num(p.amplitude), _num(p.confidence, 2),
             format_time(p.start_time, clock=True), format_time(p.end_time, clock=True))
            for p in ordered]
    table = Table(title="temporal patterns (UTC)")
    table.add_column("where", overflow="fold")
    table.add_column("type", overflow="fold")
    for index, header in enumerate(("Hz", "ampl.", "conf.", "from", "to"), start=2):
        _number_column(table, header, [r[index] for r in rows])
    for row in rows:
        table.add_row(*row)
    return table


def _where(anomaly: Anomaly) -> str:
    """``model/layer`` of an anomaly, leaving out what it does not name."""
    return "/".join(part for part in (anomaly.model_id, anomaly.layer) if part) or "-"


def short_description(anomaly: Anomaly) -> str:
    """The description without its lead when that repeats the other columns
    (``Critical non finite in mlp-b/fc2: 24 of 24 units ...`` -> ``24 of 24 units ...``)."""
    head, sep, rest = anomaly.description.partition(": ")
    where = _where(anomaly)
    if sep and rest and where != "-" and head.endswith(f" in {where}"):
        return rest
    return anomaly.description


MIN_DESCRIPTION = 20
"""Characters a shortened description keeps however narrow the terminal."""
COMPACT_BELOW = 120
"""Terminal width under which the anomaly table drops its rules and shortens severities,
leaving the description the room."""
SHORT_SEVERITY = {"low": "low", "medium": "med", "high": "high", "critical": "crit"}
"""Severities in a compact table (still distinct, still coloured)."""


def anomaly_table(anomalies: Sequence[Anomaly], title: str, *, width: int,
                  wide: bool = False) -> Table:
    """One row per anomaly, in sequence order, severity in its colour.

    The description is one line without the lead that repeats severity, type and
    place, cut with an ellipsis where ``width`` ends; ``wide`` wraps it whole
    (``--json`` has it whole too). Numbers and times keep their full width. Below
    :data:`COMPACT_BELOW` columns the table has no vertical rules (one space between
    columns) and severities are shortened (``crit``), so the description keeps room.
    """
    compact = width < COMPACT_BELOW and not wide
    rows = [(str(a.sequence), format_time(a.timestamp, clock=True),
             SHORT_SEVERITY.get(str(a.severity), str(a.severity)) if compact
             else str(a.severity),
             str(a.anomaly_type), _where(a), _num(a.score, 2)) for a in anomalies]
    headers = ("seq", "UTC", "sev." if compact else "severity", "type", "where", "score")
    sizes = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    # per column: its content and a rule with padding (3), or a space and a pad (compact)
    gap = 2 if compact else 3
    room = width - sum(size + gap for size in sizes) - (0 if compact else 4)
    fold = room < MIN_DESCRIPTION  # long ids: type and where fold rather than squeeze it
    caption = None if wide else "descriptions shortened: --wide or --json for all of each"
    table = Table(title=title, caption=caption)
    if compact:
        table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False,
                      padding=(0, 1, 0, 0), pad_edge=False)
    for i, header in enumerate(headers):
        if header in ("seq", "score"):
            table.add_column(header, justify="right", no_wrap=True, min_width=sizes[i])
        elif header in ("type", "where") and fold:
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, no_wrap=True, min_width=sizes[i])
    if wide:
        table.add_column("description", ratio=1)
    else:
        table.add_column("description", no_wrap=True, overflow="ellipsis",
                         max_width=max(room, MIN_DESCRIPTION))
    for (seq, utc, severity, kind, where, score), a in zip(rows, anomalies, strict=True):
        style = SEVERITY_STYLES.get(str(a.severity), "")
        table.add_row(seq, utc, Text(severity, style=style), kind, where, score,
                      a.description if wide else clip(short_description(a),
                                                      max(room, MIN_DESCRIPTION)))
    return table


def clip(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut between words with an ellipsis, so
    no number or word is cut in two (one word longer than ``width`` is cut)."""
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    return (text[:cut].rstrip(" ,;:") if cut > 0 else text[:width - 1]) + "…"


def anomaly_line(anomaly: Anomaly) -> Text:
    """One anomaly as one line for ``--follow``, coloured by severity."""
    line = Text(f"#{anomaly.sequence} {format_time(anomaly.timestamp)}Z ")
    line.append(f"{str(anomaly.severity).upper():8}",
                style=SEVERITY_STYLES.get(str(anomaly.severity), ""))
    line.append(f" {anomaly.anomaly_type} {_where(anomaly)} "
                f"score={_num(anomaly.score, 2)} {anomaly.description}")
    return line
