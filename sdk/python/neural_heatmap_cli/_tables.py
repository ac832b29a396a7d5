"""Rich tables of the SDK's results (what people see without ``--json``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from neural_heatmap import Anomaly, CorrelationMatrix, ModelInfo, TemporalPattern
from rich.table import Table
from rich.text import Text

from neural_heatmap_cli._output import SEVERITY_STYLES, format_time

__all__ = [
    "MAX_MATRIX_LABELS_SHOWN",
    "anomaly_line",
    "anomaly_table",
    "matrix_table",
    "models_table",
    "patterns_table",
]

MAX_MATRIX_LABELS_SHOWN = 16
"""Rows and columns a matrix table shows; the rest is for ``--out`` or ``--json``."""


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def models_table(models: Sequence[ModelInfo]) -> Table:
    """One row per layer: model, layer, units, canvas size, frames, last frame's time."""
    table = Table(title="models")
    for column in ("model", "layer", "units", "canvas", "frames", "last frame (UTC)"):
        table.add_column(column, justify="right" if column in ("units", "frames") else "left")
    for model in models:
        for i, layer in enumerate(model.layers):
            table.add_row(
                model.model_id if i == 0 else "", layer.layer_id, str(layer.units),
                f"{layer.width}x{layer.height}", str(layer.frames),
                format_time(model.last_timestamp) if i == 0 else "",
            )
    return table


def _cell(value: float) -> Text:
    """A correlation coloured by sign and strength (red positive, blue negative)."""
    if not math.isfinite(value):
        return Text("nan", style="dim")
    strength = min(abs(value), 1.0)
    style = ("red" if value > 0 else "blue") if strength >= 0.5 else "default"
    if strength >= 0.9:
        style = "bold " + style
    return Text(f"{value:+.2f}", style=style)


def matrix_table(matrix: CorrelationMatrix) -> Table:
    """The first :data:`MAX_MATRIX_LABELS_SHOWN` labels of a correlation matrix."""
    n = min(len(matrix.labels), MAX_MATRIX_LABELS_SHOWN)
    table = Table(title=f"correlation ({len(matrix.labels)} labels, "
                        f"{format_time(matrix.timestamp)} UTC)")
    table.add_column("")
    for label in matrix.labels[:n]:
        table.add_column(label, justify="right")
    for i, label in enumerate(matrix.labels[:n]):
        table.add_row(label, *(_cell(float(matrix.matrix[i][j])) for j in range(n)))
    return table


def patterns_table(patterns: Sequence[TemporalPattern]) -> Table:
    """One row per pattern, most confident first."""
    table = Table(title="temporal patterns (UTC)")
    for column in ("where", "type", "Hz", "amplitude", "confidence", "from", "to"):
        table.add_column(column, no_wrap=True)
    for p in sorted(patterns, key=lambda p: -p.confidence):
        table.add_row(f"{p.model_id}/{p.layer_id}", str(p.pattern_type), _num(p.frequency),
                      _num(p.amplitude), _num(p.confidence, 2),
                      format_time(p.start_time, clock=True), format_time(p.end_time, clock=True))
    return table


def _where(anomaly: Anomaly) -> str:
    """``model/layer`` of an anomaly, leaving out what it does not name."""
    return "/".join(part for part in (anomaly.model_id, anomaly.layer) if part) or "-"


def anomaly_table(anomalies: Sequence[Anomaly], title: str) -> Table:
    """One row per anomaly, in sequence order, severity in its colour; the description
    wraps in whatever width the other columns leave."""
    table = Table(title=title)
    for header in ("seq", "UTC", "severity", "type", "where", "score"):
        table.add_column(header, justify="right" if header in ("seq", "score") else "left",
                         no_wrap=True)
    table.add_column("description", ratio=1)
    for a in anomalies:
        severity = Text(str(a.severity), style=SEVERITY_STYLES.get(str(a.severity), ""))
        table.add_row(str(a.sequence), format_time(a.timestamp, clock=True), severity,
                      str(a.anomaly_type), _where(a), _num(a.score, 2),
                      a.description)
    return table


def anomaly_line(anomaly: Anomaly) -> Text:
    """One anomaly as one line for ``--follow``, coloured by severity."""
    line = Text(f"#{anomaly.sequence} {format_time(anomaly.timestamp)}Z ")
    line.append(f"{str(anomaly.severity).upper():8}",
                style=SEVERITY_STYLES.get(str(anomaly.severity), ""))
    line.append(f" {anomaly.anomaly_type} {_where(anomaly)} "
                f"score={_num(anomaly.score, 2)} {anomaly.description}")
    return line
