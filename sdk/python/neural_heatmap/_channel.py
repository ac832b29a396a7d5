"""Addresses, TLS and channel options: how the SDK reaches the gRPC bridge."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from neural_heatmap_contract import policy
from neural_heatmap_contract.limits import MAX_MESSAGE_BYTES
from neural_heatmap_contract.tracing import enable_tracing

from neural_heatmap._errors import InvalidTargetError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_TARGET",
    "ParsedTarget",
    "check_token_transport",
    "parse_target",
    "uses_tls",
]

DEFAULT_TARGET = policy.BRIDGE_ADDRESS
"""The bridge's customary address (gRPC's conventional port; protos/policy/client.json)."""

DEFAULT_MAX_MESSAGE_BYTES = MAX_MESSAGE_BYTES
"""Send and receive limit: a 2048 x 2048 float32 matrix alone is 16 MiB."""

SDK_SERVICE_NAME = "neural-heatmap-sdk"
"""``service.name`` of the SDK's spans unless ``OTEL_SERVICE_NAME`` names the program."""

_DEFAULT_PORT = policy.BRIDGE_PORT
_DEFAULT_TLS_PORT = 443


@dataclass(frozen=True)
class ParsedTarget:
    """A gRPC target and whether it asks for TLS."""

    target: str
    tls: bool


def _explain_http(url: str) -> InvalidTargetError:
    return InvalidTargetError(
        f"{url!r} is an HTTP/WebSocket URL, but the neural_heatmap SDK speaks gRPC to the "
        f"Neural Heatmap bridge, not to the HTTP server (which listens on :{policy.SERVER_PORT} "
        "by default). Start the bridge in front of the server (e.g. `neural-heatmap-bridge "
        f"--upstream {policy.SERVER_URL}`) and pass the bridge's address instead: "
        f"'{DEFAULT_TARGET}' "
        "(or 'grpc://host:port', 'grpcs://host:port' for TLS)."
    )


def parse_target(url: str) -> ParsedTarget:
    """Turn what the user passed into a gRPC target.

    Accepted: ``host:port``, ``host`` (port 50051), ``grpc://host[:port]``,
    ``grpcs://host[:port]`` (TLS, default port 443), and gRPC's own schemes
    (``unix:``, ``dns:``, ``ipv4:``, ``ipv6:``).

    Raises:
        InvalidTargetError: For ``http(s)://`` and ``ws(s)://`` URLs (the SDK
            talks to the bridge, not to the HTTP server) and empty strings.
    """
    text = url.strip()
    if not text:
        raise InvalidTargetError(
            f"empty target; pass the bridge's address, e.g. '{DEFAULT_TARGET}'")
    lower = text.lower()
    if lower.startswith(("http://", "https://", "ws://", "wss://")):
        raise _explain_http(text)
    tls = False
    if lower.startswith("grpcs://"):
        tls, text = True, text[len("grpcs://") :]
    elif lower.startswith("grpc://"):
        text = text[len("grpc://") :]
    elif lower.startswith(("unix:", "dns:", "ipv4:", "ipv6:", "unix-abstract:", "vsock:")):
        return ParsedTarget(text, False)
    elif "://" in text:
        raise InvalidTargetError(
            f"unsupported scheme in {url!r}; use 'host:port', 'grpc://host:port' or "
            "'grpcs://host:port'"
        )
    text = text.rstrip("/")
    if "/" in text:
        raise InvalidTargetError(f"a gRPC target has no path: {url!r}")
    has_port = text.rsplit(":", 1)[-1].isdigit() and (not text.startswith("[") or "]:" in text)
    if not has_port:
        text = f"{text}:{_DEFAULT_TLS_PORT if tls else _DEFAULT_PORT}"
    return ParsedTarget(text, tls)


def _read(value: bytes | str | os.PathLike[str] | None) -> bytes | None:
    """PEM given as bytes, as PEM text, or as a path to a file."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    text = os.fspath(value)
    if "-----BEGIN" in text:
        return text.encode()
    with open(text, "rb") as fh:
        return fh.read()


PemSource = bytes | str | os.PathLike[str]


def uses_tls(
    target: ParsedTarget,
    *,
    tls: bool | None,
    root_certificates: PemSource | None,
    certificate_chain: PemSource | None,
    credentials: grpc.ChannelCredentials | None,
) -> bool:
    """Whether the channel will be TLS: forced by ``tls``, else asked for by the target or certs."""
    if tls is not None:
        return tls
    return (
        target.tls
        or credentials is not None
        or root_certificates is not None
        or certificate_chain is not None
    )


def is_loopback(target: str) -> bool:
    """True for a Unix socket or a host that is ``localhost`` or a loopback IP address."""
    text = target.lower()
    if text.startswith(("unix:", "unix-abstract:")):
        return True
    for prefix in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    host = text.rsplit(":", 1)[0] if text.rsplit(":", 1)[-1].isdigit() else text
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token_transport(target: str, *, tls: bool, insecure_token: bool) -> None:
    """Refuse to send a bearer token in plaintext to anything but a loopback address.

    The rule and its words are the same in every SDK (docs/clients.md, "Settings"), so a
    user who meets it in one language recognises it in the others.

    Raises:
        ValueError: Plaintext, not loopback, and no explicit ``insecure_token=True``.
    """
    if tls or insecure_token or is_loopback(target):
        return
    raise ValueError(
        f"neural heatmap: refusing to send a bearer token over plaintext to {target}; use TLS, "
        "a loopback address, or opt in explicitly (Python insecure_token=True, TypeScript "
        "insecureToken: true, Go WithInsecureToken(), Java allowInsecureToken())"
    )


def make_channel(
    target: ParsedTarget,
    *,
    tls: bool | None,
    root_certificates: PemSource | None,
    private_key: PemSource | None,
    certificate_chain: PemSource | None,
    credentials: grpc.ChannelCredentials | None,
    ssl_target_name_override: str | None,
    max_message_bytes: int,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """Open a ``grpc.aio`` channel with the SDK's limits and reconnect settings."""
    opts: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Come back quickly after a bridge restart instead of gRPC's 1 s..120 s.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.keepalive_time_ms", 30000),
        ("grpc.keepalive_timeout_ms", 10000),
    ]
    if ssl_target_name_override:
        opts.append(("grpc.ssl_target_name_override", ssl_target_name_override))
    opts.extend(options)
    use_tls = uses_tls(
        target,
        tls=tls,
        root_certificates=root_certificates,
        certificate_chain=certificate_chain,
        credentials=credentials,
    )
    interceptors = _tracing_interceptors()
    if not use_tls:
        return grpc.aio.insecure_channel(target.target, options=opts, interceptors=interceptors)
    creds = credentials or grpc.ssl_channel_credentials(
        root_certificates=_read(root_certificates),
        private_key=_read(private_key),
        certificate_chain=_read(certificate_chain),
    )
    return grpc.aio.secure_channel(target.target, creds, options=opts, interceptors=interceptors)


def _tracing_interceptors() -> list[grpc.aio.ClientInterceptor] | None:
    """OpenTelemetry's client interceptors (a span per RPC, W3C ``traceparent`` in the
    metadata) when the ``OTEL_*`` environment asks for tracing (``[otel]`` extra).

    None when tracing is off, and when ``opentelemetry-instrument`` already
    instrumented every channel (a second interceptor would double the spans).
    """
    if not enable_tracing(SDK_SERVICE_NAME):
        return None
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        aio_client_interceptors,
    )

    if GrpcAioInstrumentorClient().is_instrumented_by_opentelemetry:
        return None
    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors()
    return interceptors
