"""The Connect thin client of the conformance suite: the bridge's web port, from Python.

The same protocol as ``python_client.py`` (README.md next to this file), but every call
goes over HTTP/1.1 to the bridge's web port with connectrpc's own client: Connect or
gRPC-Web, JSON or binary. A target ``host:port`` is the web port's address.

Calls run on an asyncio loop in a background thread, so an open stream keeps reading (and
can be cancelled) while the next request line is handled, as a gRPC call would.

Usage: ``python tests/conformance/connect_client.py [--protocol connect|grpc-web]
[--codec json|proto]`` (PYTHONPATH must reach contract/python).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import queue
import sys
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

from connectrpc.client import ConnectClient
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.protocol import ProtocolType
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from neural_heatmap_contract.limits import MAX_MESSAGE_BYTES
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2  # noqa: F401  (registers the service)

_OK = {"code": "OK", "message": "", "details": []}
_END = object()


class ClientError(Exception):
    """The call could not be made at all (unknown method, request that does not parse)."""


def _status(e: ConnectError) -> dict[str, Any]:
    """Code name (gRPC's spelling), message and the details (type name + bytes)."""
    code = "CANCELLED" if e.code is Code.CANCELED else e.code.name
    details = [{"type": d.type_name, "value": base64.b64encode(d.message_bytes).decode()}
               for d in e.details]
    return {"code": code, "message": e.message, "details": details}


class Stream:
    """A server stream read by a task into a queue (``_END`` or a ConnectError last)."""

    def __init__(self) -> None:
        self.items: queue.Queue[Any] = queue.Queue()
        self.task: asyncio.Task[None] | None = None


class Client:
    """Connect clients per target on a loop of their own; calls by method name."""

    def __init__(self, protocol: ProtocolType, json_codec: bool) -> None:
        self._protocol = protocol
        self._codec = google_protobuf_json_codec() if json_codec else \
            google_protobuf_binary_codec()
        self._clients: dict[str, ConnectClient] = {}
        self._streams: dict[Any, Stream] = {}
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def _client(self, target: str) -> ConnectClient:
        if target not in self._clients:
            self._clients[target] = ConnectClient(
                f"http://{target}", codec=self._codec, protocol=self._protocol,
                read_max_bytes=MAX_MESSAGE_BYTES, send_compression=None,
            )
        return self._clients[target]

    def call(self, req: dict[str, Any]) -> dict[str, Any]:
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
            raise ClientError(f"request does not parse as {req_cls.DESCRIPTOR.full_name}: {e}") \
                from e
        if method.server_streaming and method.client_streaming:
            raise ClientError("bidirectional methods are not supported")
        shape = (StreamType.CLIENT_STREAM if method.client_streaming else
                 StreamType.SERVER_STREAM if method.server_streaming else StreamType.UNARY)
        info = MethodInfo(name=method_name, service_name=service_name, input=req_cls,
                          output=resp_cls, idempotency_level=IdempotencyLevel.UNKNOWN,
                          stream_type=shape)
        client = self._client(req["target"])
        kw = {"method": info, "headers": req.get("metadata", {}),
              "timeout_ms": req.get("timeout_ms", 30000)}
        if method.server_streaming:
            if len(msgs) != 1:
                raise ClientError("a server-streaming call takes exactly one request")
            stream = Stream()
            self._streams[req["id"]] = stream
            started = threading.Event()

            async def pump() -> None:
                try:
                    started.set()
                    async for item in client.execute_server_stream(request=msgs[0], **kw):
                        stream.items.put(item)
                    stream.items.put(_END)
                except ConnectError as e:
                    stream.items.put(e)

            stream.task = self._run(_start(pump()))
            started.wait()
            return self.read(req["id"], req.get("max_responses"))
        try:
            if method.client_streaming:
                resp = self._run(client.execute_client_stream(request=_aiter(msgs), **kw))
            elif len(msgs) != 1:
                raise ClientError("a unary call takes exactly one request")
            else:
                resp = self._run(client.execute_unary(request=msgs[0], **kw))
        except ConnectError as e:
            return {"responses": [], **_status(e)}
        return {"responses": [json_format.MessageToDict(resp)], **_OK}

    def read(self, req_id: Any, limit: int | None) -> dict[str, Any]:
        """Up to ``limit`` more responses of an open stream; it stays open at the limit."""
        stream, responses = self._streams[req_id], list[Any]()
        while limit is None or len(responses) < limit:
            item = stream.items.get()
            if item is _END:
                del self._streams[req_id]
                return {"responses": responses, **_OK}
            if isinstance(item, ConnectError):
                del self._streams[req_id]
                return {"responses": responses, **_status(item)}
            responses.append(json_format.MessageToDict(item))
        return {"responses": responses, "open": True}

    def cancel(self, req_id: Any) -> None:
        task = self._streams.pop(req_id).task
        if task is not None:
            self._loop.call_soon_threadsafe(task.cancel)

    def has(self, req_id: Any) -> bool:
        return req_id in self._streams


async def _start(coro: Any) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(coro)


async def _aiter(msgs: list[Message]) -> AsyncIterator[Message]:
    for m in msgs:
        yield m


def handle(client: Client, req: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request line (``op`` call, next or cancel)."""
    op = req.get("op", "call")
    try:
        if op == "call":
            return client.call(req)
        if not client.has(req.get("id")):
            raise ClientError(f"no open stream {req.get('id')!r}")
        if op == "next":
            return client.read(req["id"], req.get("max_responses"))
        if op == "cancel":
            client.cancel(req["id"])
            return {"responses": [], "code": "CANCELLED", "message": "cancelled", "details": []}
        raise ClientError(f"unknown op {op!r}")
    except ClientError as e:
        return {"error": str(e)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--protocol", choices=["connect", "grpc-web"], default="connect")
    p.add_argument("--codec", choices=["json", "proto"], default="json")
    a = p.parse_args()
    protocol = ProtocolType.CONNECT if a.protocol == "connect" else ProtocolType.GRPC_WEB
    client = Client(protocol, a.codec == "json")
    for line in sys.stdin:
        if line.strip():
            req = json.loads(line)
            print(json.dumps({"id": req.get("id"), **handle(client, req)}), flush=True)


if __name__ == "__main__":
    main()
