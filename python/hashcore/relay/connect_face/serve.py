"""Running the HTTP face beside the gRPC server, in the relay's event loop.

Hypercorn serves HTTP/1.1 and HTTP/2 (ALPN over TLS, prior knowledge or upgrade in the
clear) with the ASGI trailers extension, so one port answers Connect (unary and streams,
JSON and binary), gRPC-Web and plain gRPC. TLS is the gRPC server's: the same
certificate and key, and with ``client_ca`` the same client-certificate requirement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from typing import Any

from connectrpc.compat import google_protobuf_codecs
from connectrpc.server import ConnectASGIApplication
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.utils import wrap_app

from ...errors import InvalidInputError
from ..config import RelayConfig, split_hostport
from .cors import Cors
from .endpoints import OperatorAuth, endpoints_for

__all__ = ["HttpFace"]

log = logging.getLogger("hashcore.relay")


class _RelayApp(ConnectASGIApplication[object]):
    """Both v2 services under their gRPC paths (``/hashcore.relay.v2.Relay/Enroll``)."""

    @property
    def path(self) -> str:
        return "/"


def _hypercorn_config(cfg: RelayConfig, listen: str) -> Config:
    config = Config()
    config.bind = [listen]
    config.graceful_timeout = cfg.grace_s
    config.accesslog = None
    # Hypercorn's own lines go through the relay's logging (its format, its level).
    config.errorlog = logging.getLogger("hashcore.relay.http")
    # A phone on a slow link may take a while to send a batch; idle keep-alives close.
    config.keep_alive_timeout = 60
    if not cfg.plaintext:
        assert cfg.tls_cert and cfg.tls_key
        config.certfile = str(cfg.tls_cert)
        config.keyfile = str(cfg.tls_key)
        if cfg.client_ca:
            config.ca_certs = str(cfg.client_ca)
            config.verify_mode = ssl.CERT_REQUIRED
    return config


class HttpFace:
    """The relay's services on ``http_listen``; ``port`` is the bound port once started."""

    def __init__(
        self,
        cfg: RelayConfig,
        relay_service: object,
        operator_service: object,
        operator_token: str,
    ) -> None:
        if cfg.http_listen is None:
            raise InvalidInputError("the HTTP face needs --http-listen HOST:PORT")
        split_hostport(cfg.http_listen)
        self._cfg = cfg
        endpoints: Mapping[str, Any] = endpoints_for(
            ("Relay", relay_service), ("Operator", operator_service)
        )
        app = _RelayApp(
            service=object(),
            endpoints=lambda _service: endpoints,
            interceptors=[OperatorAuth(operator_token.encode())],
            read_max_bytes=cfg.max_message_bytes,
            codecs=google_protobuf_codecs(),
        )
        self.app: Any = Cors(app, cfg.cors_origins) if cfg.cors_origins else app
        self._config = _hypercorn_config(cfg, cfg.http_listen)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> HttpFace:
        try:
            sockets = self._config.create_sockets()
        except OSError as exc:
            raise InvalidInputError(
                f"cannot listen on {self._cfg.http_listen} ({exc.strerror or exc})"
            ) from None
        bound = [*sockets.secure_sockets, *sockets.insecure_sockets]
        for sock in bound:
            # Listening now, so that a client told the port is queued, not refused, while
            # Hypercorn starts (it accepts once its lifespan start-up is through).
            sock.listen(self._config.backlog)
        self.port = int(bound[0].getsockname()[1])
        self._task = asyncio.create_task(
            worker_serve(
                wrap_app(self.app, self._config.wsgi_max_body_size, "asgi"),
                self._config,
                sockets=sockets,
                shutdown_trigger=self._stop.wait,
            ),
            name="hashcore-http-face",
        )
        log.info(
            "relay HTTP face (Connect, gRPC-Web) on %s:%d%s",
            split_hostport(self._cfg.http_listen or "")[0],
            self.port,
            f", CORS for {', '.join(self._cfg.cors_origins)}" if self._cfg.cors_origins else "",
        )
        return self

    async def stop(self) -> None:
        """Graceful: no new connections, in-flight calls finish (within ``grace_s``)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
