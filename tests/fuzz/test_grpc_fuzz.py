"""gRPC fuzzing of the bridge, built from the service descriptors (hypothesis).

Every method of ``neural_heatmap.v1.NeuralHeatmapService`` (and of health and
reflection) gets requests of three kinds: messages generated field by field
from the request's descriptor (valid values, out-of-range numbers, unknown enum
numbers, odd strings, deep nesting), raw bytes, and serialized messages with
bytes flipped. Unary calls are awaited, server streams are read a little and
cancelled, the ingest client stream (and reflection's) gets one to three
messages.

The property: no caller input gives UNKNOWN, INTERNAL or DATA_LOSS (those mean
the bridge or server broke, not the caller); the server and the bridge
processes survive; gRPC health stays SERVING. And on a bridge with ``--token``,
every input without the token is UNAUTHENTICATED (auth before decoding).

A fresh server and bridge are started for this module (the fuzzer changes the
filter, theme, layout and exports, which other suites read). The short run is
part of ``make test``; ``test_grpc_fuzz_long`` (``make test-long``) runs many
more examples with bigger messages.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor, message, message_factory
from google.protobuf.descriptor import FieldDescriptor as F
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neural_heatmap_contract.v1 import ingest_pb2, tensor_pb2
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from tests.support.bridge_process import CHANNEL_OPTIONS, BridgeProcess
from tests.support.server_process import ServerProcess

SERVICE = pb.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
METHODS = [
    *SERVICE.methods,
    *health_pb2.DESCRIPTOR.services_by_name["Health"].methods,
    *reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"].methods,
]
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
# Names that exist on the fuzz server, so that valid requests reach the deep paths.
IDS = ["fz-a", "fz-b", "l1", "l2", "corr.csv", "run/x", ""]
UNARY_TIMEOUT = 20.0
STREAM_READ = 0.3  # seconds a server stream is read before it is cancelled

_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}


def _int(low: int, high: int) -> st.SearchStrategy[int]:
    """Small values mostly, the edges of the type sometimes."""
    edges = [low, high, 0, 1, -1, 2**63 - 1, 2**63, 2**31]
    return st.one_of(
        st.integers(max(low, -5), min(high, 100)),
        st.sampled_from([e for e in edges if low <= e <= high]),
        st.integers(low, high),
    )


def _text(big: bool) -> st.SearchStrategy[str]:
    options = [st.sampled_from(IDS), st.text(max_size=24)]
    options.append(st.sampled_from(["../openapi.json", "a/../../health", "x\n", "%2e%2e", "."]))
    if big:
        options.append(st.integers(1, 1 << 20).map(lambda n: "m" * n))
    return st.one_of(*options)


def _scalar(field: descriptor.FieldDescriptor, big: bool) -> st.SearchStrategy[Any]:
    if field.enum_type is not None:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), _int(-(2**31), 2**31 - 1))
    if field.type in _INT_RANGES:
        return _int(*_INT_RANGES[field.type])
    if field.type == F.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if field.type == F.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type == F.TYPE_STRING:
        return _text(big)
    if field.type == F.TYPE_BYTES:
        return st.binary(max_size=4096 if big else 64)
    raise NotImplementedError(field.type)


def _valid_tensor() -> st.SearchStrategy[tensor_pb2.Tensor]:
    """A well-formed float32 vector, so some frames get past the checks into the server."""
    return st.lists(st.floats(width=32), min_size=1, max_size=16).map(
        lambda xs: tensor_pb2.Tensor(
            shape=[len(xs)],
            dtype=tensor_pb2.DATA_TYPE_FLOAT32,
            data=np.asarray(xs, dtype="<f4").tobytes(),
        )
    )


def messages(desc: descriptor.Descriptor, big: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """Messages of type ``desc``: any subset of fields, each with any value of its type."""
    cls = message_factory.GetMessageClass(desc)
    if depth > 3:
        return st.just(cls())
    size = 8 if big else 3
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in desc.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key = _scalar(field.message_type.fields_by_name["key"], big)
            value_field = field.message_type.fields_by_name["value"]
            value = (
                messages(value_field.message_type, big, depth + 1)
                if value_field.message_type is not None
                else _scalar(value_field, big)
            )
            fields[field.name] = st.dictionaries(key, value, max_size=size)
            continue
        one = (
            messages(field.message_type, big, depth + 1)
            if field.message_type is not None
            else _scalar(field, big)
        )
        if field.message_type is not None and field.message_type.full_name.endswith(".Tensor"):
            one = st.one_of(_valid_tensor(), one)
        fields[field.name] = st.lists(one, max_size=size) if field.is_repeated else one
    return st.fixed_dictionaries({}, optional=fields).map(lambda kw: _build(cls, desc, kw))


def _build(cls: Any, desc: descriptor.Descriptor, values: dict[str, Any]) -> Any:
    msg = cls()
    for name, value in values.items():
        field = desc.fields_by_name[name]
        target = getattr(msg, name) if field.is_repeated or field.message_type else None
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for k, v in value.items():
                if isinstance(v, message.Message):
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif field.is_repeated and field.message_type is not None:
            for v in value:
                target.add().CopyFrom(v)
        elif field.is_repeated:
            target.extend(value)
        elif field.message_type is not None:
            target.CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


def payloads(method: descriptor.MethodDescriptor, big: bool) -> st.SearchStrategy[bytes]:
    """Request bytes: a generated message, raw bytes, or a message with bytes flipped."""
    serialized = messages(method.input_type, big).map(lambda m: m.SerializeToString())

    def flip(data: bytes, where: int, to: int) -> bytes:
        if not data:
            return bytes([to])
        i = where % len(data)
        return data[:i] + bytes([to]) + data[i + 1 :]

    flipped = st.builds(flip, serialized, st.integers(0, 1 << 16), st.integers(0, 255))
    return st.one_of(serialized, serialized, st.binary(max_size=256), flipped)


@st.composite
def calls(draw: st.DrawFn, big: bool = False) -> tuple[descriptor.MethodDescriptor, list[bytes]]:
    """A method and the request bytes to send it (1-3 messages on the client stream)."""
    method = draw(st.sampled_from(METHODS))
    count = draw(st.integers(1, 3)) if method.client_streaming else 1
    return method, [draw(payloads(method, big)) for _ in range(count)]


def invoke(channel: grpc.Channel, method: descriptor.MethodDescriptor, body: list[bytes]) -> Any:
    """Make the call with raw bytes; its final status code (OK when it ended well)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    try:
        if method.client_streaming and not method.server_streaming:
            channel.stream_unary(path)(iter(body), timeout=UNARY_TIMEOUT)
        elif method.server_streaming:
            if method.client_streaming:
                call = channel.stream_stream(path)(iter(body), timeout=UNARY_TIMEOUT)
            else:
                call = channel.unary_stream(path)(body[0], timeout=UNARY_TIMEOUT)
            timer = threading.Timer(STREAM_READ, call.cancel)
            timer.start()
            try:
                for _ in call:
                    break
            finally:
                timer.cancel()
                call.cancel()
        else:
            channel.unary_unary(path)(body[0], timeout=UNARY_TIMEOUT)
    except grpc.RpcError as err:
        return err.code(), err.details()
    return grpc.StatusCode.OK, ""


class Target:
    """The fuzzed server and bridge, a channel to the bridge, and the health check."""

    def __init__(self, server: ServerProcess, bridge: BridgeProcess) -> None:
        self.server, self.bridge = server, bridge
        self.channel = grpc.insecure_channel(bridge.target, options=CHANNEL_OPTIONS)
        self._health = health_pb2_grpc.HealthStub(self.channel)
        self.calls = 0

    def assert_alive(self) -> None:
        """Both processes running and the bridge's health SERVING within 2 s."""
        for proc in (self.server, self.bridge):
            assert proc.proc is not None and proc.proc.poll() is None, proc.log()[-3000:]
        answer = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

    def fire(self, method: descriptor.MethodDescriptor, body: list[bytes]) -> None:
        code, details = invoke(self.channel, method, body)
        assert code not in FORBIDDEN, f"{method.name} -> {code.name}: {details}"
        self.calls += 1
        if self.calls % 50 == 0:
            self.assert_alive()


def _seed(channel: grpc.Channel) -> None:
    """Models, layers and an export with the names in ``IDS``, so valid requests go deep."""
    stub = channel.stream_unary(
        f"/{SERVICE.full_name}/IngestActivations",
        request_serializer=pb.IngestActivationsRequest.SerializeToString,
        response_deserializer=pb.IngestActivationsResponse.FromString,
    )
    frames = []
    for step in range(40):
        for model in ("fz-a", "fz-b"):
            for layer in ("l1", "l2"):
                values = np.sin(np.arange(8) + step / 3.0 + len(layer)).astype("<f4")
                values[0] = math.nan if step == 39 else values[0]
                frames.append(
                    ingest_pb2.ActivationFrame(
                        model_id=model,
                        layer_id=layer,
                        step=step,
                        values=tensor_pb2.Tensor(
                            shape=[8], dtype=tensor_pb2.DATA_TYPE_FLOAT32, data=values.tobytes()
                        ),
                    )
                )
    answer = stub(iter([pb.IngestActivationsRequest(frames=frames)]), timeout=30)
    assert answer.frames_accepted == len(frames)
    export = channel.unary_unary(
        f"/{SERVICE.full_name}/ExportCorrelationMatrix",
        request_serializer=pb.ExportCorrelationMatrixRequest.SerializeToString,
        response_deserializer=pb.ExportCorrelationMatrixResponse.FromString,
    )
    export(pb.ExportCorrelationMatrixRequest(filename="corr", format=1), timeout=30)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    """A fresh server and bridge, seeded, for this module only."""
    with ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server:
        bridge = BridgeProcess(server.url, "--upstream-timeout", "10")
        with bridge:
            t = Target(server, bridge)
            _seed(t.channel)
            t.assert_alive()
            yield t
            t.channel.close()


FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
}


@settings(max_examples=400, **FUZZ_SETTINGS)
@given(call=calls())
def test_grpc_fuzz(target: Target, call: tuple[descriptor.MethodDescriptor, list[bytes]]) -> None:
    target.fire(*call)


def test_grpc_fuzz_survivors(target: Target) -> None:
    """After the short run (same module, same processes): alive and SERVING."""
    target.assert_alive()


@pytest.fixture(scope="module")
def guarded(target: Target) -> Iterator[grpc.Channel]:
    """A channel to a second bridge, with ``--token``, in front of the same server."""
    with BridgeProcess(target.server.url, "--token", "s3cret") as bridge:
        channel = grpc.insecure_channel(bridge.target, options=CHANNEL_OPTIONS)
        yield channel
        channel.close()


@st.composite
def service_calls(draw: st.DrawFn) -> tuple[descriptor.MethodDescriptor, list[bytes]]:
    """Like ``calls``, for the token-protected methods only (health and reflection are open)."""
    method = draw(st.sampled_from(list(SERVICE.methods)))
    return method, [draw(payloads(method, False))]


@settings(max_examples=100, **FUZZ_SETTINGS)
@given(call=service_calls())
def test_grpc_fuzz_without_token_is_always_unauthenticated(
    guarded: grpc.Channel, call: tuple[descriptor.MethodDescriptor, list[bytes]]
) -> None:
    code, details = invoke(guarded, *call)
    assert code == grpc.StatusCode.UNAUTHENTICATED, f"{call[0].name} -> {code.name}: {details}"


@pytest.mark.long
@pytest.mark.timeout(3600)
@settings(max_examples=10_000, **FUZZ_SETTINGS)
@given(call=calls(big=True))
def test_grpc_fuzz_long(
    target: Target, call: tuple[descriptor.MethodDescriptor, list[bytes]]
) -> None:
    target.fire(*call)
