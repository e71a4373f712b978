"""Binding the relay's gRPC port: plaintext, TLS or mTLS from the config's files."""

from __future__ import annotations

import grpc
from grpc import aio

from ..errors import InvalidInputError
from .config import RelayConfig, split_hostport

__all__ = ["bind_grpc_port"]


def bind_grpc_port(server: aio.Server, cfg: RelayConfig) -> int:
    """Bind the gRPC server to ``cfg.listen`` (plaintext, TLS or mTLS); the bound port."""
    split_hostport(cfg.listen)
    if cfg.plaintext:
        port = server.add_insecure_port(cfg.listen)
    else:
        assert cfg.tls_cert and cfg.tls_key
        ca = cfg.client_ca.read_bytes() if cfg.client_ca else None
        creds = grpc.ssl_server_credentials(
            [(cfg.tls_key.read_bytes(), cfg.tls_cert.read_bytes())],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )
        port = server.add_secure_port(cfg.listen, creds)
    if port == 0:
        raise InvalidInputError(f"cannot listen on {cfg.listen} (in use or not a local address)")
    return int(port)
