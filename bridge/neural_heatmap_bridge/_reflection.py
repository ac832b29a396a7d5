"""Server reflection as ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

grpcio-reflection (up to 1.85 at least) ships only v1alpha, while newer tools
(grpcurl, buf curl, Postman) ask for v1 first. The two protocols are the same
messages with the same field numbers under another package name, so one
servicer serves both: v1 is registered with the v1alpha message classes as
(de)serializers, which read and write v1's bytes unchanged. The v1 schema
itself is added to the descriptor pool (the v1alpha file renamed), so a tool
that asks reflection about ``grpc.reflection.v1.ServerReflection`` gets an
answer too.

One gap of the library is closed on the way: protobuf's pool does not find
the file of a method symbol (``pkg.Service.Method``), which ``grpcurl
describe`` asks for; ``_Servicer`` then looks up the service instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1ALPHA = reflection.SERVICE_NAME
V1 = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _add_v1_schema(pool: descriptor_pool.DescriptorPool) -> None:
    """Put ``grpc/reflection/v1/reflection.proto`` into ``pool`` (once)."""
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = proto.package, "grpc.reflection.v1"
    proto.name, proto.package = _V1_FILE, new
    proto.options.Clear()
    for msg in proto.message_type:
        for field in msg.field:
            if field.type_name.startswith(f".{old}."):
                field.type_name = f".{new}." + field.type_name[len(old) + 2 :]
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(f".{old}.", f".{new}.")
            method.output_type = method.output_type.replace(f".{old}.", f".{new}.")
    pool.Add(proto)


class _Servicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]
    """The library's servicer, finding files by method symbols too."""

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        answer = super()._file_containing_symbol(request, fully_qualified_name)
        service, _, method = fully_qualified_name.rpartition(".")
        if answer.HasField("error_response") and service:
            try:
                found = descriptor_pool.Default().FindServiceByName(service)
            except KeyError:
                return answer
            if method in found.methods_by_name:
                return super()._file_containing_symbol(request, service)
        return answer


def enable(
    service_names: Iterable[str],
    server: grpc.aio.Server,
    register: Callable[[Callable[[Any, Any], None], Any, grpc.aio.Server], None],
) -> None:
    """Serve reflection v1 and v1alpha for ``service_names`` (both reflection services added).

    Args:
        service_names: Fully qualified names of the services to list.
        server: The server to register on (before it starts).
        register: How to register a servicer, given its generated-style
            ``add_..._to_server`` function (the bridge's validation at the edge).
    """
    _add_v1_schema(descriptor_pool.Default())
    servicer = _Servicer([*service_names, V1, V1ALPHA])
    for service in (V1, V1ALPHA):
        register(_adder(service), servicer, server)


def _adder(service: str) -> Callable[[Any, Any], None]:
    """An ``add_..._to_server`` for the reflection service named ``service``."""

    def add(servicer: Any, server: Any) -> None:
        handlers = {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        server.add_registered_method_handlers(service, handlers)

    return add
