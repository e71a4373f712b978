"""The Connect endpoints of the relay: one per RPC of ``relay.proto``'s ``Relay`` and
``Operator`` services, each calling the gRPC servicer's own method (``service.py``) with
the same request message, so both faces answer alike.

What ``interceptors.py`` does for gRPC is done here for Connect, with the same outcome:

* errors: a :class:`~..rejection.Rejected` becomes its own status with its message (and
  the retry-after header when it has one), any other ``HashcoreError`` is
  INVALID_ARGUMENT, anything else INTERNAL with a generic message (logged with its
  traceback: internals are not for clients);
* operator calls need ``authorization: Bearer <operator token>``, checked before the body
  is read (so garbage without a token is UNAUTHENTICATED, not a decoder's error);
* the caller's address is handed to the servicer as a gRPC-style peer
  (``ipv4:10.0.0.7:51234``), so the per-address rate buckets are the very same ones.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import Endpoint

from ...errors import HashcoreError
from ..interceptors import authorized
from ..rejection import RETRY_AFTER_KEY, Rejected
from ..v2 import relay_pb2 as pb

__all__ = ["OperatorAuth", "connect_error", "endpoints_for", "grpc_peer", "method_info"]

log = logging.getLogger("hashcore.relay")

#: Reads with no side effects: Connect clients may send them as cacheable GETs.
_READS = frozenset({"GetReceipt", "GetCheckpoint", "GetConsistencyProof", "GetChainHead"})


def connect_error(exc: BaseException, ctx: RequestContext[Any, Any]) -> ConnectError:
    """The Connect error a failed call answers with (interceptors._status's mapping)."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, Rejected):
        if exc.retry_after_ms is not None:
            # A response header for unary calls, end-of-stream metadata for streams: the
            # Connect clients show both in the error's metadata, as gRPC's trailer.
            ctx.response_headers[RETRY_AFTER_KEY] = str(exc.retry_after_ms)
        return ConnectError(Code[exc.code], exc.details)
    if isinstance(exc, HashcoreError):
        return ConnectError(Code.INVALID_ARGUMENT, str(exc))
    log.error("internal error in a relay call", exc_info=exc)
    return ConnectError(Code.INTERNAL, "internal error in the relay (see its log)")


def grpc_peer(client_address: str | None) -> str:
    """ASGI's ``host:port`` as grpc writes a peer ("ipv4:127.0.0.1:5000",
    "ipv6:[::1]:5000"), which ratelimit.peer_address reduces to the address."""
    if not client_address:
        return "unknown"
    host, _, port = client_address.rpartition(":")
    if ":" in host:
        return f"ipv6:[{host.strip('[]')}]:{port}"
    return f"ipv4:{host}:{port}"


class _Context:
    """The part of grpc's ServicerContext the servicers use: who is calling."""

    __slots__ = ("_peer",)

    def __init__(self, ctx: RequestContext[Any, Any]) -> None:
        self._peer = grpc_peer(ctx.client_address)

    def peer(self) -> str:
        return self._peer


class OperatorAuth:
    """A Connect metadata interceptor: runs before the request body is read."""

    def __init__(self, operator_token: bytes) -> None:
        self._token = operator_token

    async def on_start(self, ctx: RequestContext[Any, Any]) -> None:
        if ctx.method.service_name != pb.DESCRIPTOR.services_by_name["Operator"].full_name:
            return
        verdict = authorized(ctx.request_headers.items(), self._token)
        if verdict is None:
            raise ConnectError(
                Code.UNAUTHENTICATED, "operator call needs 'authorization: Bearer <operator token>'"
            )
        if verdict is False:
            raise ConnectError(Code.PERMISSION_DENIED, "operator token is wrong")

    async def on_end(
        self, token: None, ctx: RequestContext[Any, Any], error: Exception | None, /
    ) -> None:
        return


def method_info(m: Any) -> MethodInfo[Any, Any]:
    """``m``: the method's google.protobuf MethodDescriptor (untyped upstream)."""
    if m.client_streaming and m.server_streaming:
        stream = StreamType.BIDI_STREAM
    elif m.client_streaming:
        stream = StreamType.CLIENT_STREAM
    elif m.server_streaming:
        stream = StreamType.SERVER_STREAM
    else:
        stream = StreamType.UNARY
    return MethodInfo(
        name=m.name,
        service_name=m.containing_service.full_name,
        input=getattr(pb, m.input_type.name),
        output=getattr(pb, m.output_type.name),
        idempotency_level=(
            IdempotencyLevel.NO_SIDE_EFFECTS if m.name in _READS else IdempotencyLevel.UNKNOWN
        ),
        stream_type=stream,
    )


def _unary(
    info: MethodInfo[Any, Any], call: Callable[[Any, Any], Awaitable[Any]]
) -> Endpoint[Any, Any]:
    async def run(request: Any, ctx: RequestContext[Any, Any]) -> Any:
        try:
            return await call(request, _Context(ctx))
        except Exception as exc:
            raise connect_error(exc, ctx) from None

    return Endpoint.unary(info, run)


def _bidi(
    info: MethodInfo[Any, Any], call: Callable[[Any, Any], AsyncIterator[Any]]
) -> Endpoint[Any, Any]:
    async def run(
        requests: AsyncIterator[Any], ctx: RequestContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            async for response in call(requests, _Context(ctx)):
                yield response
        except Exception as exc:
            raise connect_error(exc, ctx) from None

    return Endpoint.bidi_stream(info, run)


def _server_stream(
    info: MethodInfo[Any, Any], call: Callable[[Any, Any], AsyncIterator[Any]]
) -> Endpoint[Any, Any]:
    async def run(request: Any, ctx: RequestContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            async for response in call(request, _Context(ctx)):
                yield response
        except Exception as exc:
            raise connect_error(exc, ctx) from None

    return Endpoint.server_stream(info, run)


def _client_stream(
    info: MethodInfo[Any, Any], call: Callable[[Any, Any], Awaitable[Any]]
) -> Endpoint[Any, Any]:
    async def run(requests: AsyncIterator[Any], ctx: RequestContext[Any, Any]) -> Any:
        try:
            return await call(requests, _Context(ctx))
        except Exception as exc:
            raise connect_error(exc, ctx) from None

    return Endpoint.client_stream(info, run)


_MAKERS: dict[StreamType, Callable[..., Endpoint[Any, Any]]] = {
    StreamType.UNARY: _unary,
    StreamType.SERVER_STREAM: _server_stream,
    StreamType.CLIENT_STREAM: _client_stream,
    StreamType.BIDI_STREAM: _bidi,
}


def endpoints_for(*servicers: tuple[str, object]) -> Mapping[str, Any]:
    """``/package.Service/Method`` -> endpoint, for each (service name, servicer) given;
    every RPC of the service must be a method of the servicer (found at start-up)."""
    out: dict[str, Any] = {}
    for service_name, servicer in servicers:
        service = pb.DESCRIPTOR.services_by_name[service_name]
        for m in service.methods:
            info = method_info(m)
            call = getattr(servicer, m.name)
            out[f"/{service.full_name}/{m.name}"] = _MAKERS[info.stream_type](info, call)
    return out
