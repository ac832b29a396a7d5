"""Server-side exports of the correlation matrix (and, for TensorBoard, the series).

Formats: CSV (labels as header and first column), JSON (the seed's
``CorrelationMatrix``), Parquet (a ``label`` column plus one float column per
label) and a TensorBoard run written into a directory ``<filename>/`` by the
project's one TensorBoard writer (``tensorboard_export``, which lists the tags).

Names are checked by ``safe_name`` and resolved paths must stay inside the
export directory, so no request can write or read outside it.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .correlation import CorrelationResult
from .errors import invalid, not_found
from .tensorboard_export import TensorBoardRun, write_tensorboard

# A first character that is not a dot, then letters, digits, '_', '-' and single dots
# (never '..'); at most MAX_NAME characters. The same text is the OpenAPI pattern.
NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.?"
MAX_NAME = 128
_NAME = re.compile(NAME_PATTERN)


def safe_name(name: Any) -> str:
    """Accept a plain file name; refuse separators, ``..`` and leading dots (400)."""
    # fullmatch: with match, "$" also matched before a trailing newline, so
    # "report.csv\n" was written but could never be downloaded.
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise invalid("filename must be a plain name of 1 to 128 characters: letters, digits, "
                      "'.', '_', '-', no path separator, no '..', no leading dot",
                      field="filename", filename=name if not isinstance(name, str) else name[:200])
    return name


def _inside(root: Path, path: Path) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise invalid("path escapes the export directory", path=str(path))
    return resolved


@dataclass
class ExportRequest:
    """One export: what to write and the data it needs (gathered on the event loop).

    Attributes:
        filename: The file (or, for TensorBoard, directory) name, already checked.
        format: One of ``EXPORT_FORMATS``.
        matrix: The correlation matrix to write.
        tensorboard: For the ``tensorboard`` format, the whole run (``tensorboard_export``).
    """

    filename: str
    format: str
    matrix: CorrelationResult
    tensorboard: TensorBoardRun | None = None


def write_export(root: Path, req: ExportRequest) -> dict[str, Any]:
    """Write one export (blocking; run it in an executor) and describe the files.

    A TensorBoard answer also carries ``sampling``: how its activation series were
    bounded (``tensorboard_export.write_tensorboard``).
    """
    root.mkdir(parents=True, exist_ok=True)
    target = _inside(root, root / req.filename)
    labels, matrix = req.matrix.labels, req.matrix.matrix
    extra: dict[str, Any] = {}
    if req.format == "csv":
        with target.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["", *labels])
            for label, row in zip(labels, matrix.tolist(), strict=True):
                out.writerow([label, *row])
    elif req.format == "json":
        target.write_text(json.dumps(req.matrix.to_json()))
    elif req.format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, Any] = {"label": pa.array(labels, type=pa.string())}
        for i, label in enumerate(labels):
            columns[label] = pa.array(matrix[:, i], type=pa.float64())
        table = pa.table(columns, metadata={"neural_heatmap": json.dumps(req.matrix.metadata)})
        pq.write_table(table, str(target))
    else:
        assert req.tensorboard is not None, "a tensorboard export carries its run"
        extra["sampling"] = write_tensorboard(target, req.tensorboard)
    files = ([target] if target.is_file()
             else sorted(p for p in target.rglob("*") if p.is_file()))
    listed = [(str(p.relative_to(root.resolve())), p.stat().st_size) for p in files]
    return {"status": "ok", "filename": req.filename, "format": req.format,
            "files": [{"name": name, "size": size} for name, size in listed],
            "bytes": sum(size for _, size in listed), **extra}


def list_exports(root: Path) -> list[dict[str, Any]]:
    """Every exported file (names relative to the export directory)."""
    if not root.is_dir():
        return []
    base = root.resolve()
    return [{"name": str(p.relative_to(base)), "size": p.stat().st_size,
             "modified": p.stat().st_mtime}
            for p in sorted(base.rglob("*")) if p.is_file()]


def resolve_export(root: Path, name: str) -> Path:
    """Find an exported file by name; ``dir/file`` only inside a TensorBoard directory."""
    parts = name.split("/")
    if len(parts) > 2:
        raise invalid("export name has too many path parts", name=name[:200])
    for part in parts:
        safe_name(part)
    path = _inside(root, root.joinpath(*parts))
    if len(parts) == 2 and not path.parent.is_dir():
        raise not_found(f"no export {name!r}", name=name)
    if not path.is_file():  # (names were checked above, so they are short)
        raise not_found(f"no export {name!r}", name=name)
    return path
