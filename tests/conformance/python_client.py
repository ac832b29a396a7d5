"""The Python thin client of the conformance suite: executes RPCs read from stdin.

One JSON request per line in, one JSON answer per line out (protocol: README.md next to
this file); the scenario interpreter (runner.py) decides what to call and checks the
answers, so this file only turns proto-JSON into calls and statuses back into JSON, as the
Go (sdk/go/conformance) and TypeScript (sdk/typescript/src/conformance/client.ts) clients do.

Usage: ``python tests/conformance/python_client.py`` (PYTHONPATH must reach sdk/python).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from google.rpc import status_pb2
from neural_heatmap_contract.limits import MAX_MESSAGE_BYTES
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2  # noqa: F401  (registers the service)

_channels: dict[str, grpc.Channel] = {}
_streams: dict[Any, Iterator[Message]] = {}
_OK = {"code": "OK", "message": "", "details": []}


class ClientError(Exception):
    """The call could not be made at all (unknown method, request that does not parse)."""


def _channel(target: str) -> grpc.Channel:
    if target not in _channels:
        opts = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        _channels[target] = grpc.insecure_channel(target, options=opts)
    return _channels[target]


def _status(e: grpc.RpcError) -> dict[str, Any]:
    """Code name, message and the ``google.rpc.Status`` details (type name + bytes) of a failure."""
    call: Any = e  # a grpc.Call as well as an RpcError
    code, details = call.code(), []
    for key, value in call.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for any_ in status_pb2.Status.FromString(value).details:
                details.append(
                    {"type": any_.TypeName(), "value": base64.b64encode(any_.value).decode()}
                )
    return {"code": code.name if code else "UNKNOWN", "message": call.details(), "details": details}


def _read(req_id: Any, limit: int | None) -> dict[str, Any]:
    """Up to ``limit`` more responses of an open stream; it stays open when the limit is hit."""
    stream, responses = _streams[req_id], list[Any]()
    try:
        while limit is None or len(responses) < limit:
            responses.append(json_format.MessageToDict(next(stream)))
    except StopIteration:
        del _streams[req_id]
        return {"responses": responses, **_OK}
    except grpc.RpcError as e:
        del _streams[req_id]
        return {"responses": responses, **_status(e)}
    return {"responses": responses, "open": True}


def _call(req: dict[str, Any]) -> dict[str, Any]:
    service_name, _, method_name = req.get("method", "").rpartition("/")
    try:
        service = descriptor_pool.Default().FindServiceByName(service_name)
    except KeyError:
        raise ClientError(f"no service {service_name!r}") from None
    method = service.methods_by_name.get(method_name)
    if method is None:
        raise ClientError(f"no method {method_name!r} in {service_name}")
    req_cls = message_factory.GetMessageClass(method.input_type)
    resp_cls = message_factory.GetMessageClass(method.output_type)
    try:
        msgs = [json_format.ParseDict(r, req_cls()) for r in req.get("requests", [])]
    except json_format.ParseError as e:
        raise ClientError(f"request does not parse as {req_cls.DESCRIPTOR.full_name}: {e}") from e
    path, channel = f"/{service_name}/{method_name}", _channel(req["target"])
    kwargs = {
        "timeout": req.get("timeout_ms", 30000) / 1000,
        "metadata": list(req.get("metadata", {}).items()),
    }
    ser, de = req_cls.SerializeToString, resp_cls.FromString
    if method.server_streaming and method.client_streaming:
        raise ClientError("bidirectional methods are not supported")
    if method.server_streaming:
        if len(msgs) != 1:
            raise ClientError("a server-streaming call takes exactly one request")
        _streams[req["id"]] = channel.unary_stream(path, ser, de)(msgs[0], **kwargs)
        return _read(req["id"], req.get("max_responses"))
    try:
        if method.client_streaming:
            resp = channel.stream_unary(path, ser, de)(iter(msgs), **kwargs)
        elif len(msgs) != 1:
            raise ClientError("a unary call takes exactly one request")
        else:
            resp = channel.unary_unary(path, ser, de)(msgs[0], **kwargs)
    except grpc.RpcError as e:
        return {"responses": [], **_status(e)}
    return {"responses": [json_format.MessageToDict(resp)], **_OK}


def handle(req: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request line (``op`` call, next or cancel)."""
    op = req.get("op", "call")
    try:
        if op == "call":
            return _call(req)
        if req.get("id") not in _streams:
            raise ClientError(f"no open stream {req.get('id')!r}")
        if op == "next":
            return _read(req["id"], req.get("max_responses"))
        if op == "cancel":
            _streams.pop(req["id"]).cancel()  # type: ignore[attr-defined]
            return {"responses": [], "code": "CANCELLED", "message": "cancelled", "details": []}
        raise ClientError(f"unknown op {op!r}")
    except ClientError as e:
        return {"error": str(e)}


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            req = json.loads(line)
            print(json.dumps({"id": req.get("id"), **handle(req)}), flush=True)


if __name__ == "__main__":
    main()
