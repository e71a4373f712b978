"""``hashcore relay serve | token | export | policy``: run a relay, issue enrollment
tokens, export an audit bundle straight from a relay's store, write its SPEC 3 policy."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import HashcoreError
from . import relay_frontend, relay_http, relay_policy, relay_tiles
from .args import call_rate, duration, positive_float

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, positive_int: Any) -> None:
    relay = sub.add_parser("relay", help="run a relay, issue enrollment tokens, export bundles")
    rsub = relay.add_subparsers(dest="relay_command", required=True, parser_class=type(relay))

    serve = rsub.add_parser(
        "serve",
        help="serve the relay gRPC API (SIGTERM stops it cleanly)",
        description="Serve the relay gRPC API, protocol v2 (SIGTERM stops it cleanly: a "
        "final checkpoint, anchored, waiting --stop-anchor-wait for it to be final). Phones "
        "pin the origin and log key (the public key of relay.key, its 'log_id' field; both "
        "logged at start and sent at enrollment). Every acknowledgement carries a signed "
        "receipt; checkpoints are C2SP signed notes. GetCheckpoint(0) is the newest "
        "checkpoint, GetCheckpoint(N) the one of exactly tree size N (NOT_FOUND if none). "
        "Consistency-proof roots are unsigned: check them against signed checkpoints. "
        "More: docs/relay.md.",
    )
    serve.add_argument(
        "--db", required=True, metavar="FILE_OR_URL", help="SQLite file or postgresql:// URL"
    )
    serve.add_argument(
        "--listen", default="127.0.0.1:7443", metavar="HOST:PORT", help="port 0 picks a free one"
    )
    serve.add_argument(
        "--origin",
        metavar="NAME",
        help="the log's name in every checkpoint (SPEC 2.2, a C2SP key name such as "
        "relay.site-a.example/trial-x; default: the name the store already has, else "
        "hashcore-relay/<first 16 hex digits of the log key>); a store keeps it for life",
    )
    serve.add_argument(
        "--stop-anchor-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, wait this long for the final checkpoint's anchor to be final "
        "(default 30)",
    )
    serve.add_argument(
        "--key-dir",
        type=Path,
        metavar="DIR",
        help="where relay.key, relay.operator-token (and relay.evm-state.json) live; "
        "required with a postgresql:// --db (default for SQLite: beside the db, named "
        "after it: relay.db -> relay.key, relay.operator-token, relay.evm-state.json)",
    )
    serve.add_argument(
        "--key-file",
        type=Path,
        metavar="FILE",
        help="relay key: its public key is the log_id (default: in the key dir; created "
        "0600 on first start; bound to this store in FILE.store-id)",
    )
    serve.add_argument(
        "--operator-token-file",
        type=Path,
        metavar="FILE",
        help="operator bearer token (default: in the key dir; created 0600 on first start)",
    )
    serve.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=1000,
        metavar="N",
        help="sign a checkpoint every N records (default 1000)",
    )
    serve.add_argument(
        "--checkpoint-interval",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="and every T seconds when the log grew (default 5)",
    )
    serve.add_argument(
        "--max-batch-records",
        type=positive_int,
        default=4096,
        metavar="N",
        help="records per batch; more: RESOURCE_EXHAUSTED (default 4096)",
    )
    serve.add_argument(
        "--max-payload-bytes",
        type=positive_int,
        default=65536,
        metavar="N",
        help="bytes per record payload; more: RESOURCE_EXHAUSTED (default 65536)",
    )
    serve.add_argument(
        "--max-message-bytes",
        type=positive_int,
        default=8 * 1024 * 1024,
        metavar="N",
        help="bytes per gRPC message, both ways (default 8388608 = 8 MiB)",
    )
    serve.add_argument(
        "--max-clock-behind",
        type=duration,
        default=365 * 86400,
        metavar="DURATION",
        help="refuse new records whose time_ms is further behind the relay's clock "
        "(default 365d: a phone offline longer can't send what it wrote then)",
    )
    serve.add_argument(
        "--max-clock-ahead",
        type=duration,
        default=86400,
        metavar="DURATION",
        help="refuse new records whose time_ms is further ahead of the relay's clock (default 1d)",
    )
    for call, rate, burst in (("enroll", 10.0, 200), ("read", 100.0, 1000)):
        what = "Enroll" if call == "enroll" else "unauthenticated read"
        serve.add_argument(
            f"--{call}-rate",
            type=call_rate,
            default=rate,
            metavar="PER_S",
            help=f"{what} calls a second per source address, after a burst (default "
            f"{rate:g}; 0: no limit)",
        )
        serve.add_argument(
            f"--{call}-burst",
            type=positive_int,
            default=burst,
            metavar="N",
            help=f"{what} calls at once per source address (default {burst})",
        )
    serve.add_argument(
        "--token-ttl",
        type=duration,
        default=7 * 86400,
        metavar="DURATION",
        help="default lifetime of enrollment tokens (default 7d)",
    )
    serve.add_argument("--tls-cert", type=Path, metavar="PEM")
    serve.add_argument("--tls-key", type=Path, metavar="PEM")
    serve.add_argument(
        "--client-ca",
        type=Path,
        metavar="PEM",
        help="require client certificates signed by this CA (mTLS)",
    )
    serve.add_argument(
        "--plaintext",
        action="store_true",
        help="serve without TLS: only on a loopback address (127.0.0.1, ::1, localhost)",
    )
    serve.add_argument(
        "--allow-insecure-remote",
        action="store_true",
        help="allow --plaintext on a non-loopback address (behind a TLS-terminating proxy)",
    )
    serve.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics here")
    relay_tiles.add_serve_arguments(serve)
    relay_http.add_serve_args(serve)
    serve.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="URL,NAME,KEY",
        help="push every checkpoint to this C2SP tlog-witness (repeat; KEY: 64 hex)",
    )
    serve.add_argument("--witness-quorum", type=int, default=0, metavar="N")
    serve.add_argument(
        "--evm",
        choices=("embedded", "url", "none"),
        default=None,
        help="where checkpoints are anchored: embedded (default: an anvil child process, "
        "its chain kept in relay.evm-state.json beside the db or in --key-dir; private to "
        "this host), a JSON-RPC node (--evm-url), or nowhere",
    )
    serve.add_argument(
        "--evm-url",
        metavar="URL",
        help="JSON-RPC node to anchor on (Geth, Besu, anvil, a public chain)",
    )
    serve.add_argument(
        "--evm-key",
        type=Path,
        metavar="FILE",
        help="file with the 0x-hex private key that pays for anchors (with --frontend: "
        "a copy of the same key file on every frontend of the log)",
    )
    serve.add_argument(
        "--evm-contract",
        metavar="ADDRESS",
        help="the anchor contract (default: the one this store used before, else deploy "
        "one; frontends: the one recorded in the store by the first frontend)",
    )
    serve.add_argument(
        "--evm-chain-id",
        type=positive_int,
        metavar="ID",
        help="refuse to start if the node is on another chain",
    )
    serve.add_argument(
        "--confirmations",
        type=positive_int,
        default=3,
        metavar="N",
        help="blocks before an anchor counts as final (default 3)",
    )
    serve.add_argument(
        "--anchor-interval",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="anchor the newest checkpoint this often (default 30)",
    )
    serve.add_argument("--log-format", choices=("text", "json"), default="text")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    relay_frontend.add_arguments(serve)

    token = rsub.add_parser("token", help="issue a one-time enrollment token for a participant")
    token.add_argument("--db", required=True, metavar="FILE_OR_URL")
    token.add_argument("--participant", required=True, metavar="ID")
    token.add_argument(
        "--ttl", type=duration, default=7 * 86400, metavar="DURATION", help="lifetime (default 7d)"
    )

    export = rsub.add_parser(
        "export",
        help="write a SPEC v2 section 4 bundle from a relay's store",
        description="Write the relay's log up to its newest checkpoint (every acknowledged "
        "record a checkpoint covers) and its checkpoints as a v2 bundle. What is left out "
        "(records no checkpoint covers yet) and what is not final (checkpoints without a "
        "final anchor) is printed as a WARNING on stderr. --as-of N / --final-only export "
        "less, by name.",
    )
    export.add_argument("--db", required=True, metavar="FILE_OR_URL")
    export.add_argument("--out", required=True, type=Path, metavar="BUNDLE")
    export.add_argument("--part-rows", type=positive_int, default=1_000_000, metavar="N")
    cut = export.add_mutually_exclusive_group()
    cut.add_argument(
        "--as-of",
        type=positive_int,
        metavar="N",
        help="export up to the checkpoint of tree size N (audit it with --as-of N)",
    )
    cut.add_argument(
        "--final-only",
        action="store_true",
        help="export up to the newest checkpoint with a final anchor",
    )
    relay_policy.add_parser(rsub, positive_int, duration)
    relay_tiles.add_parser(rsub)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("hashcore")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _serve(args: argparse.Namespace) -> int:
    from ..relay.ledger import Limits
    from ..relay.server import RelayConfig, RelayServer

    _setup_logging(args.log_format, args.log_level)
    config = RelayConfig(
        store=args.db,
        listen=args.listen,
        key_dir=args.key_dir,
        key_file=args.key_file,
        operator_token_file=args.operator_token_file,
        checkpoint_every=args.checkpoint_every,
        checkpoint_interval_s=args.checkpoint_interval,
        limits=Limits(
            args.max_batch_records,
            args.max_payload_bytes,
            max_clock_behind_ms=args.max_clock_behind * 1000,
            max_clock_ahead_ms=args.max_clock_ahead * 1000,
            enroll_per_s=args.enroll_rate,
            enroll_burst=args.enroll_burst,
            reads_per_s=args.read_rate,
            reads_burst=args.read_burst,
        ),
        max_message_bytes=args.max_message_bytes,
        token_ttl_s=args.token_ttl,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        client_ca=args.client_ca,
        plaintext=args.plaintext,
        allow_insecure_remote=args.allow_insecure_remote,
        metrics_listen=args.metrics,
        tiles_listen=args.tiles_listen,
        witnesses=_witnesses(args.witness),
        witness_quorum=args.witness_quorum,
        evm=args.evm or ("url" if args.evm_url else "embedded"),
        evm_url=args.evm_url,
        evm_key=args.evm_key,
        evm_contract=args.evm_contract,
        evm_chain_id=args.evm_chain_id,
        confirmations=args.confirmations,
        anchor_interval_s=args.anchor_interval,
        origin=args.origin,
        stop_anchor_wait_s=args.stop_anchor_wait,
        **relay_frontend.config_fields(args),
        **relay_http.config_settings(args),
    )

    async def main() -> None:
        relay = RelayServer(config)
        await relay.start()
        # The relay allocates a few short-lived objects per record and almost no cycles:
        # the default gen-0 threshold (700) runs the cyclic GC hundreds of times a second
        # under load for nothing. Freeze what start-up made and collect far less often.
        gc.freeze()
        gc.set_threshold(100_000, 50, 50)
        relay.install_signal_handlers()
        # One machine-readable line on stdout: scripts and tests read the bound port here.
        host = config.listen.rpartition(":")[0]
        print(f"hashcore relay listening on {host}:{relay.port}", flush=True)
        if relay.metrics_port and config.metrics_listen:
            metrics_host = config.metrics_listen.rpartition(":")[0]
            print(f"hashcore relay metrics on {metrics_host}:{relay.metrics_port}", flush=True)
        if relay.tiles_port:
            print(relay_tiles.listening_line(config.tiles_listen, relay.tiles_port), flush=True)
        relay_http.announce(relay, config)
        await relay.wait_closed()

    asyncio.run(main())
    return 0


def _token(args: argparse.Namespace) -> int:
    from ..relay.ledger import token_hash
    from ..relay.service import new_token
    from ..relay.store import open_store

    token = new_token()
    now = time.time_ns() // 1_000_000
    with open_store(args.db) as store:
        store.add_token(token_hash(token), args.participant, now, now + args.ttl * 1000)
    print(token)
    return 0


def _export(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..relay.export import export_bundle

    with Progress(
        TextColumn("exporting"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} records"),
        TimeRemainingColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
        console=None,
    ) as progress:
        task = progress.add_task("export", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = export_bundle(
            args.db,
            args.out,
            part_rows=args.part_rows,
            progress=update,
            as_of=args.as_of,
            final_only=args.final_only,
        )
    print(
        f"exported {args.out}: origin={result.origin}, records={result.records}, "
        f"tree_size={result.tree_size}, checkpoints={result.checkpoints}, "
        f"parts={result.parts}, left_out={result.left_out}"
    )
    for line in _warnings(result, args):
        print(f"hashcore: WARNING: {line}", file=sys.stderr)
    return 0


def _warnings(result: Any, args: argparse.Namespace) -> list[str]:
    """What the export did not cover, said loudly (never silently)."""
    out = []
    if result.left_out:
        why = (
            f"--as-of {args.as_of}"
            if args.as_of
            else "--final-only"
            if args.final_only
            else "no checkpoint covers them yet"
        )
        out.append(
            f"{result.left_out} acknowledged record(s) after tree_size {result.tree_size} "
            f"are NOT in this bundle ({why}); their receipts audit as RECEIPT_PENDING until "
            "a later export covers them"
        )
    if result.newest_checkpoint > result.tree_size:
        out.append(
            f"the store has checkpoints up to tree_size {result.newest_checkpoint}; this "
            f"bundle stops at {result.tree_size}: audit it with --as-of {result.tree_size}"
        )
    if result.not_final:
        shown = ", ".join(map(str, result.not_final[-5:]))
        more = f" (and {len(result.not_final) - 5} more)" if len(result.not_final) > 5 else ""
        out.append(
            f"{len(result.not_final)} exported checkpoint(s) have no final anchor: tree_size "
            f"{shown}{more}"
        )
    return out


def _witnesses(args: list[str]) -> tuple[Any, ...]:
    if not args:
        return ()
    from ..witness.pusher import parse_witness_arg

    return tuple(parse_witness_arg(a) for a in args)


def run(args: argparse.Namespace) -> int:
    """Run a ``relay`` subcommand; HashcoreError becomes exit 2 with one line."""
    try:
        if args.relay_command == "serve":
            return _serve(args)
        if args.relay_command == "token":
            return _token(args)
        if args.relay_command == "policy":
            return relay_policy.run(args)
        if args.relay_command == "publish-tiles":
            return relay_tiles.run(args)
        return _export(args)
    except HashcoreError as exc:
        print(f"hashcore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
