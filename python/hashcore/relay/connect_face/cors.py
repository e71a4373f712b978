"""CORS for the relay's HTTP face: a trial's web app (its PWA's origin) may call the relay
from the participant's browser; no other origin may.

Hand-written (an ASGI wrapper of ~60 lines) rather than a framework's middleware: the
face has no framework, and what Connect needs is fixed: the request headers its clients
send (Connect, gRPC-Web, the operator's bearer token) and the response headers they must
read (the gRPC-Web status, the relay's retry-after). No credentials (cookies) are used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from ..rejection import RETRY_AFTER_KEY

__all__ = ["ALLOWED_HEADERS", "EXPOSED_HEADERS", "Cors"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: What Connect and gRPC-Web clients send (connect-es's cors helper lists the same).
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-accept-encoding",
    "connect-content-encoding",
    "grpc-timeout",
    "grpc-accept-encoding",
    "x-grpc-web",
    "x-user-agent",
)
#: What they read from an answer.
EXPOSED_HEADERS = (
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "connect-content-encoding",
    RETRY_AFTER_KEY,
    f"trailer-{RETRY_AFTER_KEY}",
)
_METHODS = "GET, POST"
_MAX_AGE = "7200"


class Cors:
    """Wraps an ASGI app: preflights from an allowed origin are answered here (204), other
    requests get ``access-control-allow-origin`` when their origin is allowed. ``origins``
    may hold ``*`` (any origin: for a public demo, not for a trial)."""

    def __init__(self, app: App, origins: Sequence[str]) -> None:
        self._app = app
        self._any = "*" in origins
        self._origins = frozenset(o.rstrip("/") for o in origins if o != "*")

    def _allowed(self, origin: str | None) -> bool:
        return origin is not None and (self._any or origin in self._origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, send)
            return
        if not self._allowed(origin):
            await self._app(scope, receive, send)
            return
        assert origin is not None
        extra = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode()),
            (b"vary", b"Origin"),
        ]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self._app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str | None, send: Send) -> None:
        if not self._allowed(origin):
            # No CORS headers: the browser refuses the call; say why to whoever looks.
            await _respond(send, 403, [], b"origin not allowed\n")
            return
        assert origin is not None
        await _respond(
            send,
            204,
            [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", _METHODS.encode()),
                (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
                (b"access-control-max-age", _MAX_AGE.encode()),
                (b"vary", b"Origin"),
            ],
            b"",
        )


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
