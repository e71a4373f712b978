"""The skeleton every attack shares: the clean input as rows, the context an attack builds
from (with its own random stream), the tampered result, the row helpers, and the registry of
attacks (``@attack``)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ... import _core
from ...record import Kind

# Verdict codes (SPEC section 4) used by the expectations.
MALFORMED: Final = "MALFORMED"


DUPLICATE_LOG_INDEX: Final = "DUPLICATE_LOG_INDEX"


BAD_LINK: Final = "BAD_LINK"


BAD_COMMIT: Final = "BAD_COMMIT"


NO_GENESIS: Final = "NO_GENESIS"


FORK: Final = "FORK"


GAP: Final = "GAP"


BROKEN_CHAIN: Final = "BROKEN_CHAIN"


BAD_SIGNATURE: Final = "BAD_SIGNATURE"


NOT_LOGGED: Final = "NOT_LOGGED"


OK: Final = "OK"


OK_REDACTED: Final = "OK_REDACTED"


BAD_CHECKPOINT_SIG: Final = "BAD_CHECKPOINT_SIG"


ROOT_MISMATCH: Final = "ROOT_MISMATCH"


INCONSISTENT: Final = "INCONSISTENT"


# Private keys carried on the row / checkpoint dicts while an attack is built; they are
# stripped before writing. A row's EXPECT is its verdict from the rules above NOT_LOGGED
# (absent: OK, or OK_REDACTED when erased); NOT_LOGGED is added by derive_expectation.
EXPECT = "_expect"


# A checkpoint's SIG_OK says whether its signature still verifies under the log_id;
# ROOT_OF says which log its root is the root of (see derive_expectation).
SIG_OK = "_sig_ok"


ROOT_OF = "_root_of"


ORIGINAL = "original"  # the clean input's log, as the relay first signed it


TAMPERED = "tampered"  # the tampered copy's log, as written (a relay re-signing it)


BOGUS = "bogus"  # no log at all: an invented root


DAY_MS = 86_400_000


HOUR_MS = 3_600_000


Row = dict[str, Any]


Build = Callable[["Ctx"], "Tampered"]


class Skip(Exception):
    """An attack that cannot be made on this bundle (or without the relay's key)."""


@dataclass
class Base:
    """The clean input bundle as Python rows, indexed by log position."""

    #: Row i holds log position i (a clean bundle holds positions 0..N-1 once each).
    rows: list[Row]
    checkpoints: list[Row]
    log_id: bytes
    evm: dict[str, Any] | None
    #: chain_id -> the log positions of its records, in seq order (seq == list index).
    chains: dict[bytes, list[int]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.rows)

    def chain_of(self, li: int) -> list[int]:
        return self.chains[self.rows[li]["chain_id"]]

    def successor(self, li: int) -> int:
        """Log position of the record seq+1 of the same chain."""
        row = self.rows[li]
        seq: int = row["seq"]
        return self.chains[row["chain_id"]][seq + 1]

    def checkpoint_sizes(self) -> list[int]:
        return sorted({cp["tree_size"] for cp in self.checkpoints})


@dataclass
class Tampered:
    """What an attack produced: every row and checkpoint of the copy, and its target."""

    rows: list[Row]
    checkpoints: list[Row]
    target: dict[str, Any]


@dataclass
class Ctx:
    base: Base
    rng: random.Random
    log_seed: bytes | None

    def rows(self) -> list[Row]:
        return [dict(r) for r in self.base.rows]

    def checkpoints(self) -> list[Row]:
        return [dict(c) for c in self.base.checkpoints]

    def next_received_ms(self, k: int = 1) -> int:
        """A relay receive time after everything in the log (appended rows)."""
        latest: int = max(r["received_ms"] for r in self.base.rows)
        return latest + k * 60_000

    def appended_row(self, *, k: int = 0, **fields: Any) -> Row:
        """:func:`new_row` logged after everything in the log (the ``k``-th appended row),
        with a fresh salt (drawn after the caller's arguments, from the attack's stream)."""
        return new_row(
            **fields,
            salt=self.rng.randbytes(16),
            log_index=self.base.size + k,
            received_ms=self.next_received_ms(k + 1),
        )

    def fresh_seed(self) -> bytes:
        """An attacker's Ed25519 seed (not any key of the bundle)."""
        return self.rng.randbytes(32)

    def need_log_seed(self) -> bytes:
        if self.log_seed is None:
            raise Skip("needs the relay's log key (log_seed; --log-seed or --log-key)")
        return self.log_seed


def _kind(base: Base, chain: list[int], seq: int) -> int | None:
    return int(base.rows[chain[seq]]["kind"]) if seq < len(chain) else None


def pick_data_run(ctx: Ctx, run: int) -> int:
    """Log position of a data record with payload whose next ``run - 1`` records in its
    chain exist and are data records too; it is never a genesis nor the chain's last.

    Data successors only, so the consequences never involve a key change. Records at or
    after the smallest checkpoint are preferred: a log break there leaves some
    checkpoints attesting and some not, so the NOT_LOGGED cascade starts mid-log.
    """
    base = ctx.base
    candidates = []
    for li, row in enumerate(base.rows):
        chain = base.chain_of(li)
        seq = row["seq"]
        if seq == 0 or row["payload"] is None:
            continue
        if all(_kind(base, chain, seq + k) == Kind.DATA for k in range(run)):
            candidates.append(li)
    if not candidates:
        raise Skip(f"no run of {run} data records in one chain (not at its end)")
    first_size = base.checkpoint_sizes()[0]
    preferred = [li for li in candidates if li >= first_size]
    return ctx.rng.choice(preferred or candidates)


def pick_chain(ctx: Ctx, min_len: int = 2, exclude: Iterable[bytes] = ()) -> bytes:
    skip = set(exclude)
    chains = sorted(
        c for c, lis in ctx.base.chains.items() if len(lis) >= min_len and c not in skip
    )
    if not chains:
        other = "other " if skip else ""
        raise Skip(f"no {other}chain with at least {min_len} record(s)")
    return ctx.rng.choice(chains)


def edited_payload(payload: bytes) -> bytes:
    """A small, plausible lie: one digit changed (e.g. minutes awake), else one bit."""
    digits = [i for i, b in enumerate(payload) if 0x30 <= b <= 0x39]
    if digits:
        i = digits[-1]
        new = ord("1") if payload[i] != ord("1") else ord("2")
        return payload[:i] + bytes([new]) + payload[i + 1 :]
    if payload:
        return payload[:-1] + bytes([payload[-1] ^ 0x01])
    return b"\x00"


def _link(row: Row) -> bytes:
    header = _core.record_header(
        row["chain_id"], row["seq"], row["time_ms"], row["kind"], row["prev"], row["commit"]
    )
    return _core.link_of_header(header)


def new_row(
    *,
    chain_id: bytes,
    seq: int,
    kind: int,
    prev: bytes,
    payload: bytes,
    time_ms: int,
    signer_seed: bytes,
    salt: bytes,
    log_index: int,
    received_ms: int,
) -> Row:
    """A well-formed record (right commit and link) signed with ``signer_seed``."""
    row: Row = {
        "log_index": log_index,
        "chain_id": chain_id,
        "seq": seq,
        "time_ms": time_ms,
        "kind": kind,
        "prev": prev,
        "commit": _core.commitment(salt, payload),
        "salt": salt,
        "payload": payload,
        "received_ms": received_ms,
    }
    row["link"] = _link(row)
    row["signature"] = _core.sign(signer_seed, row["link"])
    return row


def forged_entry(ctx: Ctx, label: str) -> bytes:
    return json.dumps({"forged": label, "sleep_onset_latency_min": ctx.rng.randint(5, 30)}).encode()


def rewrite_payload(row: Row) -> None:
    """Edit the payload and recompute commit and link; the signature stays (no device key)."""
    row["payload"] = edited_payload(row["payload"])
    row["commit"] = _core.commitment(row["salt"], row["payload"])
    row["link"] = _link(row)


def where_of(row: Row) -> dict[str, Any]:
    return {"log_index": row["log_index"], "chain_id": row["chain_id"].hex(), "seq": row["seq"]}


def largest_checkpoint(cps: list[Row]) -> int:
    """Index of the checkpoint with the largest tree_size (the first such row)."""
    return max(range(len(cps)), key=lambda j: (cps[j]["tree_size"], -j))


def non_last_checkpoint(ctx: Ctx, cps: list[Row]) -> int:
    """A checkpoint other than the largest one, or the largest when it is alone."""
    last = largest_checkpoint(cps)
    others = [j for j in range(len(cps)) if cps[j]["tree_size"] < cps[last]["tree_size"]]
    return ctx.rng.choice(others) if others else last


def signed_checkpoints(log_seed: bytes, rows: list[Row], sizes: Iterable[int]) -> list[Row]:
    """Checkpoints a relay signs over ``rows`` (in log order) at each of ``sizes``."""
    links = [r["link"] for r in sorted(rows, key=lambda r: r["log_index"])]
    out = []
    for size in sizes:
        root = _core.merkle_root(links[:size])
        out.append(
            {
                "tree_size": size,
                "root": root,
                "signature": _core.sign_checkpoint(log_seed, size, root),
                "tx_hash": None,
                "block_number": None,
                SIG_OK: True,
                ROOT_OF: TAMPERED,
            }
        )
    return out


def pick_chain_head(ctx: Ctx) -> int:
    """Log position of a chain's last record, a data record, preferably mid-log."""
    heads = [lis[-1] for lis in ctx.base.chains.values() if len(lis) >= 2]
    heads = sorted(li for li in heads if ctx.base.rows[li]["kind"] == Kind.DATA)
    if not heads:
        raise Skip("no chain ends in a data record")
    first_size = ctx.base.checkpoint_sizes()[0]
    return ctx.rng.choice([li for li in heads if li >= first_size] or heads)


@dataclass(frozen=True, slots=True)
class Attack:
    name: str
    description: str
    build: Callable[[Ctx], Tampered]


#: Every attack, in the order they run (the order of definition below).
REGISTRY: Final[dict[str, Attack]] = {}


def attack(name: str, description: str) -> Callable[[Build], Build]:
    """Register the decorated function as attack ``name``."""

    def register(build: Build) -> Build:
        REGISTRY[name] = Attack(name, description, build)
        return build

    return register


def forge_in_place(ctx: Ctx) -> tuple[list[Row], int, int]:
    """A record rewritten as a relay would (commit and link recomputed, old signature)."""
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    succ = ctx.base.successor(li)
    rewrite_payload(rows[li])
    rows[li][EXPECT] = BAD_SIGNATURE  # signed over the old link
    rows[succ][EXPECT] = BROKEN_CHAIN  # its prev is the old link
    return rows, li, succ
