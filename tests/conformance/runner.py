"""Python conformance runner: executes tests/conformance/scenarios.json against a live bridge.

The same file is executed by the TypeScript runner (sdk/typescript/src/conformance/runner.ts)
and the Go runner (sdk/go/conformance); the format is described in README.md next to this file.
Every runner prints ``PASS name`` / ``FAIL name: reason`` per scenario, then
``N passed, M failed``, exits non-zero on a failure, and writes a JSON result file whose
``digests`` (sha256 of tensor bytes) must be equal across languages.

Usage::

    python -m tests.conformance.runner --target 127.0.0.1:50051 [--auth-target H:P --token T]
        [--run py] [--out results.json] [--only name,name]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import math
import os
import re
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.message import Message
from neural_heatmap.v1 import (
    ingest_pb2,
    neural_heatmap_service_pb2,
    tensor_pb2,
)

SERVICE = "neural_heatmap.v1.NeuralHeatmapService"
DEFAULT_SCENARIOS = Path(__file__).with_name("scenarios.json")
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_MISSING = object()


class CheckFailed(Exception):
    """A step's call or one of its expectations did not hold."""


@dataclass
class Options:
    target: str
    auth_target: str | None = None
    token: str | None = None
    run: str = "py"
    only: Sequence[str] = ()
    scenarios: Path = DEFAULT_SCENARIOS


@dataclass
class Report:
    results: dict[str, str] = field(default_factory=dict)  # name -> "PASS" or reason
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results.values() if r != "PASS")

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results.values() if r == "PASS")

    def to_json(self, run: str) -> dict[str, Any]:
        return {"language": "python", "run": run, "results": self.results, "digests": self.digests}


# ----------------------------------------------------------------------------- substitution


def substitute(value: Any, env: dict[str, Any]) -> Any:
    """Replaces ``${var}`` in every string; a string that is one whole ``${var}`` keeps its type."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            return _lookup(env, whole.group(1))
        return _VAR.sub(lambda m: _to_text(_lookup(env, m.group(1))), value)
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value


def _lookup(env: dict[str, Any], name: str) -> Any:
    if name not in env:
        raise CheckFailed(f"variable ${{{name}}} is not set")
    return env[name]


def _to_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return json.dumps(v)


# ----------------------------------------------------------------------------- paths


_SEGMENT = re.compile(r"([^.\[\]]+)?((?:\[[^\]]*\])*)")


def _split_path(path: str) -> list[tuple[str | None, list[str]]]:
    out: list[tuple[str | None, list[str]]] = []
    for part in _split_dots(path):
        m = _SEGMENT.fullmatch(part)
        if not m:
            raise CheckFailed(f"bad path {path!r}")
        name = m.group(1)
        selectors = re.findall(r"\[([^\]]*)\]", m.group(2) or "")
        out.append((name, selectors))
    return out


def _split_dots(path: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def resolve(doc: Any, path: str) -> Any:
    """Resolves a path; a missing last field of an existing object is ``("default",)``."""
    return _resolve(doc, _split_path(path))


class _Default:
    """A field absent from an existing object: proto-JSON omits default values."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT = _Default()


def _resolve(cur: Any, segs: list[tuple[str | None, list[str]]]) -> Any:
    for i, (name, selectors) in enumerate(segs):
        if name is not None:
            if not isinstance(cur, dict):
                return _MISSING
            if name not in cur:
                return DEFAULT if (i == len(segs) - 1 and not selectors) else _MISSING
            cur = cur[name]
        for j, sel in enumerate(selectors):
            if not isinstance(cur, list):
                if cur is DEFAULT or cur is _MISSING:
                    return _MISSING
                return _MISSING
            if sel == "*":
                rest = (
                    [(None, selectors[j + 1 :]), *segs[i + 1 :]]
                    if j + 1 < len(selectors)
                    else segs[i + 1 :]
                )
                items = [_resolve(item, rest) for item in cur]
                return [x for x in items if x is not _MISSING]
            if re.fullmatch(r"-?\d+", sel):
                idx = int(sel)
                if idx < -len(cur) or idx >= len(cur):
                    return _MISSING
                cur = cur[idx]
                continue
            conds = [c.split("=", 1) for c in sel.split(",")]
            found = _MISSING
            for item in cur:
                if isinstance(item, dict) and all(_to_text(item.get(k, "")) == v for k, v in conds):
                    found = item
                    break
            if found is _MISSING:
                return _MISSING
            cur = found
    return cur


# ----------------------------------------------------------------------------- checks


def _num(v: Any) -> float:
    if v is DEFAULT:
        return 0.0
    if isinstance(v, bool):
        raise CheckFailed(f"expected a number, got {v!r}")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise CheckFailed(f"expected a number, got {v!r}")


def _is_zero(v: Any) -> bool:
    return (
        v in (0, "", False, None)
        or v == []
        or v == {}
        or (isinstance(v, str) and (v.endswith("_UNSPECIFIED") or v == "0"))
    )


def equal(actual: Any, expected: Any) -> bool:
    if actual is DEFAULT:
        return _is_zero(expected)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float)) or isinstance(actual, (int, float)):
        try:
            return _num(actual) == _num(expected)
        except CheckFailed:
            return False
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(actual) == set(expected)
            and all(equal(actual[k], expected[k]) for k in expected)
        )
    return bool(actual == expected)


def _as_list(v: Any, path: str) -> list[Any]:
    if v is DEFAULT:
        return []
    if not isinstance(v, list):
        raise CheckFailed(f"{path}: expected a list, got {_short(v)}")
    return v


def _short(v: Any) -> str:
    if v is _MISSING:
        return "<missing>"
    text = repr(v) if v is DEFAULT else json.dumps(v)
    return text if len(text) <= 200 else text[:200] + "..."


def check(doc: Any, spec: dict[str, Any], digests: dict[str, str]) -> None:
    path = spec["path"]
    v = resolve(doc, path)
    if "exists" in spec:
        exists = v is not _MISSING and v is not DEFAULT
        if exists != spec["exists"]:
            raise CheckFailed(f"{path}: exists is {exists}, expected {spec['exists']}")
        return
    if v is _MISSING:
        raise CheckFailed(f"{path}: not found")
    for op, want in spec.items():
        if op in ("path", "tol"):
            continue
        if op == "eq":
            if not equal(v, want):
                raise CheckFailed(f"{path}: got {_short(v)}, expected {_short(want)}")
        elif op == "approx":
            tol = float(spec.get("tol", 1e-9))
            if not abs(_num(v) - float(want)) <= tol:
                raise CheckFailed(f"{path}: got {_short(v)}, expected {want} +- {tol}")
        elif op in ("gt", "ge", "lt", "le"):
            a, b = _num(v), _num(want)
            ok = {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
            if not ok:
                raise CheckFailed(f"{path}: got {_short(v)}, expected {op} {_short(want)}")
        elif op == "len":
            n = len(_as_list(v, path))
            if n != int(want):
                raise CheckFailed(f"{path}: length {n}, expected {want}")
        elif op == "len_ge":
            n = len(_as_list(v, path))
            if n < int(want):
                raise CheckFailed(f"{path}: length {n}, expected >= {want}")
        elif op == "contains":
            items = _as_list(v, path)
            if not any(equal(x, want) for x in items):
                raise CheckFailed(f"{path}: {_short(items)} does not contain {_short(want)}")
        elif op == "all_eq":
            for x in _as_list(v, path):
                if not equal(x, want):
                    raise CheckFailed(f"{path}: element {_short(x)} != {_short(want)}")
        elif op == "all_gt":
            for x in _as_list(v, path):
                if not _num(x) > _num(want):
                    raise CheckFailed(f"{path}: element {_short(x)} not > {_short(want)}")
        elif op == "strictly_increasing":
            nums = [_num(x) for x in _as_list(v, path)]
            increasing = all(b > a for a, b in itertools.pairwise(nums))
            if increasing != want:
                raise CheckFailed(f"{path}: {nums} strictly increasing is not {want}")
        elif op == "tensor":
            check_tensor(v, want, path, digests)
        else:
            raise CheckFailed(f"{path}: unknown check {op!r}")


def decode_tensor(t: dict[str, Any]) -> tuple[list[int], str, bytes, list[float]]:
    shape = [int(x) for x in t.get("shape", [])]
    dtype = t.get("dtype", "DATA_TYPE_UNSPECIFIED")
    raw = base64.b64decode(t.get("data", ""))
    n = math.prod(shape) if shape else 0
    if dtype == "DATA_TYPE_FLOAT32":
        size, fmt = 4, "f"
    elif dtype == "DATA_TYPE_FLOAT64":
        size, fmt = 8, "d"
    else:
        raise CheckFailed(f"unknown tensor dtype {dtype}")
    if len(raw) != n * size:
        raise CheckFailed(f"tensor has {len(raw)} bytes, shape {shape} x {size} needs {n * size}")
    values = list(struct.unpack(f"<{n}{fmt}", raw))
    return shape, dtype, raw, values


def check_tensor(t: Any, spec: dict[str, Any], path: str, digests: dict[str, str]) -> None:
    if not isinstance(t, dict):
        raise CheckFailed(f"{path}: not a tensor: {_short(t)}")
    shape, dtype, raw, values = decode_tensor(t)
    if "shape" in spec and shape != spec["shape"]:
        raise CheckFailed(f"{path}: shape {shape}, expected {spec['shape']}")
    if "dtype" in spec and dtype != spec["dtype"]:
        raise CheckFailed(f"{path}: dtype {dtype}, expected {spec['dtype']}")
    if "symmetric_unit_diagonal" in spec:
        tol = float(spec["symmetric_unit_diagonal"])
        if len(shape) != 2 or shape[0] != shape[1]:
            raise CheckFailed(f"{path}: not square: {shape}")
        n = shape[0]
        for i in range(n):
            d = values[i * n + i]
            if not abs(d - 1.0) <= tol:
                raise CheckFailed(f"{path}: diagonal [{i},{i}] = {d}, expected 1")
            for j in range(i + 1, n):
                a, b = values[i * n + j], values[j * n + i]
                if not abs(a - b) <= tol:
                    raise CheckFailed(f"{path}: [{i},{j}] = {a} but [{j},{i}] = {b}")
    if "abs_le" in spec:
        lim = float(spec["abs_le"])
        for k, x in enumerate(values):
            if not abs(x) <= lim:
                raise CheckFailed(f"{path}: element {k} = {x} exceeds {lim} in magnitude")
    for i, j, want, tol in spec.get("elements", []):
        x = values[int(i) * shape[1] + int(j)]
        if not abs(x - want) <= tol:
            raise CheckFailed(f"{path}: [{i},{j}] = {x}, expected {want} +- {tol}")
    if "digest" in spec:
        digests[spec["digest"]] = hashlib.sha256(raw).hexdigest()


# ----------------------------------------------------------------------------- generated frames


def generate_requests(gen: dict[str, Any]) -> list[Message]:
    """Builds IngestActivationsRequest messages exactly as every other runner does."""
    steps, dt_ms, batch = int(gen["steps"]), int(gen["dt_ms"]), int(gen.get("batch", 100))
    start = gen.get("start_s", 0)
    if start == "now":
        start = int(time.time()) - (steps * dt_ms + 999) // 1000
    start = int(start)
    frames = []
    for k in range(steps):
        ms = k * dt_ms
        t = ms / 1000.0
        for layer in gen["layers"]:
            units = int(layer["units"])
            values = [layer_value(layer, k, u, t) for u in range(units)]
            if k in layer.get("nan_steps", []):
                values[0] = math.nan
            frames.append(
                ingest_pb2.ActivationFrame(
                    model_id=gen["model_id"],
                    layer_id=layer["layer_id"],
                    values=tensor_pb2.Tensor(
                        shape=[units],
                        dtype=tensor_pb2.DATA_TYPE_FLOAT32,
                        data=struct.pack(f"<{units}f", *values),
                    ),
                    timestamp={"seconds": start + ms // 1000, "nanos": (ms % 1000) * 1_000_000},
                    step=k,
                )
            )
    return [
        neural_heatmap_service_pb2.IngestActivationsRequest(frames=frames[i : i + batch])
        for i in range(0, len(frames), batch)
    ]


def generated_digest(gen: dict[str, Any]) -> str:
    """sha256 of every generated frame's tensor bytes in order (equal across languages)."""
    h = hashlib.sha256()
    for req in generate_requests(gen):
        for frame in req.frames:  # type: ignore[attr-defined]
            h.update(frame.values.data)
    return h.hexdigest()


def layer_value(layer: dict[str, Any], k: int, u: int, t: float) -> float:
    """One unit's activation in float64; packing as '<f' rounds it to float32 like the others."""
    sig = layer["signal"]
    kind = sig["kind"]
    amp = float(sig.get("amp", 1.0))
    offset = float(sig.get("offset", 0.0))
    freq = float(sig.get("freq", 0.0))
    if kind == "sine":
        w = 2.0 * math.pi * freq
        s = amp * math.sin(w * t) + offset
    elif kind == "ramp":
        s = float(sig.get("slope", 0.0)) * k + offset
    elif kind == "multisine":
        w = 2.0 * math.pi * freq * (u + 1)
        s = amp * math.sin(w * t + 0.5 * u) + offset
    else:
        raise CheckFailed(f"unknown signal kind {kind!r}")
    gain = float(layer.get("gain", 1.0))
    spread = float(layer.get("spread", 0.0))
    bias = float(layer.get("bias", 0.0))
    return gain * s * (1.0 + spread * u) + bias


# ----------------------------------------------------------------------------- calls


class Caller:
    """Calls any method of the service by name with messages built from proto-JSON."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.service = neural_heatmap_service_pb2.DESCRIPTOR.services_by_name[
            "NeuralHeatmapService"
        ]

    def method(self, rpc: str) -> Any:
        m = self.service.methods_by_name.get(rpc)
        if m is None:
            raise CheckFailed(f"no method {rpc} in {SERVICE}")
        return m

    def call(self, step: dict[str, Any], metadata: list[tuple[str, str]]) -> Any:
        m = self.method(step["rpc"])
        req_cls = message_factory.GetMessageClass(m.input_type)
        resp_cls = message_factory.GetMessageClass(m.output_type)
        path = f"/{SERVICE}/{m.name}"
        ser: Callable[[Message], bytes] = lambda msg: msg.SerializeToString()  # noqa: E731
        timeout = float(step.get("timeout_s", 30))
        if m.client_streaming:
            if "generate" in step:
                reqs = generate_requests(step["generate"])
            else:
                reqs = [json_format.ParseDict(r, req_cls()) for r in step.get("requests", [])]
            stub = self.channel.stream_unary(path, ser, resp_cls.FromString)
            resp = stub(iter(reqs), timeout=timeout, metadata=metadata)
            return json_format.MessageToDict(resp)
        req = json_format.ParseDict(step.get("request", {}), req_cls())
        if m.server_streaming:
            stub = self.channel.unary_stream(path, ser, resp_cls.FromString)
            return self._collect(stub(req, timeout=timeout, metadata=metadata), step)
        stub = self.channel.unary_unary(path, ser, resp_cls.FromString)
        return json_format.MessageToDict(stub(req, timeout=timeout, metadata=metadata))

    @staticmethod
    def _collect(stream: Iterator[Message], step: dict[str, Any]) -> dict[str, Any]:
        take = int(step.get("take", 1))
        items: list[Any] = []
        try:
            for msg in stream:
                got = resolve(json_format.MessageToDict(msg), step["collect"])
                if isinstance(got, list):
                    items.extend(got)
                elif got is not _MISSING and got is not DEFAULT:
                    items.append(got)
                if len(items) >= take:
                    break
        finally:
            stream.cancel()  # type: ignore[attr-defined]
        if len(items) < take:
            raise CheckFailed(f"stream ended after {len(items)} of {take} items")
        return {"items": items[:take]}


# ----------------------------------------------------------------------------- scenarios


def run_scenarios(opts: Options, out: Callable[[str], None] = print) -> Report:
    doc = json.loads(Path(opts.scenarios).read_text())
    report = Report()
    channels: dict[str, grpc.Channel] = {}
    grpc_opts = [
        ("grpc.max_receive_message_length", 256 << 20),
        ("grpc.max_send_message_length", 256 << 20),
    ]
    try:
        for scenario in doc["scenarios"]:
            name = scenario["name"]
            if opts.only and name not in opts.only:
                continue
            try:
                target_kind = scenario.get("target", "default")
                target = opts.auth_target if target_kind == "auth" else opts.target
                if not target:
                    raise CheckFailed(f"scenario needs the {target_kind} target (--auth-target)")
                if target not in channels:
                    channels[target] = grpc.insecure_channel(target, options=grpc_opts)
                run_scenario(scenario, Caller(channels[target]), opts, report.digests)
                report.results[name] = "PASS"
                out(f"PASS {name}")
            except CheckFailed as e:
                report.results[name] = str(e)
                out(f"FAIL {name}: {e}")
            except Exception as e:  # a runner bug must still be one FAIL line
                report.results[name] = f"{type(e).__name__}: {e}"
                out(f"FAIL {name}: {type(e).__name__}: {e}")
    finally:
        for ch in channels.values():
            ch.close()
    out(f"{report.passed} passed, {report.failed} failed")
    return report


def run_scenario(
    scenario: dict[str, Any], caller: Caller, opts: Options, digests: dict[str, str]
) -> None:
    env: dict[str, Any] = {"RUN": opts.run}
    for i, raw_step in enumerate(scenario["steps"]):
        label = f"step {i + 1} {raw_step['rpc']}" + (
            f" ({raw_step['name']})" if "name" in raw_step else ""
        )
        try:
            run_step(raw_step, caller, opts, env, digests)
        except CheckFailed as e:
            raise CheckFailed(f"{label}: {e}") from e


def _metadata(step: dict[str, Any], opts: Options) -> list[tuple[str, str]]:
    auth = step.get("auth", "token" if opts.token else "none")
    if auth == "none":
        return []
    if auth == "wrong":
        return [("authorization", "Bearer wrong-" + (opts.token or "token"))]
    if not opts.token:
        raise CheckFailed("step needs a token (--token or NEURAL_HEATMAP_TOKEN)")
    return [("authorization", f"Bearer {opts.token}")]


def run_step(
    raw_step: dict[str, Any],
    caller: Caller,
    opts: Options,
    env: dict[str, Any],
    digests: dict[str, str],
) -> None:
    deadline = time.monotonic() + float(raw_step.get("retry_s", 0))
    expect_error = raw_step.get("expect_error")
    while True:
        try:
            step = {k: v for k, v in raw_step.items() if k not in ("expect", "capture")}
            step = substitute(step, env)
            try:
                result = caller.call(step, _metadata(step, opts))
            except grpc.RpcError as e:
                code = e.code().name if e.code() else "UNKNOWN"  # type: ignore[attr-defined]
                if expect_error:
                    if code == expect_error:
                        return
                    raise CheckFailed(f"status {code}, expected {expect_error}") from e
                raise CheckFailed(f"status {code}: {e.details()}") from e  # type: ignore[attr-defined]
            if expect_error:
                raise CheckFailed(f"call succeeded, expected status {expect_error}")
            captured = {}
            for var, path in raw_step.get("capture", {}).items():
                v = resolve(result, substitute(path, env))
                if v is _MISSING or v is DEFAULT:
                    raise CheckFailed(f"capture {var}: {path} not found")
                captured[var] = v
            local = {**env, **captured}
            step_digests: dict[str, str] = {}
            for spec in raw_step.get("expect", []):
                check(result, substitute(spec, local), step_digests)
            if isinstance(step.get("generate"), dict) and "digest" in step["generate"]:
                step_digests[step["generate"]["digest"]] = generated_digest(step["generate"])
            env.update(captured)
            digests.update(step_digests)
            return
        except CheckFailed:
            if expect_error or time.monotonic() >= deadline:
                raise
            time.sleep(0.25)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--target", required=True, help="host:port of the bridge")
    p.add_argument("--auth-target", default=os.environ.get("NEURAL_HEATMAP_AUTH_TARGET"))
    p.add_argument("--token", default=os.environ.get("NEURAL_HEATMAP_TOKEN"))
    p.add_argument("--run", default="py", help="prefix of every model id (keeps runs apart)")
    p.add_argument("--scenarios", default=str(DEFAULT_SCENARIOS))
    p.add_argument("--only", default="", help="comma list of scenario names")
    p.add_argument("--out", help="write results and digests as JSON here")
    a = p.parse_args(argv)
    opts = Options(
        target=a.target,
        auth_target=a.auth_target,
        token=a.token,
        run=a.run,
        only=[s for s in a.only.split(",") if s],
        scenarios=Path(a.scenarios),
    )
    report = run_scenarios(opts, out=lambda line: print(line, flush=True))
    if a.out:
        Path(a.out).write_text(json.dumps(report.to_json(opts.run), indent=2, sort_keys=True))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
