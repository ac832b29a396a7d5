"""What every client call shares: the channel, call options and error conversion.

:class:`ClientBase` holds the constructor and connection handling of
``NeuralHeatmapClient``; the per-area mixins (``_client_*.py``) build on it.
Deadlines, retries and the conversion of gRPC failures to SDK errors are
decided here, once, for every call.
"""

from __future__ import annotations

import asyncio
import copy
import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from neural_heatmap_contract.policy import RETRY_SAFE, Rpc
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from neural_heatmap._channel import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TARGET,
    PemSource,
    check_token_transport,
    make_channel,
    parse_target,
    uses_tls,
)
from neural_heatmap._enums import UpdateType
from neural_heatmap._errors import UnavailableError, from_grpc_error
from neural_heatmap._retry import DEFAULT_RETRY, Retry, call_with_retry

__all__ = ["DEFAULT", "ClientBase", "Metadata", "RetryArg", "Timeout"]

T = TypeVar("T")


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"


DEFAULT = _Default.DEFAULT
"""Default of ``timeout`` and ``retry``: use the client's ``default_timeout``/``retry``."""

Timeout = float | None | _Default
"""Seconds for the whole call (retries included); ``None``: no deadline."""
RetryArg = Retry | None | _Default
"""A :class:`Retry`, ``None`` for no retries, or the client's default."""
Metadata = Sequence[tuple[str, str | bytes]] | None
"""Extra gRPC metadata (headers) for one call."""


class ClientBase:
    """Channel, call plumbing and connection of ``NeuralHeatmapClient``.

    The constructor's arguments are documented on ``NeuralHeatmapClient``.
    """

    def __init__(
        self,
        url: str = DEFAULT_TARGET,
        ws_url: str | None = None,
        auto_connect: bool = False,
        *,
        token: str | None = None,
        tls: bool | None = None,
        root_certificates: PemSource | None = None,
        private_key: PemSource | None = None,
        certificate_chain: PemSource | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        ssl_target_name_override: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        default_timeout: float | None = 30.0,
        retry: Retry | None = DEFAULT_RETRY,
        connect_timeout: float = 10.0,
        channel_options: Sequence[tuple[str, Any]] = (),
        insecure_token: bool = False,
    ) -> None:
        self._target = parse_target(url)
        if token:
            check_token_transport(
                self._target.target,
                tls=uses_tls(
                    self._target,
                    tls=tls,
                    root_certificates=root_certificates,
                    certificate_chain=certificate_chain,
                    credentials=credentials,
                ),
                insecure_token=insecure_token,
            )
        self.url = url
        self.ws_url = ws_url  # ignored: see the class docstring
        self._token = token
        self._tls = tls
        self._root_certificates = root_certificates
        self._private_key = private_key
        self._certificate_chain = certificate_chain
        self._credentials = credentials
        self._ssl_target_name_override = ssl_target_name_override
        self.max_message_bytes = max_message_bytes
        self.default_timeout = default_timeout
        self.default_retry = retry
        self.connect_timeout = connect_timeout
        self._channel_options = tuple(channel_options)
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.NeuralHeatmapServiceAsyncStub | None = None
        # the seed's subscribe_* state: what stream_updates streams by default
        self._subscriptions: set[UpdateType] = set()
        self._heatmap_models: list[str] = []
        self._heatmap_layers: list[str] = []
        if auto_connect:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                self._open()

    @property
    def target(self) -> str:
        """The gRPC target dialled (``host:port``)."""
        return self._target.target

    @property
    def is_connected(self) -> bool:
        """True while a channel is open."""
        return self._channel is not None

    def _unopened_copy(self) -> Self:
        """The same settings without a channel or subscriptions.

        A grpc.aio channel belongs to the event loop that opened it; the copy
        opens its own in whatever loop first uses it (e.g. a background
        sender thread's), leaving this client untouched.
        """
        clone = copy.copy(self)
        clone._channel = None
        clone._stub = None
        clone._subscriptions = set()
        clone._heatmap_models = []
        clone._heatmap_layers = []
        return clone

    def _open(self) -> pb_grpc.NeuralHeatmapServiceAsyncStub:
        if self._stub is None:
            self._channel = make_channel(
                self._target,
                tls=self._tls,
                root_certificates=self._root_certificates,
                private_key=self._private_key,
                certificate_chain=self._certificate_chain,
                credentials=self._credentials,
                ssl_target_name_override=self._ssl_target_name_override,
                max_message_bytes=self.max_message_bytes,
                options=self._channel_options,
            )
            self._stub = pb_grpc.NeuralHeatmapServiceStub(self._channel)
        return self._stub

    def _metadata(self, metadata: Metadata) -> list[tuple[str, str | bytes]]:
        md: list[tuple[str, str | bytes]] = []
        if self._token:
            md.append(("authorization", f"Bearer {self._token}"))
        if metadata:
            md.extend(metadata)
        return md

    def _timeout(self, timeout: Timeout) -> float | None:
        return self.default_timeout if timeout is DEFAULT else timeout

    def _retry(self, retry: RetryArg) -> Retry | None:
        return self.default_retry if retry is DEFAULT else retry

    async def _call(
        self,
        attempt: Callable[[float | None], Awaitable[T]],
        *,
        rpc: Rpc | None,
        timeout: Timeout,
        retry: RetryArg,
    ) -> T:
        """Run ``attempt`` (a call of ``rpc``) under the call's deadline and retry policy.

        ``retry`` applies only when the protos declare ``rpc`` retry-safe (its
        ``idempotency_level``, generated into ``RETRY_SAFE``); any other call, and one
        that is not an RPC of the service (``rpc`` None: health), is made once. This is
        the one place where a gRPC failure becomes an SDK error, so every call raises
        the same :class:`NeuralHeatmapError` subclasses.
        """
        policy = self._retry(retry) if rpc is not None and RETRY_SAFE[rpc] else None
        try:
            return await call_with_retry(attempt, retry=policy, timeout=self._timeout(timeout))
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc

    def _rpc_of(self, method: object) -> Rpc | None:
        """The RPC whose method of the service's stub ``method`` is (None: another stub's).

        The generated stub holds one callable per RPC under the RPC's name, so looking
        ``method`` up there names the RPC without a second spelling at every call site.
        """
        stub = self._open()
        return next((rpc for rpc in RETRY_SAFE if getattr(stub, rpc) is method), None)

    async def _unary(
        self,
        method: Callable[..., Awaitable[T]],
        request: Any,
        *,
        timeout: Timeout,
        metadata: Metadata,
        retry: RetryArg,
    ) -> T:
        """Call ``method``, a unary RPC of the service's stub, with ``request`` (:meth:`_call`)."""
        md = self._metadata(metadata)

        async def attempt(per_try: float | None) -> T:
            return await method(request, timeout=per_try, metadata=md)

        return await self._call(attempt, rpc=self._rpc_of(method), timeout=timeout, retry=retry)

    # ------------------------------------------------------------------ connection

    async def connect(self, *, timeout: float | None = None) -> Self:
        """Open the channel and wait until the bridge is reachable.

        Args:
            timeout: Seconds to wait (default ``connect_timeout``).

        Returns:
            This client, so that ``client = await NeuralHeatmapClient(...).connect()``.

        Raises:
            UnavailableError: Nothing answered at the address in time.
        """
        self._open()
        assert self._channel is not None
        wait = self.connect_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._channel.channel_ready(), wait)
        except TimeoutError as exc:
            raise UnavailableError(
                f"could not reach the Neural Heatmap bridge at {self.target} within {wait:g} s "
                "(is `neural-heatmap-bridge` running there?)",
                code=grpc.StatusCode.UNAVAILABLE,
            ) from exc
        return self

    async def check_health(
        self,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
    ) -> bool:
        """Ask the bridge's ``grpc.health.v1`` service whether both hops are up.

        The bridge answers SERVING only while its upstream server's ``/health``
        answers, so one call tells whether the whole path works. Health needs no
        token and is never retried: the answer is about this moment.

        Returns:
            True when the bridge is SERVING (its server answers), False when it
            is up but NOT_SERVING (server unreachable, or the bridge is shutting down).

        Raises:
            UnavailableError: The bridge itself did not answer.
        """
        self._open()
        assert self._channel is not None
        stub = health_pb2_grpc.HealthStub(self._channel)
        md = self._metadata(metadata)

        async def attempt(per_try: float | None) -> health_pb2.HealthCheckResponse:
            return await stub.Check(health_pb2.HealthCheckRequest(), timeout=per_try, metadata=md)

        resp = await self._call(attempt, rpc=None, timeout=timeout, retry=None)
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)

    async def disconnect(self) -> None:
        """Close the channel; a later call opens a new one."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close(grace=None)

    async def close(self) -> None:
        """Same as :meth:`disconnect`."""
        await self.disconnect()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()
