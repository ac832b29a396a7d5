"""The SDK's exceptions and the one place where gRPC errors become them.

The hierarchy follows google-api-core: one root, :class:`NeuralHeatmapError`,
and one subclass per gRPC status code. Every RPC failure is converted by
:func:`from_grpc_error` and raised ``from`` the original ``grpc.aio.AioRpcError``
so the gRPC traceback stays attached.

The cancelled status maps to :class:`RequestCancelledError` rather than a class
named ``CancelledError``, so ``from neural_heatmap import *`` never shadows
:class:`asyncio.CancelledError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import (
    error_details_pb2,
    status_pb2,
)
from neural_heatmap_contract.errors import EXCEPTION_BY_CODE

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidParameterError",
    "InvalidTargetError",
    "NeuralHeatmapError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "RequestCancelledError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "ViewFilterWarning",
    "exception_class_for_code",
    "from_grpc_error",
]

_STATUS_DETAILS_KEY = "grpc-status-details-bin"

# The google.rpc detail messages this SDK knows how to decode from a Status.
_DETAIL_TYPES: tuple[Any, ...] = (
    error_details_pb2.ErrorInfo,
    error_details_pb2.RetryInfo,
    error_details_pb2.DebugInfo,
    error_details_pb2.QuotaFailure,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.BadRequest,
    error_details_pb2.RequestInfo,
    error_details_pb2.ResourceInfo,
    error_details_pb2.Help,
    error_details_pb2.LocalizedMessage,
)


class NeuralHeatmapError(Exception):
    """Root of every error the SDK raises.

    Attributes:
        code: The gRPC status code, or ``None`` for errors raised by the SDK
            itself before any call was made.
        message: The human-readable message (the server's, when it sent one).
        details: Decoded ``google.rpc`` detail messages (``ErrorInfo``,
            ``BadRequest``, ``RetryInfo``, ...) from the ``google.rpc.Status``
            the bridge attached; undecodable entries stay as ``Any``.
        reason: ``ErrorInfo.reason`` when present (a stable upper-case code such
            as ``"NOT_FOUND"`` or ``"SEQUENCE_EXPIRED"``), else ``None``.
        domain: ``ErrorInfo.domain`` when present, else ``None``.
        error_metadata: ``ErrorInfo.metadata`` when present, else ``{}``.
    """

    grpc_status_code: grpc.StatusCode | None = None

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        details: Sequence[Message] = (),
        response: grpc.aio.AioRpcError | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.grpc_status_code
        self.details: list[Message] = list(details)
        self.response = response
        info = next((d for d in self.details if isinstance(d, error_details_pb2.ErrorInfo)), None)
        self.reason: str | None = info.reason if info is not None and info.reason else None
        self.domain: str | None = info.domain if info is not None and info.domain else None
        self.error_metadata: dict[str, str] = dict(info.metadata) if info is not None else {}

    def __str__(self) -> str:
        prefix = f"{self.code.name} " if self.code is not None else ""
        suffix = f" [reason={self.reason}]" if self.reason else ""
        return f"{prefix}{self.message}{suffix}"


class InvalidTargetError(NeuralHeatmapError, ValueError):
    """The address given to the client is not a gRPC target (e.g. an ``http://`` URL)."""


class RequestCancelledError(NeuralHeatmapError):
    """The RPC was cancelled (gRPC ``CANCELLED``)."""

    grpc_status_code = grpc.StatusCode.CANCELLED


class UnknownError(NeuralHeatmapError):
    """The server failed in a way it did not classify (gRPC ``UNKNOWN``)."""

    grpc_status_code = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(NeuralHeatmapError, ValueError):
    """The request was malformed (gRPC ``INVALID_ARGUMENT``)."""

    grpc_status_code = grpc.StatusCode.INVALID_ARGUMENT


class InvalidParameterError(InvalidArgumentError, TypeError):
    """An argument the SDK refused before any call was made.

    An :class:`InvalidArgumentError` (so one ``except`` catches the SDK's and the
    server's refusals alike) and also a ``TypeError`` and ``ValueError``, which
    code written against the seed's client caught.

    Attributes:
        parameter: The parameter's name as the method spells it (``limit``,
            ``spatial_bounds``, ``layout.panel_positions['main']``).
        expected: The shape it takes, in words (``an integer >= 0``).
    """

    def __init__(self, parameter: str, expected: str, got: Any) -> None:
        shown = repr(got)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(f"{parameter} must be {expected}; got {shown}")
        self.parameter = parameter
        self.expected = expected

    def __str__(self) -> str:
        """The message alone: no call was made, so there is no status to name."""
        return self.message


class ViewFilterWarning(UserWarning):
    """The stored view filter hides what a live heatmap stream would show (a warning,
    not an error: the filter may be meant for models that have not sent frames yet)."""


class DeadlineExceededError(NeuralHeatmapError, TimeoutError):
    """The call's deadline passed before it completed (gRPC ``DEADLINE_EXCEEDED``)."""

    grpc_status_code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(NeuralHeatmapError, LookupError):
    """An unknown model, layer or export was named (gRPC ``NOT_FOUND``)."""

    grpc_status_code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(NeuralHeatmapError):
    """The resource already exists (gRPC ``ALREADY_EXISTS``)."""

    grpc_status_code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(NeuralHeatmapError):
    """The caller may not do this (gRPC ``PERMISSION_DENIED``)."""

    grpc_status_code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(NeuralHeatmapError):
    """A size or rate limit was hit (gRPC ``RESOURCE_EXHAUSTED``)."""

    grpc_status_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(NeuralHeatmapError):
    """The system is not in a state that allows the call (``FAILED_PRECONDITION``)."""

    grpc_status_code = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(NeuralHeatmapError):
    """The call was aborted, typically by a conflict (gRPC ``ABORTED``)."""

    grpc_status_code = grpc.StatusCode.ABORTED


class OutOfRangeError(NeuralHeatmapError):
    """A value was outside the valid range, e.g. a pruned sequence (``OUT_OF_RANGE``)."""

    grpc_status_code = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(NeuralHeatmapError, NotImplementedError):
    """The bridge or its upstream does not implement this call (``UNIMPLEMENTED``)."""

    grpc_status_code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(NeuralHeatmapError):
    """The bridge or the server broke an invariant (gRPC ``INTERNAL``)."""

    grpc_status_code = grpc.StatusCode.INTERNAL


class UnavailableError(NeuralHeatmapError, ConnectionError):
    """The bridge or its upstream server cannot be reached (gRPC ``UNAVAILABLE``)."""

    grpc_status_code = grpc.StatusCode.UNAVAILABLE


class DataLossError(NeuralHeatmapError):
    """Unrecoverable data loss or corruption (gRPC ``DATA_LOSS``)."""

    grpc_status_code = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(NeuralHeatmapError, PermissionError):
    """The call carried no valid credentials (gRPC ``UNAUTHENTICATED``)."""

    grpc_status_code = grpc.StatusCode.UNAUTHENTICATED


_CLASSES: Mapping[str, type[NeuralHeatmapError]] = {
    cls.__name__: cls
    for cls in (
        RequestCancelledError,
        UnknownError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        DataLossError,
        UnauthenticatedError,
    )
}
# Which class a code raises is the contract's error table (EXCEPTION_BY_CODE), shared with
# the bridge's docs; tests/contract/test_error_table.py pins that each class's
# ``grpc_status_code`` agrees with it.
_BY_CODE: Mapping[grpc.StatusCode, type[NeuralHeatmapError]] = {
    grpc.StatusCode[code]: _CLASSES[name] for code, name in EXCEPTION_BY_CODE.items()
}


def exception_class_for_code(code: grpc.StatusCode) -> type[NeuralHeatmapError]:
    """Return the exception class for a gRPC status code.

    Args:
        code: Any gRPC status code.

    Returns:
        The matching subclass, or :class:`NeuralHeatmapError` for ``OK`` and
        codes this SDK does not know.
    """
    return _BY_CODE.get(code, NeuralHeatmapError)


def _unpack_detail(detail: any_pb2.Any) -> Message:
    for cls in _DETAIL_TYPES:
        if detail.Is(cls.DESCRIPTOR):
            msg: Message = cls()
            if detail.Unpack(msg):
                return msg
    return detail


def _decode_details(trailing: Any) -> tuple[str | None, list[Message]]:
    """Decode ``grpc-status-details-bin`` from trailing metadata, if present."""
    if not trailing:
        return None, []
    for item in trailing:
        key, value = item[0], item[1]
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return None, []
        return status.message or None, [_unpack_detail(d) for d in status.details]
    return None, []


def from_grpc_error(error: grpc.aio.AioRpcError) -> NeuralHeatmapError:
    """Convert a gRPC error into the SDK's exception for its status code.

    This is the only place the SDK maps gRPC failures; callers ``raise`` the
    result ``from error``.

    Args:
        error: The error raised by a ``grpc.aio`` call.

    Returns:
        An instance of the subclass for ``error.code()``, carrying the server's
        message and the decoded ``google.rpc.Status`` details.
    """
    code = error.code()
    status_message, details = _decode_details(error.trailing_metadata())
    message = error.details() or status_message or code.name
    cls = exception_class_for_code(code)
    return cls(message, code=code, details=details, response=error)
