"""The matrix export files (CSV, JSON, Parquet), written in pieces without the GIL.

Formatting a 4,096 x 4,096 matrix as text in Python (``json.dumps``, ``csv.writer``)
takes tens of seconds of float ``repr`` under the interpreter lock; in one call it
stalled the event loop for 20 s (issue 23). Here Arrow's C++ CSV writer formats the
numbers (shortest round-trip text, the same values as Python's ``repr``) with the GIL
released, ``ROWS_PER_PIECE`` rows at a time; between pieces the request's deadline is
checked (``workers.check_deadline``), so a deadline or a departed caller stops the
writing within one piece. A JSON row is a CSV line between brackets, a non-finite
value is written as ``null`` (strict JSON, as every answer of the server).

The caller writes to a temporary file and publishes it (``exports.StagedExport``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from .correlation import CorrelationResult
from .wire import dumps
from .workers import check_deadline

# Rows formatted per piece: 64 rows of 4,096 numbers are about 5 MB of text, a few
# milliseconds of work between two deadline checks.
ROWS_PER_PIECE = 64


def _columns(matrix: np.ndarray, nulls: bool) -> list[Any]:
    """The matrix's columns as Arrow arrays (``nulls``: non-finite values as nulls).

    One transposed copy (numpy copies without the GIL) makes every column contiguous,
    so each becomes an Arrow array without a further copy.
    """
    import pyarrow as pa

    columns = np.ascontiguousarray(matrix.T, dtype=np.float64)
    finite = np.isfinite(columns) if nulls else None
    out = []
    for j in range(columns.shape[0]):
        if j % ROWS_PER_PIECE == 0:
            check_deadline()
        mask = None if finite is None or finite[j].all() else ~finite[j]
        out.append(pa.array(columns[j], type=pa.float64(), mask=mask))
    return out


def _pieces(table: Any, header: bool, options: dict[str, Any]) -> Iterator[memoryview]:
    """``table`` as CSV text, ``ROWS_PER_PIECE`` rows per piece (header in the first)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    for start in range(0, max(table.num_rows, 1), ROWS_PER_PIECE):
        check_deadline()
        sink = pa.BufferOutputStream()
        pcsv.write_csv(table.slice(start, ROWS_PER_PIECE), sink, pcsv.WriteOptions(
            include_header=header and start == 0, **options))
        yield memoryview(sink.getvalue())


def _csv_cell(text: str) -> bytes:
    """One text cell as ``csv.writer`` writes it: quoted only when it must be."""
    if any(c in text for c in ',"\r\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text.encode()


def write_csv(path: Path, result: CorrelationResult) -> None:
    """Labels as the header and the first column, then one line per row.

    The labels are written as ``csv.writer`` writes them (quoted only when they must
    be), as the export always was; Arrow formats the numbers, whose lines get their
    row's label in front (one join per piece of ``ROWS_PER_PIECE`` lines).
    """
    import pyarrow as pa

    cells = [_csv_cell(label) for label in result.labels]
    with path.open("wb") as fh:
        if not cells:  # the one empty cell of the header, quoted as csv.writer does
            fh.write(b'""\n')
            return
        fh.write(b",".join([b"", *cells]) + b"\n")
        columns = _columns(result.matrix, False)
        table = pa.Table.from_arrays(columns, names=[str(j) for j in range(len(columns))])
        for i, piece in enumerate(_pieces(table, False, {})):
            lines = bytes(piece).split(b"\n")[:-1]
            first = i * ROWS_PER_PIECE
            fh.write(b"".join(cells[first + k] + b"," + line + b"\n"
                              for k, line in enumerate(lines)))


def write_json(path: Path, result: CorrelationResult) -> None:
    """The seed's ``CorrelationMatrix`` as strict JSON (non-finite values as ``null``)."""
    import pyarrow as pa

    rest = dumps({"labels": result.labels, "timestamp": result.timestamp,
                  "metadata": result.metadata})
    with path.open("wb") as fh:
        fh.write(b'{"matrix":[')
        if result.labels:
            columns = _columns(result.matrix, True)
            table = pa.Table.from_arrays(columns, names=[str(j) for j in range(len(columns))])
            _write_rows(fh, _pieces(table, False, {"null_string": "null"}))
        fh.write(f"],{rest[1:]}".encode())


def _write_rows(fh: IO[bytes], pieces: Iterator[memoryview]) -> None:
    """``[row],[row],...,[row]`` from CSV lines (each piece ends with a line end).

    Arrow refuses a line end containing the delimiter, so the line ends become ``],[``
    here: one ``bytes.replace`` per piece (a few milliseconds under the GIL).
    """
    fh.write(b"[")
    for i, piece in enumerate(pieces):
        if i:
            fh.write(b"],[")
        fh.write(bytes(piece[:-1]).replace(b"\n", b"],["))
    fh.write(b"]")


def write_parquet(path: Path, result: CorrelationResult) -> None:
    """A ``label`` column and one float column per label (Arrow writes without the GIL)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [pa.array(result.labels, type=pa.string()), *_columns(result.matrix, False)]
    table = pa.Table.from_arrays(columns, names=["label", *result.labels],
                                 metadata={"neural_heatmap": dumps(result.metadata)})
    pq.write_table(table, str(path))
