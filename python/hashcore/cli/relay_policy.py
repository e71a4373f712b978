"""``hashcore relay policy``: write the relay's SPEC 3 policy.json for the trial's
registration (see :mod:`hashcore.relay.policy_file`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(rsub: Any, positive_int: Any, duration: Any) -> None:
    policy = rsub.add_parser(
        "policy",
        help="write the relay's SPEC 3 policy.json for the trial's registration",
        description="Write the SPEC 3 trust policy of the relay whose store is --db: its "
        "origin and log key, the witnesses given, and (when its checkpoints are anchored) "
        "the evm block: chain id and contract of its newest anchor, from_block its first "
        "anchor's block, the anchoring account from --evm-key FILE or --evm embedded.",
    )
    policy.add_argument("--db", required=True, metavar="FILE_OR_URL")
    policy.add_argument("--out", required=True, type=Path, metavar="POLICY_JSON")
    policy.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="NAME=HEXKEY",
        help="a witness (C2SP key name and 64-hex Ed25519 key); repeatable",
    )
    policy.add_argument("--witness-quorum", type=int, default=0, metavar="N")
    policy.add_argument(
        "--evm",
        choices=("embedded", "url"),
        default=None,
        help="how the relay anchored: embedded (the anchoring account is the embedded "
        "chain's) or url (give --evm-key)",
    )
    policy.add_argument("--evm-key", type=Path, metavar="FILE", help="the anchoring key file")
    policy.add_argument(
        "--no-evm", action="store_true", help="write evm: null even when anchors exist"
    )
    policy.add_argument("--confirmations", type=positive_int, default=3, metavar="N")
    policy.add_argument(
        "--max-merge-delay",
        type=duration,
        default=86400,
        metavar="DURATION",
        help="how late a receipt's record may be covered (default 1d)",
    )
    policy.add_argument(
        "--max-clock-skew",
        type=duration,
        default=300,
        metavar="DURATION",
        help="device clock skew allowed in time findings (default 5m)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the policy; HashcoreError propagates (the relay command words it)."""
    from ..errors import InvalidInputError
    from ..relay.policy_file import build_policy, write_policy

    witnesses = []
    for item in args.witness:
        name, sep, key = item.partition("=")
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raw = b""
        if not sep or len(raw) != 32:
            raise InvalidInputError(f"--witness must be NAME=<64 hex digits>, got {item!r}")
        witnesses.append((name, raw))
    data, _ = build_policy(
        args.db,
        witnesses=witnesses,
        witness_quorum=args.witness_quorum,
        evm=not args.no_evm,
        evm_key=args.evm_key,
        embedded=args.evm == "embedded",
        confirmations=args.confirmations,
        max_merge_delay_ms=args.max_merge_delay * 1000,
        max_clock_skew_ms=args.max_clock_skew * 1000,
    )
    write_policy(data, args.out)
    evm = data["evm"]
    print(
        f"wrote {args.out}: origin={data['origin']}, log_key={data['log_key']}, "
        f"witnesses={len(witnesses)} (quorum {args.witness_quorum}), "
        f"evm={'none' if evm is None else evm['contract'] + ' on chain ' + str(evm['chain_id'])}"
    )
    return 0
