"""The hashcore relay: a gRPC service that ingests device chains durably, keeps the RFC
9162 Merkle log, signs checkpoints and hands out receipts (``hashcore relay serve``).

Submodules import grpc; this package itself stays light so that the store and the export
can be used without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import RelayClient
    from .server import RelayConfig, RelayServer

__all__ = ["RelayClient", "RelayConfig", "RelayServer"]


def __getattr__(name: str) -> Any:
    if name == "RelayClient":
        from .client import RelayClient

        return RelayClient
    if name in ("RelayConfig", "RelayServer"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'hashcore.relay' has no attribute {name!r}")
