"""The interpreter's side of the thin-client protocol (README.md, "Thin clients").

A thin client is a long-lived process per language: it reads one JSON request per line on
stdin (method, proto-JSON requests, metadata, target, deadline, how many stream responses to
read) and writes one JSON answer per line on stdout. Starting it once per run keeps process
start-up out of every call; the pipes make any language a client without a shared library.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pool, json_format, message_factory
from google.rpc import error_details_pb2  # noqa: F401  (registers the google.rpc detail types)

from tests.conformance.checks import CheckFailed

# How much longer than a call's own deadline to wait for its answer before calling the
# client broken: the client enforces the deadline itself, this only catches a hung client.
ANSWER_GRACE_S = 15.0


@dataclass
class Answer:
    """One answer line: responses so far, and either ``open`` or the final status."""

    id: int
    responses: list[Any]
    open: bool = False
    code: str = "OK"
    message: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        """The final status as the document an ``expect_error`` step's checks read."""
        return {"code": self.code, "message": self.message, "details": self.details}


class StatusError(Exception):
    """The call ended with a status other than OK."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"status {answer.code}: {answer.message}")
        self.answer = answer


def decode_detail(detail: Mapping[str, str]) -> dict[str, Any]:
    """A ``{"type", "value"}`` status detail as proto-JSON ``Any`` (``@type`` plus fields).

    Clients send details undecoded, so no language needs the google.rpc types generated;
    they are decoded here once. An unknown type keeps its base64 ``value``.
    """
    type_url = "type.googleapis.com/" + detail["type"]
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(detail["type"])
    except KeyError:
        return {"@type": type_url, "value": detail["value"]}
    msg = message_factory.GetMessageClass(desc).FromString(base64.b64decode(detail["value"]))
    return {"@type": type_url, **json_format.MessageToDict(msg)}


class ThinClient:
    """A running thin client: send requests, read answers, with a timeout per answer.

    Args:
        command: The program and its arguments.
        env: Environment of the process (default: this one's).
        cwd: Working directory of the process.
    """

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.command = list(command)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self._ids = itertools.count(1)

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode("utf-8", "replace")

    def _answer_to(self, request_id: int, timeout_s: float) -> dict[str, Any]:
        """The answer line of one request; late answers to requests given up on are dropped."""
        while True:
            try:
                line = self._lines.get(timeout=timeout_s)
            except queue.Empty:
                raise CheckFailed(
                    f"client {self.command[0]} did not answer within {timeout_s:g} s"
                ) from None
            if line is None:
                raise CheckFailed(
                    f"client {self.command[0]} exited ({self._proc.wait()}): {self._stderr_tail()}"
                )
            doc: dict[str, Any] = json.loads(line)
            if doc.get("id") == request_id:
                return doc
            if not (isinstance(doc.get("id"), int) and doc["id"] < request_id):
                raise CheckFailed(f"client answered id {doc.get('id')}, expected {request_id}")

    def _exchange(self, request: dict[str, Any], timeout_s: float) -> Answer:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except OSError as e:
            raise CheckFailed(f"client {self.command[0]} is gone ({e!r})") from None
        doc = self._answer_to(request["id"], timeout_s + ANSWER_GRACE_S)
        if "error" in doc:
            raise CheckFailed(f"client: {doc['error']}")
        return Answer(
            id=request["id"],
            responses=doc.get("responses") or [],
            open=bool(doc.get("open", False)),
            code=doc.get("code", "OK"),
            message=doc.get("message", ""),
            details=[decode_detail(d) for d in doc.get("details", [])],
        )

    def call(
        self,
        target: str,
        method: str,
        requests: list[Any],
        metadata: Mapping[str, str],
        timeout_s: float,
        max_responses: int | None = None,
    ) -> Answer:
        """Start a call; a server stream answers at most ``max_responses`` responses."""
        request: dict[str, Any] = {
            "id": next(self._ids),
            "op": "call",
            "target": target,
            "method": method,
            "requests": requests,
            "metadata": dict(metadata),
            "timeout_ms": round(timeout_s * 1000),
        }
        if max_responses is not None:
            request["max_responses"] = max_responses
        return self._exchange(request, timeout_s)

    def next(self, call: Answer, max_responses: int, timeout_s: float) -> Answer:
        """Read up to ``max_responses`` more responses of an open stream."""
        return self._exchange(
            {"id": call.id, "op": "next", "max_responses": max_responses}, timeout_s
        )

    def cancel(self, call: Answer) -> Answer:
        """Cancel an open stream."""
        return self._exchange({"id": call.id, "op": "cancel"}, 0)

    def close(self) -> None:
        """End the client (EOF on its stdin) and wait for it."""
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


def with_pythonpath(*dirs: Path) -> dict[str, str]:
    """This environment with ``dirs`` first on PYTHONPATH (for the Python client)."""
    parts = [str(d) for d in dirs]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(parts)}
