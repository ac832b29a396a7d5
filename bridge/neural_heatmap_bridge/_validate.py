"""Validation at the edge: every request is decoded and checked here, once.

The bridge registers its methods without request deserializers, so the raw
bytes reach ``_handlers.at_the_edge`` only after the interceptors (auth) have
run; there ``decode`` turns them into the request message and ``check`` walks
it. A handler therefore only ever sees a request that the server can store.
What is checked, driven by the message descriptors plus the tables below:

=====================================  =====================================  ==================
what                                   rule                                   status
=====================================  =====================================  ==================
request bytes                          decode as the method's request type    INVALID_ARGUMENT
every enum field (also repeated)       a known number; repeated: not 0        INVALID_ARGUMENT
``REQUIRED`` enum/string fields        set                                    INVALID_ARGUMENT
every uint64 field                     <= int64 max (the server's integers)   INVALID_ARGUMENT
every double/float field               finite                                 INVALID_ARGUMENT
every Timestamp                        0001-01-01 .. 9999-12-31, nanos valid  INVALID_ARGUMENT
Tensor                                 dtype FLOAT32/FLOAT64, rank <= 8,      INVALID_ARGUMENT
                                       each dimension 0 .. 2^31-1
``RANGES`` (e.g. frame ``step``)       inside the range                       INVALID_ARGUMENT
``NAMES`` (export names)               1-2 plain segments, no ``..``,         INVALID_ARGUMENT
                                       no leading dot, no control character
repeated model / layer ids             <= ``MAX_IDS_PER_REQUEST`` per field   INVALID_ARGUMENT
model / layer ids in a lookup          <= ``MAX_ID_BYTES``                    NOT_FOUND
model / layer ids that get stored      <= ``MAX_ID_BYTES``                    INVALID_ARGUMENT
model ids in a live stream's filter    known upstream (``require_models``)    NOT_FOUND
=====================================  =====================================  ==================

An id longer than ``MAX_ID_BYTES`` cannot name anything the bridge created
(its ingestion refuses such ids), so a lookup with one is answered NOT_FOUND
without asking the upstream: a 1 MiB id never becomes a 1 MiB URL. Ids travel in the
upstream URL's query string (one parameter each), so their count is capped too
(``MAX_IDS_PER_REQUEST``, contract): the server reads request lines long enough for that
many ids of the longest length (``MAX_REQUEST_LINE_BYTES``), and more is refused here,
before any upstream call, rather than as the server's "Got more than N bytes".
Frames of ``IngestActivations`` are checked one by one (``check`` on each
``ActivationFrame``) so that a bad frame is rejected and the others go on, as
the ingestion policy says; the request around them is checked here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, cast

from google.protobuf import descriptor, message
from google.protobuf.descriptor import FieldDescriptor
from neural_heatmap_contract.limits import MAX_ID_BYTES, MAX_IDS_PER_REQUEST
from neural_heatmap_contract.routes import http
from neural_heatmap_contract.v1 import tensor_pb2

from . import _errors
from ._scalars import TIMESTAMP_MAX_S, TIMESTAMP_MIN_S
from ._upstream import CallOptions, Upstream

INT64_MAX = 2**63 - 1
MAX_DIMENSION = 2**31 - 1
MAX_RANK = 8

_PKG = "neural_heatmap.v1."
# Fields that must be set (UNSPECIFIED / empty is not a value), by message.
REQUIRED: dict[str, tuple[str, ...]] = {
    _PKG + "SetThemeRequest": ("theme",),
    _PKG + "ExportCorrelationMatrixRequest": ("format", "filename"),
    _PKG + "DownloadExportRequest": ("name",),
    _PKG + "AckAnomaliesRequest": ("consumer",),
}
# Integer fields with a narrower range than their type, by (message, field).
RANGES: dict[tuple[str, str], tuple[int, int]] = {
    (_PKG + "ActivationFrame", "step"): (0, INT64_MAX),
}
# String fields that name a file: plain names, never paths (``segments`` = most parts).
NAMES: dict[tuple[str, str], int] = {
    (_PKG + "DownloadExportRequest", "name"): 2,  # "dir/file" inside a TensorBoard export
    (_PKG + "ExportCorrelationMatrixRequest", "filename"): 1,
}
# String fields holding model or layer ids.
ID_FIELDS = frozenset({"model_id", "model_ids", "layer_id", "layer_ids"})
# Messages whose ids are stored, not looked up: a too-long id there is INVALID_ARGUMENT.
STORED_IDS = frozenset({_PKG + "ActivationFrame", _PKG + "Filter"})
# Fields checked elsewhere (frames one by one, in _ingest).
SKIP: dict[str, frozenset[str]] = {_PKG + "IngestActivationsRequest": frozenset({"frames"})}

_TENSOR = _PKG + "Tensor"
_TIMESTAMP = "google.protobuf.Timestamp"
_DTYPES = frozenset({tensor_pb2.DATA_TYPE_FLOAT32, tensor_pb2.DATA_TYPE_FLOAT64})
_SEGMENT = re.compile(r"[^\x00-\x1f\x7f\\/]{1,255}")
_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


def decode(deserialize: Callable[[bytes], Any], raw: bytes, type_name: str) -> Any:
    """Parse request bytes; undecodable bytes are the caller's error (INVALID_ARGUMENT).

    Why here and not in grpc's deserializer: grpc turns a deserializer failure
    into UNKNOWN (INTERNAL on a client stream), and it runs before auth.
    """
    try:
        return deserialize(raw)
    except Exception as exc:  # DecodeError, or upb's recursion/UTF-8 refusals
        raise _errors.invalid(
            f"the request bytes are not a valid {type_name} ({type(exc).__name__})"
        ) from exc


def check(msg: message.Message, path: str = "") -> None:
    """Raise the first rule ``msg`` breaks (see the table above), or return.

    Args:
        msg: A request message (or part of one).
        path: The field path of ``msg`` inside the request, for messages.
    """
    cls = type(msg)
    whole, required, fields = _PLANS.get(cls) or _plan(cls)
    if whole is not None:
        whole(msg, path)
    for field_name in required:
        if not getattr(msg, field_name):
            where = _join(path, field_name)
            raise _errors.invalid(f"{where} must be set", field=where)
    for field_name, is_message, rule in fields:
        if is_message:
            if msg.HasField(field_name):
                rule(getattr(msg, field_name), _join(path, field_name))
            continue
        value = getattr(msg, field_name)
        if value:  # unset (0, "", empty) breaks no rule; REQUIRED is checked above
            rule(value, _join(path, field_name))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


Rule = Callable[[Any, str], None]  # (value, where) -> None, or raise


Plan = tuple[Rule | None, tuple[str, ...], tuple[tuple[str, bool, Rule], ...]]


_PLANS: dict[type[message.Message], Plan] = {}


def _plan(cls: type[message.Message]) -> Plan:
    """What to check in a message of type ``cls`` (built once per type, kept in ``_PLANS``).

    Returns:
        A rule for the whole message (Timestamp, Tensor) or None; the fields that
        must be set; and ``(field name, singular message (presence checked first),
        rule)`` for each field that has a rule. Fields without any rule are left
        out, so checking costs only what it checks.
    """
    desc = cast(descriptor.Descriptor, cls.DESCRIPTOR)
    if desc.full_name == _TIMESTAMP:
        return _check_timestamp, (), ()
    whole = _check_tensor if desc.full_name == _TENSOR else None
    plan = []
    skip = SKIP.get(desc.full_name, frozenset())
    for field in desc.fields:
        if field.name in skip or (whole is not None and field.name in ("dtype", "shape")):
            continue
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            item_rule = (
                check if value_field.message_type is not None else _scalar_rule(entry, value_field)
            )
            if item_rule is not None:
                plan.append((field.name, False, _each_value(item_rule)))
        elif entry is not None:
            plan.append((field.name, not field.is_repeated, _messages(field.is_repeated)))
        else:
            scalar = _scalar_rule(desc, field)
            if scalar is not None and field.is_repeated:
                many = _each(scalar)
                plan.append((field.name, False,
                             _counted(many) if field.name in ID_FIELDS else many))
            elif scalar is not None:
                plan.append((field.name, False, scalar))
    built: Plan = (whole, REQUIRED.get(desc.full_name, ()), tuple(plan))
    _PLANS[cls] = built
    return built


def _messages(repeated: bool) -> Rule:
    if not repeated:
        return check

    def each(items: Any, where: str) -> None:
        for i, item in enumerate(items):
            check(item, f"{where}[{i}]")

    return each


def _each(rule: Rule) -> Rule:
    def each(values: Any, where: str) -> None:
        for v in values:
            rule(v, where)

    return each


def _counted(rule: Rule) -> Rule:
    """``rule``, after refusing more than ``MAX_IDS_PER_REQUEST`` ids."""

    def counted(values: Any, where: str) -> None:
        if len(values) > MAX_IDS_PER_REQUEST:
            raise _errors.invalid(
                f"{where} names {len(values)} ids, more than the limit of "
                f"{MAX_IDS_PER_REQUEST} per request (MAX_IDS_PER_REQUEST); ask in parts",
                field=where,
                limit=MAX_IDS_PER_REQUEST,
            )
        rule(values, where)

    return counted


def _each_value(rule: Rule) -> Rule:
    def each(mapping: Any, where: str) -> None:
        for key, item in mapping.items():
            rule(item, f"{where}[{key!r}]")

    return each


def _scalar_rule(owner: descriptor.Descriptor, field: FieldDescriptor) -> Rule | None:
    """The rule for one value of a scalar field, or None when it has none."""
    rules: list[Rule] = []
    if field.enum_type is not None:
        rules.append(_enum_rule(field))
    elif field.type == FieldDescriptor.TYPE_UINT64:
        rules.append(_range_rule(0, INT64_MAX))
    elif field.type in _FLOATS:
        rules.append(_finite)
    elif field.type == FieldDescriptor.TYPE_STRING:
        segments = NAMES.get((owner.full_name, field.name))
        if segments is not None:
            rules.append(lambda v, where: check_name(v, where, segments))
        elif field.name in ID_FIELDS:
            rules.append(_id_rule(stored=owner.full_name in STORED_IDS))
    low_high = RANGES.get((owner.full_name, field.name))
    if low_high is not None:
        rules.append(_range_rule(*low_high))
    if not rules:
        return None
    if len(rules) == 1:
        return rules[0]

    def all_of(value: Any, where: str) -> None:
        for rule in rules:
            rule(value, where)

    return all_of


def _enum_rule(field: FieldDescriptor) -> Rule:
    enum = cast(descriptor.EnumDescriptor, field.enum_type)
    known = frozenset(v.number for v in enum.values if v.number or not field.is_repeated)

    def rule(value: Any, where: str) -> None:
        if value not in known:
            names = [x.name for x in enum.values if x.number]
            raise _errors.invalid(
                f"{where} must be one of {names}, got {value}", field=where, value=value
            )

    return rule


def _range_rule(low: int, high: int) -> Rule:
    def rule(value: Any, where: str) -> None:
        if not low <= value <= high:
            raise _errors.invalid(
                f"{where} must be between {low} and {high}, got {value}", field=where, value=value
            )

    return rule


def _finite(value: Any, where: str) -> None:
    if not math.isfinite(value):
        raise _errors.invalid(f"{where} must be finite, got {value}", field=where)


def _id_rule(stored: bool) -> Rule:
    def rule(value: Any, where: str) -> None:
        # len(str) <= bytes <= 4 * len(str): encode only when it could matter.
        if len(value) * 4 > MAX_ID_BYTES and len(value.encode()) > MAX_ID_BYTES:
            why = f"{where} is longer than {MAX_ID_BYTES} bytes"
            if stored:
                raise _errors.invalid(f"{why}; ids are at most that long", field=where)
            raise _errors.not_found(f"no such id: {why}, and no id that long exists", field=where)

    return rule


def check_name(value: str, where: str, segments: int = 1) -> None:
    """A file name: 1..``segments`` plain parts joined by ``/``; never ``.``/``..`` or hidden.

    Why: the name becomes part of an upstream URL; a path could reach another route.
    """
    parts = value.split("/")
    ok = 0 < len(parts) <= segments and all(
        _SEGMENT.fullmatch(p) and not p.startswith(".") and ".." not in p for p in parts
    )
    if not ok:
        shape = "a plain name" if segments == 1 else f"1 to {segments} plain names joined by '/'"
        raise _errors.invalid(
            f"{where} must be {shape} (no '..', no leading '.', no '\\', no control "
            f"characters, at most 255 bytes each), got {value!r}",
            field=where,
        )


def _check_timestamp(ts: Any, path: str) -> None:
    if not TIMESTAMP_MIN_S <= ts.seconds <= TIMESTAMP_MAX_S or not (0 <= ts.nanos <= 999_999_999):
        raise _errors.invalid(
            f"{path} must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z "
            f"with 0 <= nanos < 1e9, got seconds={ts.seconds} nanos={ts.nanos}",
            field=path,
        )


def _check_tensor(t: Any, path: str) -> None:
    if t.dtype not in _DTYPES:
        where = _join(path, "dtype")
        raise _errors.invalid(
            f"{where} must be DATA_TYPE_FLOAT32 or DATA_TYPE_FLOAT64, got {t.dtype}", field=where
        )
    shape = t.shape
    if shape and (len(shape) > MAX_RANK or min(shape) < 0 or max(shape) > MAX_DIMENSION):
        where = _join(path, "shape")
        raise _errors.invalid(
            f"{where} must have at most {MAX_RANK} dimensions, each 0..{MAX_DIMENSION}, "
            f"got {list(t.shape)[: MAX_RANK + 1]}",
            field=where,
        )


async def require_models(up: Upstream, opts: CallOptions, request: message.Message) -> None:
    """NOT_FOUND unless every model a stream's ``model_ids`` names is known to the upstream.

    Why: a live stream filtered on a model that does not exist stays open and
    silent forever; the caller most likely mistyped the id. A model comes into
    being with its first frame, so a live stream can name it only after that.

    A resumable anomaly stream (``after_sequence`` set) is exempt: it asks for a
    position in the durable log, and a consumer that records its position is
    rightly started before the producer whose model it follows (the Go
    ``anomaly-consumer`` example is); it receives the model's anomalies once
    they exist. A durable consumer's stream (``consumer`` set) resumes too; its
    handler skips this check.
    """
    wanted = set(getattr(request, "model_ids", ()))
    resumable = "after_sequence" in request.DESCRIPTOR.fields_by_name and request.HasField(
        "after_sequence"
    )
    if not wanted or resumable:
        return
    doc = await up.get_json(http("ListModels").path, opts)
    known = {str(m.get("model_id")) for m in doc.get("models") or [] if isinstance(m, dict)}
    missing = sorted(wanted - known)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise _errors.not_found(
            f"unknown model(s) {shown}: a live stream can name only models that have sent "
            "frames (or resume from an after_sequence)",
            model_ids=",".join(missing[:5]),
        )
