"""``hashcore witness serve``: run a C2SP tlog-witness for hashcore relay logs (SPEC 2.3)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from ..errors import HashcoreError

__all__ = ["add_parser", "run"]


def _log_spec(text: str) -> Any:
    from ..witness.config import parse_log_spec

    try:
        return parse_log_spec(text)
    except HashcoreError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("witness", help="Run a C2SP tlog-witness that cosigns relay checkpoints")
    wsub = p.add_subparsers(dest="witness_command", required=True, parser_class=type(p))
    s = wsub.add_parser(
        "serve",
        help="Serve POST /add-checkpoint (C2SP tlog-witness), /healthz and /metrics",
        description=(
            "Cosign the checkpoints of the configured logs after checking the log's "
            "signature and a consistency proof from the last size cosigned (kept in --db, "
            "fsynced before each answer). Prints 'hashcore witness listening on HOST:PORT', "
            "then its name and key."
        ),
    )
    s.add_argument("--name", required=True, help="the witness's name (a C2SP key name)")
    s.add_argument(
        "--key-file",
        type=Path,
        required=True,
        help="its Ed25519 key file (created mode 0600 on first start, never overwritten)",
    )
    s.add_argument("--db", type=Path, required=True, help="state file (SQLite)")
    s.add_argument(
        "--log",
        action="append",
        type=_log_spec,
        required=True,
        metavar="ORIGIN=HEXKEY",
        help="a log to witness: ORIGIN=<64 hex log key>, or its C2SP verifier key "
        "(name+id+key); repeat for several",
    )
    s.add_argument("--listen", default="127.0.0.1:7380", help="HOST:PORT (port 0: any free)")
    s.add_argument(
        "--metrics",
        default=None,
        metavar="HOST:PORT",
        help="serve /metrics here (and not on --listen)",
    )
    s.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _serve(args: argparse.Namespace) -> int:
    from ..witness import WitnessConfig, WitnessServer

    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    cfg = WitnessConfig(
        name=args.name,
        key_file=args.key_file,
        db_path=args.db,
        logs=list(args.log),
        listen=args.listen,
        metrics_listen=args.metrics,
    )

    async def main() -> None:
        server = WitnessServer(cfg)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Machine-readable lines on stdout: scripts and tests read the bound port here.
        host = cfg.listen.rpartition(":")[0]
        print(f"hashcore witness listening on {host}:{server.port}", flush=True)
        if server.metrics_port:
            mhost = (cfg.metrics_listen or "").rpartition(":")[0]
            print(f"hashcore witness metrics on {mhost}:{server.metrics_port}", flush=True)
        print(f"name {cfg.name}", flush=True)
        print(f"key {server.key.hex()}", flush=True)
        print(f"vkey {server.witness.verifier_key}", flush=True)
        if server.key_created:
            print(f"created key file {cfg.key_file}", flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())
    return 0


def run(args: argparse.Namespace) -> int:
    """Run a ``witness`` subcommand; HashcoreError becomes exit 2 with one line."""
    try:
        return _serve(args)
    except HashcoreError as exc:
        print(f"hashcore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the db directory unwritable, ...
        print(f"hashcore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
