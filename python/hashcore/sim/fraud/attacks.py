"""Fraud simulation: tampered copies of a clean bundle, each with the audit it must get.

``simulate_fraud`` reads a clean audit bundle (SPEC section 3) and writes one tampered
copy per attack to ``out_dir/<attack>/``, next to an ``expected.json`` that states exactly
which failures an auditor must report: record verdicts (with log index, chain and seq),
checkpoint verdicts, missing log positions and whether the audit is clean.

The expectations are *derived*, never observed: an attack states what it did to which
rows (``this row's payload changed with its commit kept: BAD_COMMIT``; ``its successor's
prev no longer matches: BROKEN_CHAIN``) and a small model of SPEC section 4's log rules
(:func:`_derive`) works out, from the leaf positions the attack touched and the checkpoint
sizes, which checkpoints still rebuild or are INCONSISTENT, how far the attested prefix
reaches (everything OK beyond it is NOT_LOGGED) and which positions below the largest
signed ``tree_size`` hold no row. The auditor under test is run only on the *input*, to
check that it is clean (every expectation assumes a clean starting point). They are for
a bundle-only audit (``audit_bundle``): anchors on chain are not checked, so no checkpoint
is expected NOT_ANCHORED or UNCONFIRMED.

Targets are chosen from ``seed`` (one independent stream per attack), so the same bundle
and seed give the same tampered copies and expectations.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from ... import _core
from ...audit import audit_bundle
from ...audit.verify import VerifyReport
from ...bundle import read_bundle, write_bundle
from ...errors import BundleError, InvalidInputError
from ...record import ZERO_LINK, Kind
from ...schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA

__all__ = ["ATTACKS", "AttackResult", "compare", "simulate_fraud"]

EXPECTED_FILE: Final = "expected.json"

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
# stripped before writing. A row's _EXPECT is its verdict from the rules above NOT_LOGGED
# (absent: OK, or OK_REDACTED when erased); NOT_LOGGED is added by _derive.
_EXPECT = "_expect"
# A checkpoint's _SIG_OK says whether its signature still verifies under the log_id;
# _ROOT_OF says which log its root is the root of (see _derive).
_SIG_OK = "_sig_ok"
_ROOT_OF = "_root_of"
_ORIGINAL = "original"  # the clean input's log, as the relay first signed it
_TAMPERED = "tampered"  # the tampered copy's log, as written (a relay re-signing it)
_BOGUS = "bogus"  # no log at all: an invented root

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_MAX_LISTED_DIFFERENCES = 20

Row = dict[str, Any]
_Build = Callable[["_Ctx"], "_Tampered"]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class AttackResult:
    """One attack of :func:`simulate_fraud`: where it was written and what it must give."""

    name: str
    description: str
    #: The tampered bundle directory (also holding expected.json); None when skipped.
    path: Path | None
    #: The content of expected.json; None when skipped.
    expected: dict[str, Any] | None
    #: Why the attack was not run (e.g. it needs the relay's log key); None when it was.
    skipped: str | None = None

    def summary(self) -> str:
        """One line for humans: the expected verdict counts, or why it was skipped."""
        if self.skipped is not None or self.expected is None:
            return f"{self.name}: skipped ({self.skipped})"
        return f"{self.name}: {expected_summary(self.expected)} -> {self.path}"


def expected_summary(expected: dict[str, Any]) -> str:
    """``BAD_SIGNATURE 1, NOT_LOGGED 7; checkpoints ROOT_MISMATCH 2`` (or ``clean``)."""
    if expected["clean"]:
        return "clean"
    records = Counter(f["verdict"] for f in expected["failures"])
    checkpoints = Counter(c["verdict"] for c in expected["checkpoints"])
    parts = [", ".join(f"{code} {n}" for code, n in sorted(records.items())) or "records OK"]
    if checkpoints:
        parts.append("checkpoints " + ", ".join(f"{c} {n}" for c, n in sorted(checkpoints.items())))
    if expected["missing_log_positions"]:
        spans = ", ".join(f"[{a}, {b})" for a, b in expected["missing_log_positions"])
        parts.append(f"missing {spans}")
    return "; ".join(parts)


class _Skip(Exception):
    """An attack that cannot be made on this bundle (or without the relay's key)."""


# --------------------------------------------------------------------------- the input


@dataclass
class _Base:
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


def _load_base(path: Path, log_seed: bytes | None) -> _Base:
    """Read ``path`` and check that it is a clean bundle; anything else is an error.

    With ``log_seed`` the input is audited against the log_id of that key, which must
    be the manifest's; without it, against the manifest's own log_id.
    """
    bundle = read_bundle(path)
    trusted = _check_log_seed(log_seed, bundle.log_id)
    report = audit_bundle(path, log_id=trusted)
    if not report.clean:
        raise InvalidInputError(
            f"{path}: the input bundle does not audit clean ({report!r}); fraud simulation "
            "starts from a clean bundle so that every failure is the attack's"
        )
    records = (
        bundle.records.select(RECORD_SCHEMA.names)
        .cast(RECORD_SCHEMA)
        .sort_by("log_index")
        .to_pylist()
    )
    checkpoints = bundle.checkpoints.select(CHECKPOINT_SCHEMA.names).to_pylist()
    if not records or not checkpoints:
        raise InvalidInputError(f"{path}: needs at least one record and one checkpoint")
    for cp in checkpoints:
        cp[_SIG_OK] = True
        cp[_ROOT_OF] = _ORIGINAL
    base = _Base(records, checkpoints, bundle.log_id, bundle.evm)
    for li, row in enumerate(records):
        # Clean implies it: a position below the largest checkpoint with no row, or
        # with two, is not clean, and a record at or past it would be NOT_LOGGED.
        # Likewise every chain holds seqs 0..len-1 once each (else GAP or FORK).
        assert row["log_index"] == li, "a clean bundle holds positions 0..N-1 once each"
        base.chains.setdefault(row["chain_id"], []).append(li)
    for lis in base.chains.values():
        lis.sort(key=lambda li: records[li]["seq"])
    return base


# --------------------------------------------------------------------------- helpers


@dataclass
class _Tampered:
    """What an attack produced: every row and checkpoint of the copy, and its target."""

    rows: list[Row]
    checkpoints: list[Row]
    target: dict[str, Any]


@dataclass
class _Ctx:
    base: _Base
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

    def fresh_seed(self) -> bytes:
        """An attacker's Ed25519 seed (not any key of the bundle)."""
        return self.rng.randbytes(32)

    def need_log_seed(self) -> bytes:
        if self.log_seed is None:
            raise _Skip("needs the relay's log key (log_seed; --log-seed or --log-key)")
        return self.log_seed


def _kind(base: _Base, chain: list[int], seq: int) -> int | None:
    return int(base.rows[chain[seq]]["kind"]) if seq < len(chain) else None


def _pick_data_run(ctx: _Ctx, run: int) -> int:
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
        raise _Skip(f"no run of {run} data records in one chain (not at its end)")
    first_size = base.checkpoint_sizes()[0]
    preferred = [li for li in candidates if li >= first_size]
    return ctx.rng.choice(preferred or candidates)


def _pick_chain(ctx: _Ctx, min_len: int = 2, exclude: Iterable[bytes] = ()) -> bytes:
    skip = set(exclude)
    chains = sorted(
        c for c, lis in ctx.base.chains.items() if len(lis) >= min_len and c not in skip
    )
    if not chains:
        other = "other " if skip else ""
        raise _Skip(f"no {other}chain with at least {min_len} record(s)")
    return ctx.rng.choice(chains)


def _edited_payload(payload: bytes) -> bytes:
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


def _new_row(
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


def _forged_entry(ctx: _Ctx, label: str) -> bytes:
    return json.dumps({"forged": label, "sleep_onset_latency_min": ctx.rng.randint(5, 30)}).encode()


def _rewrite_payload(row: Row) -> None:
    """Edit the payload and recompute commit and link; the signature stays (no device key)."""
    row["payload"] = _edited_payload(row["payload"])
    row["commit"] = _core.commitment(row["salt"], row["payload"])
    row["link"] = _link(row)


def _where(row: Row) -> dict[str, Any]:
    return {"log_index": row["log_index"], "chain_id": row["chain_id"].hex(), "seq": row["seq"]}


def _largest_checkpoint(cps: list[Row]) -> int:
    """Index of the checkpoint with the largest tree_size (the first such row)."""
    return max(range(len(cps)), key=lambda j: (cps[j]["tree_size"], -j))


def _non_last_checkpoint(ctx: _Ctx, cps: list[Row]) -> int:
    """A checkpoint other than the largest one, or the largest when it is alone."""
    last = _largest_checkpoint(cps)
    others = [j for j in range(len(cps)) if cps[j]["tree_size"] < cps[last]["tree_size"]]
    return ctx.rng.choice(others) if others else last


def _signed_checkpoints(log_seed: bytes, rows: list[Row], sizes: Iterable[int]) -> list[Row]:
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
                _SIG_OK: True,
                _ROOT_OF: _TAMPERED,
            }
        )
    return out


def _pick_chain_head(ctx: _Ctx) -> int:
    """Log position of a chain's last record, a data record, preferably mid-log."""
    heads = [lis[-1] for lis in ctx.base.chains.values() if len(lis) >= 2]
    heads = sorted(li for li in heads if ctx.base.rows[li]["kind"] == Kind.DATA)
    if not heads:
        raise _Skip("no chain ends in a data record")
    first_size = ctx.base.checkpoint_sizes()[0]
    return ctx.rng.choice([li for li in heads if li >= first_size] or heads)


# --------------------------------------------------------------------------- attacks


@dataclass(frozen=True, slots=True)
class _Attack:
    name: str
    description: str
    build: Callable[[_Ctx], _Tampered]


#: Every attack, in the order they run (the order of definition below).
_ATTACKS: Final[dict[str, _Attack]] = {}


def _attack(name: str, description: str) -> Callable[[_Build], _Build]:
    """Register the decorated function as attack ``name``."""

    def register(build: _Build) -> _Build:
        _ATTACKS[name] = _Attack(name, description, build)
        return build

    return register


@_attack(
    "payload-edited",
    "a diary entry's payload edited, commit kept: BAD_COMMIT on it, nothing else",
)
def _payload_edited(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    rows[li]["payload"] = _edited_payload(rows[li]["payload"])
    # Commit, link and signature are untouched: only the commitment check sees it.
    rows[li][_EXPECT] = BAD_COMMIT
    return _Tampered(rows, ctx.checkpoints(), {"edited": _where(rows[li])})


@_attack(
    "payload-and-commit-edited",
    "payload edited and commit recomputed, stored link kept: BAD_LINK on it; chain and log use the "
    "stored link, so nothing follows",
)
def _payload_and_commit_edited(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    row = rows[li]
    row["payload"] = _edited_payload(row["payload"])
    row["commit"] = _core.commitment(row["salt"], row["payload"])
    # The stored link no longer hashes the header: BAD_LINK. Chain and log rules use
    # the *stored* link, which is unchanged, so nothing follows from it.
    row[_EXPECT] = BAD_LINK
    return _Tampered(rows, ctx.checkpoints(), {"edited": _where(row)})


def _forge_in_place(ctx: _Ctx) -> tuple[list[Row], int, int]:
    """A record rewritten as a relay would (commit and link recomputed, old signature)."""
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    succ = ctx.base.successor(li)
    _rewrite_payload(rows[li])
    rows[li][_EXPECT] = BAD_SIGNATURE  # signed over the old link
    rows[succ][_EXPECT] = BROKEN_CHAIN  # its prev is the old link
    return rows, li, succ


@_attack(
    "relay-forged-record",
    "a record rewritten with commit and link recomputed but no device key: BAD_SIGNATURE on it, "
    "BROKEN_CHAIN on its successor, ROOT_MISMATCH on every checkpoint covering it, NOT_LOGGED from "
    "the largest checkpoint below it on",
)
def _relay_forged_record(ctx: _Ctx) -> _Tampered:
    rows, li, succ = _forge_in_place(ctx)
    # The changed leaf at li breaks every checkpoint covering it (derived in _derive).
    target = {"rewritten": _where(rows[li]), "successor": _where(rows[succ])}
    return _Tampered(rows, ctx.checkpoints(), target)


@_attack(
    "record-deleted",
    "a diary entry deleted: GAP on its successor, its position missing, ROOT_MISMATCH on every "
    "checkpoint covering it, NOT_LOGGED from the largest checkpoint below it on",
)
def _record_deleted(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    succ = ctx.base.successor(li)
    rows[succ][_EXPECT] = GAP
    target = {"deleted": _where(rows[li]), "successor": _where(rows[succ])}
    del rows[li]
    return _Tampered(rows, ctx.checkpoints(), target)


@_attack(
    "forged-record-inserted",
    "a record signed with a new key appended to a chain (correctly linked, logged at the end): "
    "BAD_SIGNATURE",
)
def _forged_record_inserted(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[_pick_chain(ctx)]
    last = rows[chain[-1]]
    forged = _new_row(
        chain_id=last["chain_id"],
        seq=last["seq"] + 1,
        kind=Kind.DATA,
        prev=last["link"],
        payload=_forged_entry(ctx, "inserted"),
        time_ms=last["time_ms"] + _DAY_MS,
        signer_seed=ctx.fresh_seed(),
        salt=ctx.rng.randbytes(16),
        log_index=ctx.base.size,
        received_ms=ctx.next_received_ms(),
    )
    # Correctly linked onto the chain's head, but not under the chain's key.
    forged[_EXPECT] = BAD_SIGNATURE
    rows.append(forged)
    return _Tampered(rows, ctx.checkpoints(), {"inserted": _where(forged)})


@_attack(
    "record-replayed",
    "an existing record duplicated at a new log position: FORK on both copies",
)
def _record_replayed(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    copy = dict(rows[li], log_index=ctx.base.size, received_ms=ctx.next_received_ms())
    # Identical rows are still distinct records: a replayed copy is a fork (SPEC 4).
    rows[li][_EXPECT] = FORK
    copy[_EXPECT] = FORK
    rows.append(copy)
    return _Tampered(rows, ctx.checkpoints(), {"original": _where(rows[li]), "copy": _where(copy)})


@_attack(
    "records-swapped",
    "two consecutive entries of a chain exchange log position and seq: BAD_LINK on both, "
    "BROKEN_CHAIN on the next, and the log breaks at the earlier position",
)
def _records_swapped(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    a = _pick_data_run(ctx, 3)
    b = ctx.base.successor(a)
    c = ctx.base.successor(b)
    first, second = rows[a], rows[b]
    # The two rows exchange (log_index, seq): the later entry now claims to come first,
    # in the chain and in the log. Each keeps its own prev, commit, link and signature.
    first["log_index"], second["log_index"] = b, a
    first["seq"], second["seq"] = second["seq"], first["seq"]
    first[_EXPECT] = BAD_LINK  # seq is in the header
    second[_EXPECT] = BAD_LINK
    # The next record's prev is the link of the entry that was at seq+1; the row now at
    # seq+1 is the other entry, whose stored link differs.
    rows[c][_EXPECT] = BROKEN_CHAIN
    target = {"swapped": [_where(first), _where(second)], "successor": _where(rows[c])}
    return _Tampered(rows, ctx.checkpoints(), target)


@_attack(
    "device-impersonation",
    "an impostor continues another device's chain: a rotation to its own key and two entries, all "
    "signed with its key: BAD_SIGNATURE on all three",
)
def _device_impersonation(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[_pick_chain(ctx)]
    head = rows[chain[-1]]
    impostor = ctx.fresh_seed()
    impostor_pk = _core.public_key_from_seed(impostor)
    # An impostor continues the victim's chain: first a key rotation to its own key
    # (signed by itself, since it lacks the victim's), then diary entries under it.
    kinds = (Kind.ROTATION, Kind.DATA, Kind.DATA)
    forged: list[Row] = []
    prev, time_ms = head["link"], head["time_ms"]
    for k, kind in enumerate(kinds):
        time_ms += _HOUR_MS if kind == Kind.ROTATION else _DAY_MS
        row = _new_row(
            chain_id=head["chain_id"],
            seq=head["seq"] + 1 + k,
            kind=kind,
            prev=prev,
            payload=impostor_pk if kind == Kind.ROTATION else _forged_entry(ctx, "impostor"),
            time_ms=time_ms,
            signer_seed=impostor,
            salt=ctx.rng.randbytes(16),
            log_index=ctx.base.size + k,
            received_ms=ctx.next_received_ms(k + 1),
        )
        # The rotation doesn't verify under the victim's key, so it sets no key, and
        # the victim's key stays in force for the data records after it.
        row[_EXPECT] = BAD_SIGNATURE
        forged.append(row)
        prev = row["link"]
    rows.extend(forged)
    return _Tampered(rows, ctx.checkpoints(), {"forged": [_where(r) for r in forged]})


@_attack(
    "chain-ids-swapped",
    "two chains exchange their chain_id on every record: MALFORMED geneses, BAD_LINK on every "
    "other record of both",
)
def _chain_ids_swapped(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    x = _pick_chain(ctx, 1)
    y = _pick_chain(ctx, 1, exclude=[x])
    swap = {x: y, y: x}
    for li in ctx.base.chains[x] + ctx.base.chains[y]:
        row = rows[li]
        row["chain_id"] = swap[row["chain_id"]]
        # A genesis' chain_id must derive from its key: MALFORMED. Every other record's
        # header changed under its stored link: BAD_LINK. The stored links (the log) and
        # so the checkpoints are untouched.
        row[_EXPECT] = MALFORMED if row["seq"] == 0 else BAD_LINK
    return _Tampered(rows, ctx.checkpoints(), {"chains": [x.hex(), y.hex()]})


@_attack(
    "checkpoint-root-altered",
    "an earlier checkpoint's root altered, signature kept: BAD_CHECKPOINT_SIG; the later "
    "checkpoints still attest every record",
)
def _checkpoint_root_altered(ctx: _Ctx) -> _Tampered:
    cps = ctx.checkpoints()
    j = _non_last_checkpoint(ctx, cps)
    root = bytearray(cps[j]["root"])
    root[ctx.rng.randrange(32)] ^= 1 << ctx.rng.randrange(8)
    cps[j].update(root=bytes(root), **{_SIG_OK: False, _ROOT_OF: _BOGUS})
    return _Tampered(ctx.rows(), cps, {"checkpoint_tree_size": cps[j]["tree_size"]})


@_attack(
    "checkpoint-signature-forged",
    "the largest checkpoint signed by a key that is not the relay's: BAD_CHECKPOINT_SIG, and the "
    "records only it covered are NOT_LOGGED",
)
def _checkpoint_signature_forged(ctx: _Ctx) -> _Tampered:
    cps = ctx.checkpoints()
    j = _largest_checkpoint(cps)
    cp = cps[j]
    # Signed by a key that is not the relay's (the digest binds the forger's log_id).
    cp["signature"] = _core.sign_checkpoint(ctx.fresh_seed(), cp["tree_size"], cp["root"])
    cp[_SIG_OK] = False
    return _Tampered(ctx.rows(), cps, {"checkpoint_tree_size": cp["tree_size"]})


@_attack(
    "history-rewritten-after-checkpoint",
    "the relay rewrites a checkpointed record and signs a new checkpoint over the rewritten log "
    "(old checkpoints kept): BAD_SIGNATURE, BROKEN_CHAIN, ROOT_MISMATCH on the old checkpoints "
    "covering it, INCONSISTENT on the new one (needs the log key)",
)
def _history_rewritten(ctx: _Ctx) -> _Tampered:
    log_seed = ctx.need_log_seed()
    rows, li, succ = _forge_in_place(ctx)
    size = ctx.base.size
    # The relay signs the rewritten log at its current size; the old checkpoints stay
    # (they were published / anchored), and they no longer rebuild.
    cps = ctx.checkpoints() + _signed_checkpoints(log_seed, rows, [size])
    target = {
        "rewritten": _where(rows[li]),
        "successor": _where(rows[succ]),
        "new_checkpoint_tree_size": size,
    }
    return _Tampered(rows, cps, target)


@_attack(
    "payload-erased",
    "right to erasure on a diary entry (payload and salt removed): OK_REDACTED, clean",
)
def _payload_erased(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    rows[li]["payload"] = rows[li]["salt"] = None  # right to erasure: OK_REDACTED
    return _Tampered(rows, ctx.checkpoints(), {"erased": _where(rows[li])})


@_attack(
    "genesis-payload-erased",
    "a genesis' payload and salt removed: MALFORMED, NO_GENESIS on the rest of its chain",
)
def _genesis_payload_erased(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[_pick_chain(ctx)]
    genesis = rows[chain[0]]
    genesis["payload"] = genesis["salt"] = None
    # A genesis with a null payload is MALFORMED and opens no chain: every other
    # record of the chain is NO_GENESIS. Links are unchanged, so the log is intact.
    genesis[_EXPECT] = MALFORMED
    for li in chain[1:]:
        rows[li][_EXPECT] = NO_GENESIS
    return _Tampered(rows, ctx.checkpoints(), {"erased": _where(genesis)})


@_attack(
    "record-deleted-log-compacted",
    "a diary entry deleted and later log positions shifted down to hide the hole: GAP on its "
    "successor, the last position missing, the log broken from the deletion on",
)
def _record_deleted_compacted(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    succ = ctx.base.successor(li)
    rows[succ][_EXPECT] = GAP
    target = {"deleted": _where(rows[li]), "successor": _where(rows[succ])}
    del rows[li]
    # Close the hole: every later record moves down one position, so the log has no
    # missing position below the end, but every leaf from li on has changed.
    for row in rows[li:]:
        row["log_index"] -= 1
    return _Tampered(rows, ctx.checkpoints(), target)


@_attack(
    "forged-record-forked",
    "a record signed with a new key at the seq of an existing entry: FORK on both",
)
def _forged_record_forked(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    original = rows[li]
    forged = _new_row(
        chain_id=original["chain_id"],
        seq=original["seq"],
        kind=Kind.DATA,
        prev=original["prev"],
        payload=_forged_entry(ctx, "forked"),
        time_ms=original["time_ms"] + 1,
        signer_seed=ctx.fresh_seed(),
        salt=ctx.rng.randbytes(16),
        log_index=ctx.base.size,
        received_ms=ctx.next_received_ms(),
    )
    # FORK comes before BAD_SIGNATURE, and the genuine record is forked too. Its
    # successor's prev matches one of the forked rows, which SPEC 4 accepts.
    forged[_EXPECT] = FORK
    original[_EXPECT] = FORK
    rows.append(forged)
    return _Tampered(
        rows, ctx.checkpoints(), {"forked": _where(original), "forged": _where(forged)}
    )


@_attack(
    "genesis-forged",
    "a genesis with an impostor's key claiming an existing chain_id: MALFORMED, and the genuine "
    "genesis is FORK (a MALFORMED row still takes part in FORK)",
)
def _genesis_forged(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[_pick_chain(ctx)]
    genesis = rows[chain[0]]
    impostor = ctx.fresh_seed()
    forged = _new_row(
        chain_id=genesis["chain_id"],
        seq=0,
        kind=Kind.GENESIS,
        prev=ZERO_LINK,
        payload=_core.public_key_from_seed(impostor),
        time_ms=genesis["time_ms"],
        signer_seed=impostor,
        salt=ctx.rng.randbytes(16),
        log_index=ctx.base.size,
        received_ms=ctx.next_received_ms(),
    )
    # The chain_id is not derived from the impostor's key: MALFORMED, so it opens no
    # chain. But it still takes part in FORK (SPEC 4: whatever its own verdict), so the
    # genuine genesis is FORK. Seq 1 matches the genuine genesis' link: OK.
    forged[_EXPECT] = MALFORMED
    genesis[_EXPECT] = FORK
    rows.append(forged)
    return _Tampered(
        rows, ctx.checkpoints(), {"forged": _where(forged), "genesis": _where(genesis)}
    )


@_attack(
    "log-index-duplicated",
    "a later record moved onto an earlier record's log position: DUPLICATE_LOG_INDEX on both, its "
    "own position missing, the log broken from the earlier position on",
)
def _log_index_duplicated(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    p = _pick_data_run(ctx, 2)
    if p + 1 >= ctx.base.size:
        raise _Skip("no later record to move")
    q = ctx.rng.randrange(p + 1, ctx.base.size)
    rows[q]["log_index"] = p
    # Two rows at p (DUPLICATE_LOG_INDEX, both), position q holds none: p can't be
    # rebuilt and q is missing.
    rows[p][_EXPECT] = DUPLICATE_LOG_INDEX
    rows[q][_EXPECT] = DUPLICATE_LOG_INDEX
    target = {"moved": _where(rows[q]), "from_log_index": q, "onto": _where(rows[p])}
    return _Tampered(rows, ctx.checkpoints(), target)


@_attack(
    "checkpoint-false-root-signed",
    "the relay signs an invented root for an earlier checkpoint: ROOT_MISMATCH on it, INCONSISTENT "
    "on every larger checkpoint; records stay attested (needs the log key)",
)
def _checkpoint_false_root_signed(ctx: _Ctx) -> _Tampered:
    log_seed = ctx.need_log_seed()
    cps = ctx.checkpoints()
    j = _non_last_checkpoint(ctx, cps)
    cp = cps[j]
    cp["root"] = ctx.rng.randbytes(32)
    cp["signature"] = _core.sign_checkpoint(log_seed, cp["tree_size"], cp["root"])
    cp[_ROOT_OF] = _BOGUS
    return _Tampered(ctx.rows(), cps, {"checkpoint_tree_size": cp["tree_size"]})


@_attack(
    "checkpoint-withheld",
    "the largest checkpoint left out of the bundle: the records only it covered are NOT_LOGGED",
)
def _checkpoint_withheld(ctx: _Ctx) -> _Tampered:
    cps = ctx.checkpoints()
    dropped = cps.pop(_largest_checkpoint(cps))
    return _Tampered(ctx.rows(), cps, {"dropped_checkpoint_tree_size": dropped["tree_size"]})


@_attack(
    "log-tail-truncated",
    "UNDETECTABLE from the bundle alone: the log cut back to an earlier checkpoint, the later "
    "records and checkpoints dropped; audits clean (only anchors or a remembered tree_size reveal "
    "it)",
)
def _log_tail_truncated(ctx: _Ctx) -> _Tampered:
    sizes = ctx.base.checkpoint_sizes()
    if len(sizes) < 2 or sizes[-2] == 0:
        raise _Skip("needs two checkpoints of different, non-zero sizes")
    keep = sizes[-2]
    # Everything after the second-largest checkpoint goes, with the checkpoints that
    # cover it: what is left is a consistent, fully attested shorter log.
    rows = ctx.rows()[:keep]
    cps = [c for c in ctx.checkpoints() if c["tree_size"] <= keep]
    target = {"kept_tree_size": keep, "deleted_log_positions": [keep, ctx.base.size]}
    return _Tampered(rows, cps, target)


@_attack(
    "received-time-edited",
    "UNDETECTABLE by design: a record's relay receive time moved a day earlier; received_ms is "
    "covered by no signature or log, so the audit is clean",
)
def _received_time_edited(ctx: _Ctx) -> _Tampered:
    rows = ctx.rows()
    li = _pick_data_run(ctx, 2)
    # received_ms is the relay's clock, outside the signed header and the log: an
    # auditor cannot see this change (expected clean; see the description).
    rows[li]["received_ms"] -= _DAY_MS
    return _Tampered(rows, ctx.checkpoints(), {"edited": _where(rows[li])})


@_attack(
    "chain-head-deleted-log-resigned",
    "UNDETECTABLE from the bundle alone: the relay deletes a chain's latest record, closes the "
    "hole in its log and re-signs every checkpoint over the new log; audits clean (only anchors "
    "or checkpoints published before reveal it) (needs the log key)",
)
def _chain_head_deleted_log_resigned(ctx: _Ctx) -> _Tampered:
    log_seed = ctx.need_log_seed()
    rows = ctx.rows()
    li = _pick_chain_head(ctx)
    target = {"deleted": _where(rows[li])}
    del rows[li]
    for row in rows[li:]:
        row["log_index"] -= 1
    # Nothing in the chain points at a chain's last record, so nothing in the records
    # shows the loss; with every checkpoint re-signed, nothing in the log does either.
    sizes = sorted({min(cp["tree_size"], len(rows)) for cp in ctx.base.checkpoints})
    return _Tampered(rows, _signed_checkpoints(log_seed, rows, sizes), target)


#: Attack name -> what it does and what the audit must say, in the order they run.
ATTACKS: Final[dict[str, str]] = {a.name: a.description for a in _ATTACKS.values()}


# --------------------------------------------------------------------------- derivation


@dataclass(frozen=True, slots=True)
class _LogState:
    """What the tampered rows did to the Merkle log, by position."""

    #: Positions held by at least one row.
    held: frozenset[int]
    #: Length of the longest prefix that can be rebuilt (every position held, by rows
    #: that agree on one link): SPEC 4's "can't be rebuilt" stops at the first other one.
    rebuildable: int
    #: First position whose leaf differs from the clean log's (a changed, missing,
    #: ambiguous or extra leaf); the clean log's roots of sizes up to it still hold.
    first_changed: int


def _log_state(base: _Base, rows: list[Row]) -> _LogState:
    links: dict[int, set[bytes]] = {}
    for row in rows:
        links.setdefault(row["log_index"], set()).add(row["link"])
    rebuildable = 0
    while len(links.get(rebuildable, ())) == 1:
        rebuildable += 1
    end = max(base.size, max(links, default=-1) + 1)
    first_changed = next(
        (p for p in range(end) if p >= base.size or links.get(p) != {base.rows[p]["link"]}),
        end,
    )
    return _LogState(frozenset(links), rebuildable, first_changed)


def _root_holds(cp: Row, log: _LogState) -> bool:
    """Whether ``cp``'s root is the root of the first tree_size stored links."""
    size: int = cp["tree_size"]
    if cp[_ROOT_OF] == _ORIGINAL:
        # The clean log's root of size s is still right iff leaves 0..s-1 are unchanged.
        return size <= min(log.first_changed, log.rebuildable)
    if cp[_ROOT_OF] == _TAMPERED:
        # Signed over exactly the links written to the copy.
        return size <= log.rebuildable
    return False


def _checkpoint_verdicts(cps: list[Row], log: _LogState) -> list[str]:
    """SPEC 4 checkpoint verdicts; the anchors are not checked (no NOT_ANCHORED)."""
    holds = [cp[_SIG_OK] and _root_holds(cp, log) for cp in cps]
    verdicts = []
    for j, cp in enumerate(cps):
        if not cp[_SIG_OK]:
            verdicts.append(BAD_CHECKPOINT_SIG)
        elif not holds[j]:
            verdicts.append(ROOT_MISMATCH)
        elif any(
            # A consistency proof built from the bundle's links proves the true root of
            # the smaller size; it fails exactly against a signed root that isn't it.
            k != j and other[_SIG_OK] and other["tree_size"] <= cp["tree_size"] and not holds[k]
            for k, other in enumerate(cps)
        ):
            verdicts.append(INCONSISTENT)
        else:
            verdicts.append(OK)
    return verdicts


def _missing_ranges(held: frozenset[int], top: int) -> list[list[int]]:
    """[start, end) runs of positions below ``top`` that no row holds."""
    ranges: list[list[int]] = []
    for p in range(top):
        if p in held:
            continue
        if ranges and ranges[-1][1] == p:
            ranges[-1][1] = p + 1
        else:
            ranges.append([p, p + 1])
    return ranges


def _derive(base: _Base, tampered: _Tampered) -> dict[str, Any]:
    """The audit the tampered copy must get (SPEC 4), from what the attack changed."""
    log = _log_state(base, tampered.rows)
    cps = tampered.checkpoints
    cp_verdicts = _checkpoint_verdicts(cps, log)
    # A checkpoint attests when its signature verifies and its root rebuilds:
    # INCONSISTENT ones attest too, ROOT_MISMATCH and BAD_CHECKPOINT_SIG ones don't.
    attested = max(
        (
            cp["tree_size"]
            for cp, v in zip(cps, cp_verdicts, strict=True)
            if v in (OK, INCONSISTENT)
        ),
        default=0,
    )
    largest_signed = max((cp["tree_size"] for cp in cps if cp[_SIG_OK]), default=0)

    failures = []
    for row in tampered.rows:
        verdict = row.get(_EXPECT) or (OK_REDACTED if row["payload"] is None else OK)
        if verdict in (OK, OK_REDACTED) and row["log_index"] >= attested:
            verdict = NOT_LOGGED  # after every rule but OK: only otherwise-valid records
        if verdict not in (OK, OK_REDACTED):
            failures.append({**_where(row), "verdict": verdict})
    failures.sort(key=lambda f: (f["log_index"], f["verdict"], f["chain_id"], f["seq"]))
    checkpoints = sorted(
        (
            {"tree_size": cp["tree_size"], "verdict": v}
            for cp, v in zip(cps, cp_verdicts, strict=True)
            if v != OK
        ),
        key=lambda c: (c["tree_size"], c["verdict"]),
    )
    missing = _missing_ranges(log.held, largest_signed)
    return {
        "clean": not failures and not checkpoints and not missing,
        "failures": failures,
        "checkpoints": checkpoints,
        "missing_log_positions": missing,
        "derivation": {
            "first_changed_leaf": log.first_changed,
            "rebuildable_prefix": log.rebuildable,
            "attested_size": attested,
            "largest_signed_tree_size": largest_signed,
        },
    }


# --------------------------------------------------------------------------- writing


def _strip(rows: Iterable[Row]) -> list[Row]:
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]


def _write_attack(base: _Base, tampered: _Tampered, out: Path, expected: dict[str, Any]) -> None:
    rows = sorted(_strip(tampered.rows), key=lambda r: r["log_index"])
    records = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)
    checkpoints = pa.Table.from_pylist(_strip(tampered.checkpoints), schema=CHECKPOINT_SCHEMA)
    write_bundle(out, records, checkpoints, log_id=base.log_id, evm=base.evm)
    text = json.dumps(expected, indent=2) + "\n"
    tmp = out / f".{EXPECTED_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / EXPECTED_FILE)


def _check_log_seed(log_seed: bytes | None, log_id: bytes | None) -> bytes | None:
    """The log_id of ``log_seed`` (the trusted one for the input audit), or None."""
    if log_seed is None:
        return None
    if not isinstance(log_seed, bytes | bytearray) or len(log_seed) != 32:
        raise InvalidInputError("log_seed must be the relay's 32-byte Ed25519 seed")
    derived = _core.public_key_from_seed(bytes(log_seed))
    if log_id is not None and derived != log_id:
        raise InvalidInputError(
            f"log_seed is the key of log_id {derived.hex()}, not of this bundle's {log_id.hex()}"
        )
    return derived


def _select(attacks: Sequence[str] | None) -> list[_Attack]:
    if attacks is None:
        return list(_ATTACKS.values())
    unknown = [a for a in attacks if a not in _ATTACKS]
    if unknown:
        raise InvalidInputError(
            f"unknown attack(s): {', '.join(unknown)}; known: {', '.join(ATTACKS)}"
        )
    return [_ATTACKS[a] for a in dict.fromkeys(attacks)]


def simulate_fraud(
    bundle: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    log_seed: bytes | None = None,
    seed: int = 0,
    attacks: Sequence[str] | None = None,
) -> list[AttackResult]:
    """Write one tampered copy of the clean ``bundle`` per attack, with its expectation.

    Each attack goes to ``out_dir/<name>/``: a full bundle plus ``expected.json`` with
    keys ``attack``, ``description``, ``target`` (what was changed, by log index),
    ``clean``, ``failures`` (``log_index``, ``chain_id`` hex, ``seq``, ``verdict``, sorted by
    log index then verdict), ``checkpoints`` (``tree_size``, ``verdict`` of every non-OK
    checkpoint), ``missing_log_positions`` ([start, end) runs) and ``derivation`` (the log
    facts the expectation was computed from). ``attacks`` picks some of :data:`ATTACKS`
    (default: all, in that order). Attacks that need the relay's key (``log_seed``, its
    32-byte Ed25519 seed) are skipped without it, as are attacks the bundle has no
    suitable target for; both are returned with ``skipped`` set.

    The bundle is held as Python rows while the copies are made: this is for test and
    demo bundles (tens of thousands of records take a few seconds), not for a trial's.

    Raises:
        InvalidInputError: the input is not clean, ``log_seed`` is not its relay's key,
            or an attack name is unknown.
        BundleError: the input is unreadable, or an ``out_dir/<name>`` exists and is
            not an empty directory.
    """
    src = Path(bundle)
    out = Path(out_dir)
    chosen = _select(attacks)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")
    base = _load_base(src, log_seed)
    for attack in chosen:
        target = out / attack.name
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            # Refuse before writing anything, rather than leave half a run behind.
            raise BundleError(f"{target}: exists and is not an empty directory; not overwriting")

    results = []
    for attack in chosen:
        # One stream per attack: its targets don't depend on which other attacks run.
        ctx = _Ctx(base, random.Random(f"hashcore fraud v1 {seed} {attack.name}"), log_seed)
        try:
            tampered = attack.build(ctx)
        except _Skip as why:
            results.append(AttackResult(attack.name, attack.description, None, None, str(why)))
            continue
        expected = {
            "attack": attack.name,
            "description": attack.description,
            "target": tampered.target,
            **_derive(base, tampered),
        }
        path = out / attack.name
        _write_attack(base, tampered, path, expected)
        results.append(AttackResult(attack.name, attack.description, path, expected))
    return results


# --------------------------------------------------------------------------- comparing


def _listed(kind: str, items: Counter[Any]) -> list[str]:
    lines = [f"{kind}: {item}" for item in sorted(items.elements())]
    if len(lines) > _MAX_LISTED_DIFFERENCES:
        more = len(lines) - _MAX_LISTED_DIFFERENCES
        lines = [*lines[:_MAX_LISTED_DIFFERENCES], f"{kind}: ... and {more} more"]
    return lines


def compare(expected: dict[str, Any], report: VerifyReport) -> list[str]:
    """Differences between ``expected`` (an expected.json) and an audit ``report``.

    Empty when the report names exactly the expected record failures (same log index,
    chain, seq and verdict; duplicates counted), the same non-OK checkpoints, the same
    missing log positions and the same clean flag. Each difference is one line.
    """
    want = Counter(
        (f["log_index"], f["chain_id"], f["seq"], f["verdict"]) for f in expected["failures"]
    )
    got = Counter(
        (f.log_index, f.chain_id.hex() if f.chain_id is not None else None, f.seq, f.code)
        for f in report.failures
    )
    diffs = _listed("expected failure not reported", want - got)
    diffs += _listed("unexpected failure reported", got - want)

    want_cp = Counter((c["tree_size"], c["verdict"]) for c in expected["checkpoints"])
    got_cp = Counter((c.tree_size, c.code) for c in report.checkpoints if c.code != OK)
    diffs += _listed("expected checkpoint verdict not reported", want_cp - got_cp)
    diffs += _listed("unexpected checkpoint verdict reported", got_cp - want_cp)

    want_missing = [list(m) for m in expected["missing_log_positions"]]
    got_missing = [list(m) for m in report.missing_log_positions]
    if want_missing != got_missing:
        diffs.append(f"missing log positions: expected {want_missing}, reported {got_missing}")
    if bool(expected["clean"]) != report.clean:
        diffs.append(f"clean: expected {expected['clean']}, reported {report.clean}")
    return diffs
