"""Export files and their staging, in process: the writers' output, abandoned jobs,
large answers in pieces.

The writers (``export_writers``) format numbers with Arrow in pieces; these check that
what they write reads back as the very matrix (non-finite values included), and that
a job whose caller stops waiting (deadline, cancelled, client gone) stops at its next
check and has its staged result discarded (``workers.WorkPool.run``). Live, through
a server: tests/server/test_export_atomic.py and test_export_load.py.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from neural_heatmap_server.answer_pieces import UNITS_PER_PIECE, models_pieces
from neural_heatmap_server.correlation import CorrelationResult
from neural_heatmap_server.errors import ApiError
from neural_heatmap_server.export_writers import (
    ROWS_PER_PIECE,
    write_csv,
    write_json,
    write_parquet,
)
from neural_heatmap_server.exports import (
    ExportNames,
    ExportRequest,
    list_exports,
    sweep_staging,
    write_export,
)
from neural_heatmap_server.workers import Deadline, WorkClass, WorkPool, check_deadline


def _result(n: int) -> CorrelationResult:
    matrix = np.random.default_rng(n).uniform(-1, 1, (n, n))
    if n >= 3:
        matrix[0, 1], matrix[1, 2], matrix[2, 0] = np.nan, np.inf, -np.inf
    return CorrelationResult(matrix, [f"m/l{i}" for i in range(n)], 1.7e9, {"n": n})


@pytest.mark.parametrize("n", [0, 1, 3, ROWS_PER_PIECE, ROWS_PER_PIECE * 2 + 5])
def test_every_format_reads_back_as_the_matrix(tmp_path: Path, n: int) -> None:
    result = _result(n)
    write_json(tmp_path / "m.json", result)
    doc = json.loads((tmp_path / "m.json").read_text())  # strict JSON: no NaN tokens
    assert doc["labels"] == result.labels and doc["metadata"] == {"n": n}
    assert doc["timestamp"] == 1.7e9
    assert doc["matrix"] == [[v if np.isfinite(v) else None for v in row]
                             for row in result.matrix.tolist()]

    write_csv(tmp_path / "m.csv", result)
    rows = list(csv.reader(io.StringIO((tmp_path / "m.csv").read_text())))
    assert rows[0] == ["", *result.labels]
    assert [row[0] for row in rows[1:]] == result.labels
    values = np.array([[float(v) for v in row[1:]] for row in rows[1:]]).reshape(n, n)
    assert np.array_equal(values, result.matrix, equal_nan=True)  # exact: shortest repr

    write_parquet(tmp_path / "m.parquet", result)
    table = pq.read_table(tmp_path / "m.parquet")
    assert table.column("label").to_pylist() == result.labels
    for i, label in enumerate(result.labels):
        assert np.array_equal(table.column(label).to_numpy(), result.matrix[:, i],
                              equal_nan=True)


def test_a_staged_export_is_invisible_until_published(tmp_path: Path) -> None:
    (tmp_path / "old.csv").write_text("old")
    staged = write_export(tmp_path, ExportRequest("old.csv", "csv", _result(4)))
    assert staged.staging.name.startswith(".old.csv.") and staged.staging.is_file()
    assert [e["name"] for e in list_exports(tmp_path)] == ["old.csv"]
    assert (tmp_path / "old.csv").read_text() == "old"
    answer = staged.publish()
    assert answer["files"] == [{"name": "old.csv", "size": (tmp_path / "old.csv").stat().st_size}]
    assert (tmp_path / "old.csv").read_text().startswith(',m/l0,')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]

    discarded = write_export(tmp_path, ExportRequest("new.json", "json", _result(4)))
    discarded.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]


def test_leftovers_of_a_killed_server_are_swept(tmp_path: Path) -> None:
    (tmp_path / ".a.csv.0123456789ab.partial").write_text("half")
    (tmp_path / ".run.0123456789ab.partial").mkdir()
    (tmp_path / ".run.0123456789ab.partial" / "events").write_text("half")
    (tmp_path / "kept.csv").write_text("whole")
    assert [e["name"] for e in list_exports(tmp_path)] == ["kept.csv"]
    sweep_staging(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]


def test_the_same_name_is_refused_while_it_is_written() -> None:
    names = ExportNames()
    with names.reserve("a.csv"):
        with pytest.raises(ApiError) as err, names.reserve("a.csv"):
            pass
        assert (err.value.status, err.value.code) == (409, "already_exists")
        assert err.value.details == {"filename": "a.csv"}
        with names.reserve("b.csv"):
            pass
    with names.reserve("a.csv"):  # free again once the first is done
        pass


class _Looping:
    """A job that checks its deadline until stopped; records how it ended."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.ended: list[str] = []

    def __call__(self) -> str:
        self.started.set()
        try:
            for _ in range(10_000):
                check_deadline()
                time.sleep(0.01)
        except ApiError as exc:
            self.ended.append(exc.code)
            raise
        self.ended.append("finished")
        return "result"


async def _until(predicate: object, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < end, "not within the functional bound"
        await asyncio.sleep(0.02)


async def test_a_caller_that_leaves_stops_the_job() -> None:
    pool = WorkPool(1, [WorkClass("exports", 2, "--max-pending-exports")])
    job = _Looping()
    gone = threading.Event()
    task = asyncio.create_task(pool.run("exports", Deadline.within(600), job, gone.is_set))
    await _until(job.started.is_set)
    gone.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until(lambda: job.ended)
    assert job.ended == ["unavailable"]  # stopped at its next check, not finished
    await _until(lambda: pool.admitted("exports") == 0)
    pool.stop()


async def test_a_cancelled_caller_stops_the_job() -> None:
    pool = WorkPool(1, [WorkClass("exports", 2, "--max-pending-exports")])
    job = _Looping()
    task = asyncio.create_task(pool.run("exports", Deadline.within(600), job))
    await _until(job.started.is_set)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until(lambda: job.ended)
    assert job.ended == ["unavailable"]
    pool.stop()


async def test_a_result_made_after_the_deadline_is_discarded() -> None:
    pool = WorkPool(1, [WorkClass("exports", 2, "--max-pending-exports")])
    discarded: list[str] = []
    release = threading.Event()

    def unchecked() -> str:  # never checks: finishes whatever happens
        release.wait(30)
        return "staged"

    with pytest.raises(ApiError) as err:
        await pool.run("exports", Deadline.within(0.2), unchecked, discard=discarded.append)
    assert err.value.code == "deadline_exceeded"
    assert discarded == []
    release.set()
    await _until(lambda: discarded)
    assert discarded == ["staged"]
    pool.stop()


def test_the_unit_listing_in_pieces_is_the_listing() -> None:
    units = [{"index": i, "x": i % 7, "y": i // 7} for i in range(UNITS_PER_PIECE * 2 + 3)]
    for answer in [
        {"models": []},
        {"models": [{"model_id": "a", "frames": 3, "layers": []}]},
        {"models": [
            {"model_id": "a", "frames": 3, "layers": [
                {"layer_id": "x", "units": 2},
                {"layer_id": "y", "units": len(units), "units_detail": units},
                {"layer_id": "z", "units": 0, "units_detail": []}]},
            {"model_id": "b", "layers": [{"layer_id": "q", "units_detail": units[:1]}]}]},
    ]:
        pieces = models_pieces(answer)
        assert json.loads(b"".join(pieces)) == answer
    assert len(pieces) > 2 * 2  # the long listing came in more than one piece
