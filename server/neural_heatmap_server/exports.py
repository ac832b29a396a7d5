"""Server-side exports of the correlation matrix (and, for TensorBoard, the series).

Formats: CSV (labels as header and first column), JSON (the seed's
``CorrelationMatrix``), Parquet (a ``label`` column plus one float column per
label) and a TensorBoard run written into a directory ``<filename>/`` by the
project's one TensorBoard writer (``tensorboard_export``, which lists the tags).

Names are checked by ``safe_name`` and resolved paths must stay inside the
export directory, so no request can write or read outside it.

Exports are atomic: written under a hidden temporary name in the export directory
(``.<filename>.<random>.partial``, never listed nor served), then renamed into place
on the event loop only when the caller gets its 200 (``StagedExport``). A deadline or
a caller that leaves stops the writing at its next piece and removes the temporary
file; a finished export whose caller stopped waiting is removed too. Two exports of
the same name at once: the second is a 409 ``already_exists`` (``ExportNames``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .correlation import CorrelationResult
from .errors import ApiError, invalid, not_found
from .export_writers import write_csv, write_json, write_parquet
from .tensorboard_export import TensorBoardRun, write_tensorboard
from .workers import check_deadline

# A first character that is not a dot, then letters, digits, '_', '-' and single dots
# (never '..'); at most MAX_NAME characters. The same text is the OpenAPI pattern.
NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.?"
MAX_NAME = 128
_NAME = re.compile(NAME_PATTERN)
STAGING = "partial"  # suffix of an export being written: ".<filename>.<random>.partial"


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


@dataclass
class StagedExport:
    """An export written completely under a hidden temporary name, not yet visible.

    Made by ``write_export`` in a worker; ``publish`` (on the event loop, once the
    caller is known to get its answer) renames it into place, ``discard`` removes it
    (the deadline passed or the caller left while it was written).

    Attributes:
        root: The export directory.
        filename: The name it is published under.
        format: One of ``EXPORT_FORMATS``.
        staging: The temporary file or directory (a dot name: never listed or served).
        extra: More answer fields (TensorBoard's ``sampling``).
    """

    root: Path
    filename: str
    format: str
    staging: Path
    extra: dict[str, Any]

    def publish(self) -> dict[str, Any]:
        """Rename into place (replacing an earlier export of the name) and describe it.

        A file is swapped in with one ``os.replace``; a TensorBoard directory cannot
        replace a non-empty one, so the earlier run is first renamed aside and then
        removed: a reader sees the old run, then (after a moment without one) the new.
        """
        target = self.root / self.filename
        if self.staging.is_dir() and target.is_dir():
            old = _staging_path(self.root, self.filename, "old")
            target.rename(old)
            self.staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.staging, target)
        files = ([target] if target.is_file()
                 else sorted(p for p in target.rglob("*") if p.is_file()))
        listed = [(str(p.relative_to(self.root)), p.stat().st_size) for p in files]
        return {"status": "ok", "filename": self.filename, "format": self.format,
                "files": [{"name": name, "size": size} for name, size in listed],
                "bytes": sum(size for _, size in listed), **self.extra}

    def discard(self) -> None:
        """Remove the temporary file or directory (nothing was published)."""
        _remove(self.staging)


def _staging_path(root: Path, filename: str, kind: str) -> Path:
    """A fresh hidden name beside the target: ``.<filename>.<random>.<kind>``."""
    return root / f".{filename}.{uuid.uuid4().hex[:12]}.{kind}"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_staging(root: Path) -> None:
    """Remove temporary exports a killed server left behind (start-up only)."""
    if root.is_dir():
        for path in root.glob(f".*.{STAGING}"):
            _remove(path)
        for path in root.glob(".*.old"):
            _remove(path)


def write_export(root: Path, req: ExportRequest) -> StagedExport:
    """Write one export under a temporary name (blocking; run it in a worker).

    The matrix is written in pieces (``export_writers``), so the request's deadline
    (or its caller leaving) stops the writing between pieces. On any failure the
    temporary file is removed. A TensorBoard answer also carries ``sampling``: how
    its activation series were bounded (``tensorboard_export.write_tensorboard``).
    """
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    _inside(root, root / req.filename)
    staging = _staging_path(root, req.filename, STAGING)
    extra: dict[str, Any] = {}
    try:
        if req.format == "csv":
            write_csv(staging, req.matrix)
        elif req.format == "json":
            write_json(staging, req.matrix)
        elif req.format == "parquet":
            write_parquet(staging, req.matrix)
        else:
            assert req.tensorboard is not None, "a tensorboard export carries its run"
            extra["sampling"] = write_tensorboard(staging, req.tensorboard)
        check_deadline()  # a run stopped at its very end is not published either
    except BaseException:
        _remove(staging)
        raise
    return StagedExport(root, req.filename, req.format, staging, extra)


def list_exports(root: Path) -> list[dict[str, Any]]:
    """Every published export file (names relative to the export directory).

    Dot names are exports still being written (or left by a killed server): skipped.
    """
    if not root.is_dir():
        return []
    base = root.resolve()
    listed = []
    for p in sorted(base.rglob("*")):
        name = p.relative_to(base)
        if p.is_file() and not any(part.startswith(".") for part in name.parts):
            listed.append({"name": str(name), "size": p.stat().st_size,
                           "modified": p.stat().st_mtime})
    return listed


class ExportNames:
    """The names being exported now: the same name twice at once is refused (409).

    Two exports of one name would race to rename over each other (and a TensorBoard
    directory cannot replace a non-empty one); the second is refused at once with
    ``already_exists`` instead, before any work. Used on the event loop only.
    """

    def __init__(self) -> None:
        self._busy: set[str] = set()

    @contextlib.contextmanager
    def reserve(self, filename: str) -> Iterator[None]:
        """Hold ``filename`` while its export runs.

        Raises:
            ApiError: 409 ``already_exists`` while another export of the name runs.
        """
        if filename in self._busy:
            raise ApiError("already_exists", f"an export named {filename!r} is being "
                           "written by another request; retry once it is done",
                           filename=filename)
        self._busy.add(filename)
        try:
            yield
        finally:
            self._busy.discard(filename)


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
