"""CPU work off the event loop: a bounded worker pool, admission control and deadlines.

The event loop serves ``/health``, every WebSocket and every cheap route, so
nothing that grows with the caller's input runs on it. Analytics (correlation,
temporal, compare, unit listings) and exports run in ``WorkPool``, a fixed set
of threads (numpy releases the GIL in its heavy kernels, and answers are
encoded in small pieces so the loop gets the GIL back between them).

Admission is per class of work: a class admits at most ``limit`` jobs running
or waiting for a thread; the next one is refused at once with 429
``overloaded`` and ``Retry-After`` rather than queued without bound.

Every job carries a ``Deadline``: the caller's ``X-Request-Timeout-Ms``
capped by ``--max-request-seconds``. A job whose deadline passes before a
thread picks it up never starts; a running job checks ``check_deadline()`` in
its loops and stops; the caller gets 504 ``deadline_exceeded`` as soon as the
deadline passes, whether or not the thread has noticed yet. A caller that stops
waiting for any other reason (its task cancelled, its client gone) abandons the job
the same way, and a result the job still makes can be undone (``discard``). Shutting down
stops every running job at its next check, so SIGTERM is never held up by
abandoned work.

Jobs read snapshots taken on the event loop (``ActivationStore.snapshot``),
never the live ring buffers that ingestion keeps writing.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TypeVar

import numpy as np
from neural_heatmap_contract.protocol import DEADLINE_HEADER

from .errors import ApiError, deadline_exceeded, invalid, overloaded

T = TypeVar("T")

RETRY_AFTER_SECONDS = 1
MAX_HEADER_DIGITS = 12  # ~31 years in milliseconds; longer text is not a duration
GONE_POLL_SECONDS = 0.2  # how often a waiting request asks whether its caller left


@dataclass(frozen=True)
class Deadline:
    """When a request's work must be finished (``time.monotonic()`` seconds).

    Attributes:
        at: The monotonic time the caller stops waiting.
        budget: Seconds granted when the request arrived (for messages).
    """

    at: float
    budget: float

    @classmethod
    def within(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def check(self) -> None:
        """Raise 504 ``deadline_exceeded`` once the deadline has passed."""
        if self.remaining() <= 0:
            raise deadline_exceeded(
                f"the request's deadline of {self.budget:g} s passed before its work finished",
                budget_seconds=self.budget)


def parse_deadline(header: str | None, max_seconds: float) -> Deadline:
    """The request's deadline: ``min(X-Request-Timeout-Ms, --max-request-seconds)``.

    Args:
        header: The header's text (remaining milliseconds, a non-negative integer),
            or None when absent.
        max_seconds: ``--max-request-seconds``.

    Raises:
        ApiError: 400 when the header is not a non-negative integer.
    """
    if header is None:
        return Deadline.within(max_seconds)
    text = header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_HEADER_DIGITS:
        raise invalid(f"{DEADLINE_HEADER} must be a non-negative integer of milliseconds "
                      f"(at most {MAX_HEADER_DIGITS} digits)", header=DEADLINE_HEADER)
    return Deadline.within(min(int(text) / 1000.0, max_seconds))


@dataclass(frozen=True)
class _Job:
    deadline: Deadline
    stopping: threading.Event
    abandoned: threading.Event  # the caller stopped waiting (deadline, cancelled, left)


_current: contextvars.ContextVar[_Job | None] = contextvars.ContextVar("job", default=None)


def check_deadline() -> None:
    """Stop the current job when its deadline passed, its caller stopped waiting or the
    server is shutting down.

    Long loops in the analytics call this once per iteration; outside a job
    (tests, the event loop) it does nothing.
    """
    job = _current.get()
    if job is None:
        return
    if job.stopping.is_set():
        raise ApiError("unavailable", "the server is shutting down")
    if job.abandoned.is_set():
        raise ApiError("unavailable", "the caller stopped waiting for this work")
    job.deadline.check()


@dataclass(frozen=True)
class WorkClass:
    """One class of work and its admission limit.

    Attributes:
        name: What the class is (``analytics``, ``exports``), used in messages.
        limit: Most jobs of this class running or waiting for a thread.
        flag: The flag that sets ``limit``, named in the 429 message.
    """

    name: str
    limit: int
    flag: str


class WorkPool:
    """A fixed thread pool with per-class admission (see the module docstring).

    Args:
        workers: Threads (``--workers``), or processes.
        classes: The classes of work with their limits.
        processes: Run jobs in worker processes (for work that holds the GIL, such as
            ``json.loads``); jobs must then be picklable and cannot call
            ``check_deadline`` (the caller still gets 504 at the deadline).
    """

    def __init__(self, workers: int, classes: list[WorkClass], processes: bool = False) -> None:
        self._processes = processes
        self._workers = workers
        self._executor = self._new_executor()
        self._classes = {c.name: c for c in classes}
        self._admitted = dict.fromkeys(self._classes, 0)
        self._lock = threading.Lock()  # the counters are released from worker threads
        self._stopping = threading.Event()

    def admitted(self, name: str) -> int:
        """Jobs of class ``name`` running or waiting now."""
        with self._lock:
            return self._admitted[name]

    def _new_executor(self) -> Executor:
        if self._processes:
            return ProcessPoolExecutor(max_workers=self._workers, mp_context=get_context("spawn"))
        return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="nh-worker")

    def _broken(self, executor: Executor) -> ApiError:
        """A worker process died (say, killed by the OOM killer): start a fresh pool so
        later requests work again, and answer this one 503 (retryable)."""
        if self._executor is executor and not self._stopping.is_set():
            self._executor = self._new_executor()
        return ApiError("unavailable", "a worker process died while handling the request; "
                        "retry")

    def _release(self, name: str) -> None:
        with self._lock:
            self._admitted[name] -= 1

    async def run(self, name: str, deadline: Deadline, fn: Callable[[], T],
                  gone: Callable[[], bool] | None = None,
                  discard: Callable[[T], None] | None = None) -> T:
        """Run ``fn`` in a worker under ``deadline``.

        When the caller stops waiting (the deadline passes, the awaiting task is
        cancelled, or ``gone()`` turns true) the job is abandoned: it stops at its next
        ``check_deadline()``, and a result it still produces is handed to ``discard``.

        Args:
            name: The class of work.
            deadline: When the caller stops waiting.
            fn: The job.
            gone: Polled every ``GONE_POLL_SECONDS`` while waiting (say, "the client
                closed its connection"); when true the job is abandoned and this raises
                ``asyncio.CancelledError``.
            discard: Undoes a result nobody will receive (removes a staged file).

        Raises:
            ApiError: 429 ``overloaded`` when the class is full; 504
                ``deadline_exceeded`` when the deadline passes first (also
                before admission); whatever ``fn`` raises.
        """
        deadline.check()
        if self._stopping.is_set():
            raise ApiError("unavailable", "the server is shutting down")
        work_class = self._classes[name]
        with self._lock:
            admit = self._admitted[name] < work_class.limit
            if admit:
                self._admitted[name] += 1
        if not admit:
            raise overloaded(
                f"the {name} queue is full ({work_class.limit} requests running or waiting, "
                f"{work_class.flag}); retry after {RETRY_AFTER_SECONDS} s",
                RETRY_AFTER_SECONDS, work_class=name, limit=work_class.limit,
                flag=work_class.flag)
        job = _Job(deadline, self._stopping, threading.Event())

        def work() -> T:
            job.deadline.check()  # waited too long for a thread: never start
            token = _current.set(job)
            try:
                with np.errstate(all="ignore"):  # as on the loop (create_app): NaN is data
                    return fn()
            finally:
                _current.reset(token)

        executor = self._executor
        try:
            future: Future[T] = executor.submit(fn if self._processes else work)
        except BrokenExecutor:
            self._release(name)
            raise self._broken(executor) from None
        except RuntimeError:  # the executor is shut down
            self._release(name)
            raise ApiError("unavailable", "the server is shutting down") from None
        # Released when the thread is really done (or the job is cancelled before it
        # started), not when the caller stops waiting: abandoned work keeps its slot.
        future.add_done_callback(lambda _: self._release(name))
        waiting = asyncio.wrap_future(future)
        try:
            return await _wait(waiting, deadline, gone)
        except BrokenExecutor:
            raise self._broken(executor) from None
        except TimeoutError:
            _abandon(job, waiting, future, discard)
            raise deadline_exceeded(
                f"the request's deadline of {deadline.budget:g} s passed before its work "
                "finished", budget_seconds=deadline.budget) from None
        except asyncio.CancelledError:
            _abandon(job, waiting, future, discard)
            raise

    def stop(self) -> None:
        """Shutdown: refuse new jobs, drop queued ones, stop running ones at their next check."""
        self._stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _wait(waiting: asyncio.Future[T], deadline: Deadline,
                gone: Callable[[], bool] | None) -> T:
    """The job's result; ``TimeoutError`` at the deadline, ``CancelledError`` once gone."""
    while True:
        remaining = max(deadline.remaining(), 0.0)
        step = remaining if gone is None else min(remaining, GONE_POLL_SECONDS)
        done, _ = await asyncio.wait({waiting}, timeout=step)
        if done:
            return waiting.result()
        if deadline.remaining() <= 0:
            raise TimeoutError
        if gone is not None and gone():
            raise asyncio.CancelledError


def _abandon(job: _Job, waiting: asyncio.Future[T], future: Future[T],
             discard: Callable[[T], None] | None) -> None:
    """Nobody waits for ``job`` any more: stop it, and undo a result it still makes.

    A job not started yet is cancelled outright (it never runs); a running one stops
    at its next ``check_deadline()``; one that finishes anyway (or finished just now)
    has its result passed to ``discard``, in the worker thread.
    """
    job.abandoned.set()
    waiting.cancel()
    if discard is None:
        return

    def undo(done: Future[T]) -> None:
        if not done.cancelled() and done.exception() is None:
            discard(done.result())
    future.add_done_callback(undo)
