"""``hashcore relay serve``'s HTTP-face options (``--http-listen``, ``--cors-origin``):
the same services over Connect and gRPC-Web for browsers and apps (relay/connect_face/)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_serve_args", "announce", "config_settings"]


def add_serve_args(serve: Any) -> None:
    serve.add_argument(
        "--http-listen",
        metavar="HOST:PORT",
        help="also serve the API over HTTP/1.1 and HTTP/2 here: Connect (JSON and binary), "
        "gRPC-Web and gRPC, for browsers and apps; the same TLS as --listen; port 0 picks a "
        "free one",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web origin allowed to call the HTTP face from a browser, e.g. "
        "https://diary.trial.example (repeat, or comma-separate; * allows any)",
    )


def config_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The RelayConfig fields these options set."""
    origins = [o.strip() for v in args.cors_origin for o in v.split(",") if o.strip()]
    return {"http_listen": args.http_listen, "cors_origins": tuple(origins)}


def announce(relay: Any, config: Any) -> None:
    """The machine-readable stdout line of the HTTP face (tests and scripts read it)."""
    if config.http_listen and relay.http_port:
        host = config.http_listen.rpartition(":")[0]
        print(f"hashcore relay HTTP (Connect) on {host}:{relay.http_port}", flush=True)
