"""The skeleton the attacks are written in: the clean bundle and its evidence as Python
rows, what an attack produced, the facts it states about what it did (private ``_`` keys
on the rows, read by :mod:`.expect`), and the helpers that play the relay, a witness or a
device when an attack needs one of them to sign something."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ... import _core
from ...policy import Policy
from ...record import Kind
from ..sample_keys import SampleKeys

# Record verdicts (SPEC v2 5.1).
MALFORMED: Final = "MALFORMED"
DUPLICATE_LOG_INDEX: Final = "DUPLICATE_LOG_INDEX"
BAD_LINK: Final = "BAD_LINK"
BAD_COMMIT: Final = "BAD_COMMIT"
NO_GENESIS: Final = "NO_GENESIS"
FORK: Final = "FORK"
GAP: Final = "GAP"
BROKEN_CHAIN: Final = "BROKEN_CHAIN"
BAD_SIGNATURE: Final = "BAD_SIGNATURE"
BAD_BEACON: Final = "BAD_BEACON"
NOT_LOGGED: Final = "NOT_LOGGED"
OK: Final = "OK"
OK_REDACTED: Final = "OK_REDACTED"
# Checkpoint verdicts (5.2).
BAD_CHECKPOINT_SIG: Final = "BAD_CHECKPOINT_SIG"
ROOT_MISMATCH: Final = "ROOT_MISMATCH"
INCONSISTENT: Final = "INCONSISTENT"
UNWITNESSED: Final = "UNWITNESSED"
NOT_ANCHORED: Final = "NOT_ANCHORED"
UNCONFIRMED: Final = "UNCONFIRMED"
# Receipts, evidence notes, anchors (5.2) and time findings (5.3).
RECEIPT_BAD_SIG: Final = "RECEIPT_BAD_SIG"
RECEIPT_CONFLICT: Final = "RECEIPT_CONFLICT"
RECEIPT_CONTRADICTED: Final = "RECEIPT_CONTRADICTED"
RECEIPT_WITHHELD: Final = "RECEIPT_WITHHELD"
RECEIPT_PENDING: Final = "RECEIPT_PENDING"
RECEIPT_OK: Final = "RECEIPT_OK"
NOTE_REJECTED: Final = "NOTE_REJECTED"
EQUIVOCATION: Final = "EQUIVOCATION"
INCOMPLETE: Final = "INCOMPLETE"
ANCHOR_CONTRADICTED: Final = "ANCHOR_CONTRADICTED"
ANCHOR_UNCONFIRMED: Final = "ANCHOR_UNCONFIRMED"
ANCHOR_BEYOND_BUNDLE: Final = "ANCHOR_BEYOND_BUNDLE"
ANCHOR_OK: Final = "ANCHOR_OK"
TIME_BEFORE_BEACON: Final = "TIME_BEFORE_BEACON"
TIME_AFTER_RECEIPT: Final = "TIME_AFTER_RECEIPT"
TIME_AFTER_WITNESS: Final = "TIME_AFTER_WITNESS"
BEACON_REGRESSED: Final = "BEACON_REGRESSED"

# Private keys carried on the dicts while an attack is built (stripped before writing).
#: A record's verdict from the rules above BAD_BEACON (absent: OK / OK_REDACTED).
EXPECT = "_expect"
#: Which log a root (a checkpoint's or note's body, a beacon's) is the root of.
ROOT_OF = "_root_of"
#: A checkpoint's or note's body as the relay's line signs it: (tree_size, root), or None
#: when no line by the trusted log key verifies (or the note doesn't parse).
SIGNED = "_signed"
#: Whether a checkpoint row's tree_size and root are its note's.
ROW_MATCHES = "_row_matches"
#: witness name -> the times of its valid cosignatures on the note.
WITNESS_TIMES = "_witness_times"
#: Whether a receipt's signature verifies under the trusted log key.
SIG_OK = "_sig_ok"

ORIGINAL: Final = "original"  # the clean input's log, as the relay first signed it
TAMPERED: Final = "tampered"  # the tampered copy's log, as written (a relay re-signing it)
BOGUS: Final = "bogus"  # no log the bundle holds: an invented root, another history

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
MINUTE_MS: Final = 60_000
ZERO32: Final = bytes(32)

Row = dict[str, Any]
Build = Callable[["Ctx"], "Tampered"]


class Skip(Exception):
    """An attack that cannot be made on this bundle (or without a key it needs)."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """An anchor (SPEC 2.5) an attack puts on chain: who sent it, and whether it is final."""

    tree_size: int
    root: bytes
    root_of: str
    by_anchorer: bool
    final: bool


@dataclass
class Base:
    """The clean input: its rows by log position, its checkpoints and the evidence."""

    #: Row i holds log position i (a clean bundle holds positions 0..N-1 once each).
    rows: list[Row]
    checkpoints: list[Row]
    receipts: list[Row]
    notes: list[Row]
    policy: Policy
    exported_ms: int
    #: chain_id -> the log positions of its records, in seq order (seq == list index).
    chains: dict[bytes, list[int]] = field(default_factory=dict)
    _roots: dict[int, bytes] = field(default_factory=dict, repr=False)

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

    def root_at(self, size: int) -> bytes:
        """The clean log's root of ``size`` entries."""
        if size not in self._roots:
            self._roots[size] = _core.sha256_tree_root([leaf(r) for r in self.rows[:size]])
        return self._roots[size]


@dataclass
class Tampered:
    """What an attack produced: the copy's rows and checkpoints, the evidence handed in
    with it, the anchors on chain (attacks that need an EVM) and what it targeted."""

    rows: list[Row]
    checkpoints: list[Row]
    receipts: list[Row]
    notes: list[Row]
    target: dict[str, Any]
    anchors: list[Anchor] | None = None


@dataclass
class Ctx:
    base: Base
    rng: random.Random
    keys: SampleKeys | None

    def rows(self) -> list[Row]:
        return [dict(r) for r in self.base.rows]

    def checkpoints(self) -> list[Row]:
        return [dict(c) for c in self.base.checkpoints]

    def receipts(self) -> list[Row]:
        return [dict(r) for r in self.base.receipts]

    def notes(self) -> list[Row]:
        return [dict(n) for n in self.base.notes]

    def tampered(
        self,
        rows: list[Row],
        checkpoints: list[Row],
        target: dict[str, Any],
        *,
        receipts: list[Row] | None = None,
        notes: list[Row] | None = None,
        anchors: list[Anchor] | None = None,
    ) -> Tampered:
        """The copy, with the devices' evidence unchanged unless given."""
        return Tampered(
            rows,
            checkpoints,
            self.receipts() if receipts is None else receipts,
            self.notes() if notes is None else notes,
            target,
            anchors,
        )

    def latest_received_ms(self) -> int:
        latest: int = max(r["received_ms"] for r in self.base.rows)
        return latest

    def need_keys(self, what: str) -> SampleKeys:
        if self.keys is None:
            raise Skip(f"needs {what} (the sample's keys file: --keys)")
        return self.keys

    def need_log_seed(self) -> bytes:
        return self.need_keys("the relay's log key").log_seed

    def device_seed(self, chain_id: bytes) -> bytes:
        keys = self.need_keys("a device's key")
        seed = keys.device_seeds.get(chain_id)
        if seed is None:
            raise Skip(f"needs the key of chain {chain_id.hex()}")
        return seed

    def fresh_seed(self) -> bytes:
        """An attacker's Ed25519 seed (not any key of the bundle)."""
        return self.rng.randbytes(32)

    def appended_row(
        self, *, k: int = 0, beacon: tuple[int, bytes] | None = None, **fields: Any
    ) -> Row:
        """:func:`new_row` logged after everything in the log (the ``k``-th appended row),
        received a minute after the one before and made a minute before it arrived, naming
        the newest checkpoint as its beacon (unless given), with a fresh salt."""
        received = self.latest_received_ms() + (k + 1) * MINUTE_MS
        if beacon is None:
            size = max(self.base.checkpoint_sizes())
            beacon = (size, self.base.root_at(size))
        fields.setdefault("time_ms", received - MINUTE_MS)
        return new_row(
            **fields,
            beacon_size=beacon[0],
            beacon_root=beacon[1],
            salt=self.rng.randbytes(16),
            log_index=self.base.size + k,
            received_ms=received,
        )


def leaf(row: Row) -> bytes:
    """The leaf hash of a row's log entry (SPEC v2 2.1)."""
    return _core.sha256_leaf_hash(entry_of(row))


def entry_of(row: Row) -> bytes:
    return _core.log_entry(row["link"], row["received_ms"])


def link_of(row: Row) -> bytes:
    return _core.v2_link(
        row["chain_id"],
        row["seq"],
        row["time_ms"],
        row["kind"],
        row["prev"],
        row["commit"],
        row["beacon_size"],
        row["beacon_root"],
    )


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
    beacon_size: int,
    beacon_root: bytes,
) -> Row:
    """A well-formed v2 record (right commit and link) signed with ``signer_seed``."""
    row: Row = {
        "log_index": log_index,
        "chain_id": chain_id,
        "seq": seq,
        "time_ms": time_ms,
        "kind": kind,
        "prev": prev,
        "commit": _core.commitment(salt, payload),
        "beacon_size": beacon_size,
        "beacon_root": beacon_root if beacon_size else ZERO32,
        "salt": salt,
        "payload": payload,
        "received_ms": received_ms,
    }
    row["link"] = link_of(row)
    row["signature"] = _core.sign(signer_seed, row["link"])
    return row


def receipt_for(log_seed: bytes, row: Row, log_index: int | None = None) -> Row:
    """The receipt a relay signs for ``row`` at ``log_index`` (default: its own)."""
    li = row["log_index"] if log_index is None else log_index
    return {
        "chain_id": row["chain_id"],
        "seq": row["seq"],
        "link": row["link"],
        "log_index": li,
        "received_ms": row["received_ms"],
        "receipt_sig": _core.receipt_sign(log_seed, li, entry_of(row)),
        SIG_OK: True,
    }


def signed_note(
    keys: SampleKeys,
    size: int,
    root: bytes,
    root_of: str,
    witness_times: dict[str, int] | None = None,
) -> Row:
    """A note the relay signs over ``(size, root)``, cosigned by the witnesses named in
    ``witness_times`` at those times (seconds), as a notes.parquet row."""
    note = _core.note_sign(keys.log_seed, keys.origin, size, root)
    times = witness_times or {}
    for name, seed in keys.witnesses:
        if name in times:
            note = _core.note_cosign(note, seed, name, times[name])
    return {
        "note": note,
        SIGNED: (size, root),
        ROOT_OF: root_of,
        WITNESS_TIMES: {n: [t] for n, t in times.items()},
    }


def signed_checkpoint(
    keys: SampleKeys,
    size: int,
    root: bytes,
    root_of: str,
    witness_times: dict[str, int] | None = None,
) -> Row:
    """A checkpoints.parquet row the relay signs (see :func:`signed_note`)."""
    cp = signed_note(keys, size, root, root_of, witness_times)
    cp.update(tree_size=size, root=root, tx_hash=None, block_number=None, **{ROW_MATCHES: True})
    return cp


def all_witnesses_at(keys: SampleKeys, t_s: int) -> dict[str, int]:
    """Every witness cosigning at ``t_s`` (+1 s per witness, as the sample's do)."""
    return {name: t_s + 1 + w for w, (name, _) in enumerate(keys.witnesses)}


def tampered_root(rows: list[Row], size: int) -> bytes:
    """The root a relay signs over the copy's first ``size`` positions as written."""
    by_index = sorted(rows, key=lambda r: r["log_index"])
    return _core.sha256_tree_root([leaf(r) for r in by_index[:size]])


def _kind(base: Base, chain: list[int], seq: int) -> int | None:
    return int(base.rows[chain[seq]]["kind"]) if seq < len(chain) else None


def pick_data_run(ctx: Ctx, run: int) -> int:
    """Log position of a data record with payload whose next ``run - 1`` records in its
    chain exist and are data records too; never a genesis nor the chain's last.

    Records at or after the smallest checkpoint are preferred: a log break there leaves
    some checkpoints attesting and some not, so the NOT_LOGGED cascade starts mid-log.
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


def pick_chain_head(ctx: Ctx) -> int:
    """Log position of a chain's last record, a data record, preferably mid-log."""
    heads = [lis[-1] for lis in ctx.base.chains.values() if len(lis) >= 2]
    heads = sorted(li for li in heads if ctx.base.rows[li]["kind"] == Kind.DATA)
    if not heads:
        raise Skip("no chain ends in a data record")
    first_size = ctx.base.checkpoint_sizes()[0]
    return ctx.rng.choice([li for li in heads if li >= first_size] or heads)


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


def forged_entry(ctx: Ctx, label: str) -> bytes:
    return json.dumps({"forged": label, "sleep_onset_latency_min": ctx.rng.randint(5, 30)}).encode()


def rewrite_payload(row: Row) -> None:
    """Edit the payload and recompute commit and link; the signature stays (no device key)."""
    row["payload"] = edited_payload(row["payload"])
    row["commit"] = _core.commitment(row["salt"], row["payload"])
    row["link"] = link_of(row)


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


def forge_in_place(ctx: Ctx) -> tuple[list[Row], int, int]:
    """A record rewritten as a relay would (commit and link recomputed, old signature)."""
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    succ = ctx.base.successor(li)
    rewrite_payload(rows[li])
    rows[li][EXPECT] = BAD_SIGNATURE  # signed over the old link
    rows[succ][EXPECT] = BROKEN_CHAIN  # its prev is the old link
    return rows, li, succ


@dataclass(frozen=True, slots=True)
class Attack:
    name: str
    description: str
    build: Callable[[Ctx], Tampered]
    #: Why it needs an EVM chain to write its anchors on (None: it runs on a bundle alone).
    needs_evm: str | None = None


#: Every attack, in the order they run (the order of definition).
REGISTRY: Final[dict[str, Attack]] = {}


def attack(name: str, description: str, needs_evm: str | None = None) -> Callable[[Build], Build]:
    """Register the decorated function as attack ``name``."""

    def register(build: Build) -> Build:
        REGISTRY[name] = Attack(name, description, build, needs_evm)
        return build

    return register
