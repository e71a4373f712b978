"""The relay's one server interceptor: operator authentication and error → status mapping.

Handlers raise; this is the only place that decides which gRPC status a failure becomes:
:class:`~.rejection.Rejected` carries its own status, any other ``HashcoreError`` is
INVALID_ARGUMENT, anything else is INTERNAL (logged with its traceback, message generic:
internals are not for clients).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from ..errors import HashcoreError
from .rejection import RETRY_AFTER_KEY, Rejected

__all__ = ["OPERATOR_PREFIX", "RelayInterceptor", "authorized"]

log = logging.getLogger("hashcore.relay")

OPERATOR_PREFIX = "/hashcore.relay.v2.Operator/"


def _status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, Rejected):
        return grpc.StatusCode[exc.code], exc.details
    if isinstance(exc, HashcoreError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    log.exception("internal error in a relay call", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error in the relay (see its log)"


def authorized(metadata: Any, token: bytes) -> bool | None:
    """True: the right bearer token; False: a wrong one; None: none presented."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, presented = text.partition(" ")
            if scheme.lower() != "bearer":
                return False
            # Constant time, so the comparison leaks nothing about the token.
            return hmac.compare_digest(presented.strip().encode(), token)
    return None


class RelayInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, operator_token: bytes) -> None:
        self._token = operator_token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        if details.method.startswith(OPERATOR_PREFIX):
            verdict = authorized(details.invocation_metadata, self._token)
            if verdict is not True:
                code = (
                    grpc.StatusCode.UNAUTHENTICATED
                    if verdict is None
                    else grpc.StatusCode.PERMISSION_DENIED
                )
                text = (
                    "operator call needs 'authorization: Bearer <operator token>'"
                    if verdict is None
                    else "operator token is wrong"
                )
                return _denied(handler, code, text)
        return self._wrap(handler)

    def _wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        async def fail(exc: BaseException, context: aio.ServicerContext) -> None:
            code, text = _status(exc)
            after = exc.retry_after_ms if isinstance(exc, Rejected) else None
            trailer = () if after is None else ((RETRY_AFTER_KEY, str(after)),)
            await context.abort(code, text, trailing_metadata=trailer)

        # Requests arrive as raw bytes and are parsed here, so that a corrupt message is
        # INVALID_ARGUMENT with a message rather than grpc's generic UNKNOWN.
        parse = handler.request_deserializer or (lambda raw: raw)

        def decode(raw: bytes) -> Any:
            try:
                return parse(raw)
            except Exception as exc:
                raise Rejected(
                    "INVALID_ARGUMENT",
                    "malformed",
                    f"the request is not a valid protobuf message ({exc})",
                ) from None

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: aio.ServicerContext) -> Any:
                try:
                    return await inner(decode(request), context)
                except aio.AbortError:
                    raise
                except Exception as exc:
                    await fail(exc, context)

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=None,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            inner_s = handler.stream_stream

            async def decoded(requests: AsyncIterator[bytes]) -> AsyncIterator[Any]:
                async for raw in requests:
                    yield decode(raw)

            async def stream(requests: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
                try:
                    async for response in inner_s(decoded(requests), context):
                        yield response
                except aio.AbortError:
                    raise
                except Exception as exc:
                    await fail(exc, context)

            return grpc.stream_stream_rpc_method_handler(
                stream,
                request_deserializer=None,
                response_serializer=handler.response_serializer,
            )
        return handler


def _denied(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, text: str
) -> grpc.RpcMethodHandler:
    async def deny(request: Any, context: aio.ServicerContext) -> Any:
        await context.abort(code, text)

    # No deserializer: the body of an unauthenticated call is never parsed, so garbage
    # without a token is UNAUTHENTICATED, not a decoder's error (authenticate first).
    return grpc.unary_unary_rpc_method_handler(
        deny,
        request_deserializer=None,
        response_serializer=handler.response_serializer,
    )
