"""Client-side files: CSV, JSON and Parquet downloads (TensorBoard runs come from the server)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neural_heatmap._analytics_types import (
    Anomaly,
    CorrelationMatrix,
    TemporalPattern,
)
from neural_heatmap._enums import ExportFormat

__all__ = [
    "format_from_suffix",
    "write_anomalies",
    "write_matrix",
    "write_patterns",
]

_SUFFIXES = {
    ".csv": ExportFormat.CSV,
    ".json": ExportFormat.JSON,
    ".parquet": ExportFormat.PARQUET,
    ".pq": ExportFormat.PARQUET,
}


def format_from_suffix(path: Path) -> ExportFormat:
    """The file format named by a path's suffix.

    Raises:
        ValueError: For suffixes other than ``.csv``, ``.json``, ``.parquet``.
    """
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its suffix; use .csv, .json or .parquet"
        )
    return fmt


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _prepare(path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    return out


def write_matrix(cm: CorrelationMatrix, path: str | os.PathLike[str]) -> Path:
    """Write a correlation matrix; the format comes from the suffix.

    CSV and Parquet hold a table labelled both ways (index and columns are
    the labels; read back with ``pd.read_csv(p, index_col=0)`` or
    ``pd.read_parquet(p)``). JSON holds the seed's shape
    ``{matrix, labels, timestamp, metadata}``; NaN becomes ``null``.
    """
    out = _prepare(path)
    fmt = format_from_suffix(out)
    if fmt is ExportFormat.JSON:
        out.write_text(json.dumps(_json_safe(cm.to_dict())))
        return out
    df = cm.to_dataframe()
    if fmt is ExportFormat.CSV:
        df.to_csv(out)
    else:
        df.to_parquet(out, engine="pyarrow")
    return out


def _anomaly_rows(anomalies: Sequence[Anomaly]) -> list[dict[str, Any]]:
    rows = []
    for a in anomalies:
        rows.append(
            {
                "sequence": a.sequence,
                "anomaly_type": str(a.anomaly_type),
                "severity": str(a.severity),
                "timestamp": a.timestamp,
                "model_id": a.model_id or "",
                "layer": a.layer or "",
                "score": a.score,
                "description": a.description,
                "location_x": a.location["x"] if a.location else float("nan"),
                "location_y": a.location["y"] if a.location else float("nan"),
                "metadata": json.dumps(_json_safe(a.metadata), sort_keys=True),
            }
        )
    return rows


_ANOMALY_COLUMNS = [
    "sequence",
    "anomaly_type",
    "severity",
    "timestamp",
    "model_id",
    "layer",
    "score",
    "description",
    "location_x",
    "location_y",
    "metadata",
]


def write_anomalies(anomalies: Sequence[Anomaly], path: str | os.PathLike[str]) -> Path:
    """Write anomalies; the format comes from the suffix.

    CSV and Parquet get one row per anomaly (location split into
    ``location_x``/``location_y``, metadata as a JSON string). JSON gets
    ``{"anomalies": [...]}`` with the seed's field names.
    """
    out = _prepare(path)
    fmt = format_from_suffix(out)
    if fmt is ExportFormat.JSON:
        out.write_text(json.dumps(_json_safe({"anomalies": [a.to_dict() for a in anomalies]})))
        return out
    import pandas as pd

    df = pd.DataFrame(_anomaly_rows(anomalies), columns=_ANOMALY_COLUMNS)
    if fmt is ExportFormat.CSV:
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, engine="pyarrow", index=False)
    return out


def write_patterns(patterns: Sequence[TemporalPattern], path: str | os.PathLike[str]) -> Path:
    """Write temporal patterns (JSON list, or one row each in CSV/Parquet)."""
    out = _prepare(path)
    fmt = format_from_suffix(out)
    rows = [
        {
            "pattern_type": str(p.pattern_type),
            "model_id": p.model_id,
            "layer_id": p.layer_id,
            "frequency": p.frequency,
            "amplitude": p.amplitude,
            "phase": p.phase,
            "confidence": p.confidence,
            "start_time": p.start_time,
            "end_time": p.end_time,
            "metadata": p.metadata,
        }
        for p in patterns
    ]
    if fmt is ExportFormat.JSON:
        out.write_text(json.dumps(_json_safe({"patterns": rows})))
        return out
    import pandas as pd

    for row in rows:
        row["metadata"] = json.dumps(_json_safe(row["metadata"]), sort_keys=True)
    df = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["pattern_type"])
    if fmt is ExportFormat.CSV:
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, engine="pyarrow", index=False)
    return out
