"""What a case records: metric rows, paired ratios, targets and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench._stats import summary


@dataclass
class CaseResult:
    """Everything one case measured, ready to be written as JSON and as a Markdown table.

    Attributes:
        name: Short case id (``unary``, ``matrix``...), as given to ``--cases``.
        title: One line saying what the case compares.
        rows: One dict per (group, variant, metric) with the summary over repetitions.
        targets: Pass/fail of the issue's targets this case decides.
        notes: Free-form remarks (how data was made, fallbacks taken, bottlenecks seen).
        extra: Case-specific raw details kept in the JSON only.
    """

    name: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def metric(
        self,
        group: str,
        variant: str,
        metric: str,
        unit: str,
        values: list[float],
        *,
        ratio: list[float] | None = None,
        ratio_label: str = "",
        note: str = "",
    ) -> dict[str, Any]:
        """Add one row: per-repetition ``values`` and, optionally, paired ``ratio`` values."""
        row: dict[str, Any] = {
            "group": group,
            "variant": variant,
            "metric": metric,
            "unit": unit,
            **summary(values),
            "ratio": summary(ratio) if ratio is not None else None,
            "ratio_label": ratio_label,
            "note": note,
        }
        self.rows.append(row)
        return row

    def target(
        self,
        tid: str,
        description: str,
        requirement: str,
        measured: float | None,
        unit: str,
        passed: bool | None,
        note: str = "",
    ) -> None:
        """Record one target: what was required, what was measured, and whether it passed."""
        self.targets.append({
            "id": tid,
            "case": self.name,
            "description": description,
            "requirement": requirement,
            "measured": measured,
            "unit": unit,
            "passed": passed,
            "note": note,
        })

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "rows": self.rows,
            "targets": self.targets,
            "notes": self.notes,
            "extra": self.extra,
        }
