"""What a scenario step says about its result: variables, paths and checks.

The one implementation of the scenario language of README.md (``${var}`` substitution,
paths with selectors, the checks and the tensor check); every language's run goes through it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import struct
from typing import Any

_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
MISSING = object()


class CheckFailed(Exception):
    """A step's call or one of its expectations did not hold."""


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
    """The value at ``path``: ``DEFAULT`` for an absent last field, ``MISSING`` for no such path."""
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
                return MISSING
            if name not in cur:
                return DEFAULT if (i == len(segs) - 1 and not selectors) else MISSING
            cur = cur[name]
        for j, sel in enumerate(selectors):
            if not isinstance(cur, list):
                return MISSING
            if sel == "*":
                rest = (
                    [(None, selectors[j + 1 :]), *segs[i + 1 :]]
                    if j + 1 < len(selectors)
                    else segs[i + 1 :]
                )
                items = [_resolve(item, rest) for item in cur]
                return [x for x in items if x is not MISSING]
            if re.fullmatch(r"-?\d+", sel):
                idx = int(sel)
                if idx < -len(cur) or idx >= len(cur):
                    return MISSING
                cur = cur[idx]
                continue
            conds = [c.split("=", 1) for c in sel.split(",")]
            found = MISSING
            for item in cur:
                if isinstance(item, dict) and all(_to_text(item.get(k, "")) == v for k, v in conds):
                    found = item
                    break
            if found is MISSING:
                return MISSING
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
    """Deep equality where numbers and numeric strings compare as numbers (int64 is a string)."""
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
    if v is MISSING:
        return "<missing>"
    text = repr(v) if v is DEFAULT else json.dumps(v)
    return text if len(text) <= 200 else text[:200] + "..."


def check(doc: Any, spec: dict[str, Any], digests: dict[str, str]) -> None:
    """Apply one ``expect`` entry to a result; tensor digests are recorded in ``digests``."""
    path = spec["path"]
    v = resolve(doc, path)
    if "exists" in spec:
        exists = v is not MISSING and v is not DEFAULT
        if exists != spec["exists"]:
            raise CheckFailed(f"{path}: exists is {exists}, expected {spec['exists']}")
        return
    if v is MISSING:
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
    """A proto-JSON ``Tensor`` as (shape, dtype name, raw bytes, values)."""
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
    """The ``tensor`` check: shape, dtype, symmetry, bounds, elements and the bytes' digest."""
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
