"""The relay's state machine: checks submissions, appends them to the store and the Merkle
log, signs checkpoints. Nothing here knows about gRPC or asyncio.

Threading: a :class:`Ledger` is used from ONE thread at a time (the server runs every call
on a single-thread executor). That one writer is what makes log positions consecutive and
the in-memory heads and Merkle tree agree with the store without locks.

Group commit: :meth:`Ledger.submit_group` takes several batches at once (whatever queued
up while the previous transaction was being made durable), checks each on its own — a
batch is all-or-nothing, and a refused batch does not affect the others — then stores all
accepted batches in one transaction and acknowledges them together. One fsync then covers
many batches, which is what lets a SQLite relay acknowledge tens of thousands of records
per second durably.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from .. import _core
from ..errors import ConflictError, StoreError, TokenRejectedError
from ..record import ZERO_LINK
from .rejection import Rejected, invalid, too_large
from .store.base import (
    ChainHead,
    Device,
    Erasure,
    ForkEvidence,
    Store,
    StoredCheckpoint,
    StoredRecord,
)

__all__ = ["Ack", "Ledger", "Limits", "Sealed", "SubmittedRecord", "token_hash"]

log = logging.getLogger("hashcore.relay")

_KIND_GENESIS, _KIND_DATA, _KIND_ROTATION = 0, 1, 2
_U64_MAX = 2**64 - 1
_DAY_MS = 86_400_000
_TOKEN_TEXT = {
    "unknown": "unknown token",
    "used": "the token was already used",
    "expired": "the token has expired",
}
_REJECT_TEXT = {
    1: ("bad_commit", "commit is not KDF(salt || payload)"),
    2: ("bad_key", "the payload is not a valid (large-order) Ed25519 public key"),
    3: ("bad_signature", "the signature does not verify under the chain's key"),
}


class SubmittedRecord(Protocol):
    """What a submitted record must look like (the protobuf ``Record`` fits)."""

    @property
    def version(self) -> int: ...
    @property
    def chain_id(self) -> bytes: ...
    @property
    def seq(self) -> int: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def kind(self) -> int: ...
    @property
    def prev(self) -> bytes: ...
    @property
    def commit(self) -> bytes: ...
    @property
    def salt(self) -> bytes: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def signature(self) -> bytes: ...
    @property
    def link(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may carry (refused with RESOURCE_EXHAUSTED beyond), and how far a
    new record's ``time_ms`` may be from the relay's clock (INVALID_ARGUMENT beyond: no
    device clock makes 2**63-1 or the year 9999; the audit's time findings judge the
    rest, such as time running backwards within a chain)."""

    max_records_per_batch: int = 4096
    max_payload_bytes: int = 64 * 1024
    #: A phone offline for longer than this can't send what it wrote then.
    max_clock_behind_ms: int = 365 * _DAY_MS
    max_clock_ahead_ms: int = _DAY_MS
    #: Per source address (RESOURCE_EXHAUSTED beyond, with a retry-after): Enroll, and
    #: the unauthenticated reads (receipts, checkpoints, proofs, chain heads). A burst
    #: of ``*_burst`` calls at once, then ``*_per_s`` a second; a rate of 0 is no limit.
    enroll_per_s: float = 10.0
    enroll_burst: int = 200
    reads_per_s: float = 100.0
    reads_burst: int = 1000
    #: Refused enrollment tokens from one address are logged once per burst: a burst
    #: ends after this long without one.
    token_burst_quiet_s: float = 60.0

    def time_window(self, now_ms: int) -> tuple[int, int]:
        """The time_ms a new record may carry at relay time ``now_ms`` (both ends in)."""
        return now_ms - self.max_clock_behind_ms, now_ms + self.max_clock_ahead_ms


class Ack(NamedTuple):
    chain_id: bytes
    seq: int
    log_index: int
    duplicate: bool


@dataclass(slots=True)
class _Head:
    """A chain's head as the ledger tracks it (committed, or staged in a group)."""

    seq: int
    link: bytes
    key: bytes


@dataclass(slots=True)
class _Group:
    """What the batches of one group have staged so far (applied after the commit)."""

    next_index: int
    heads: dict[bytes, _Head] = field(default_factory=dict)
    positions: dict[tuple[bytes, int], tuple[bytes, int]] = field(default_factory=dict)
    rows: list[StoredRecord] = field(default_factory=list)


def token_hash(token: str) -> bytes:
    """Tokens are stored hashed: a copy of the database does not let anyone enroll."""
    return hashlib.blake2b(token.encode(), digest_size=32, person=b"hashcore-token").digest()


def _where(i: int, rec: SubmittedRecord) -> str:
    return f"record {i} (chain {bytes(rec.chain_id).hex()} seq {rec.seq})"


def _span(ms: int) -> str:
    if ms % _DAY_MS == 0:
        days = ms // _DAY_MS
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{ms} ms"


def _check_time(i: int, rec: SubmittedRecord, limits: Limits, now_ms: int) -> None:
    """A new record's time_ms must be one a device clock near the relay's can produce."""
    low, high = limits.time_window(now_ms)
    if rec.time_ms > high:
        raise invalid(
            "bad_time",
            f"{_where(i, rec)}: time_ms {rec.time_ms} is more than "
            f"{_span(limits.max_clock_ahead_ms)} ahead of the relay's clock",
        )
    if rec.time_ms < low:
        raise invalid(
            "bad_time",
            f"{_where(i, rec)}: time_ms {rec.time_ms} is more than "
            f"{_span(limits.max_clock_behind_ms)} behind the relay's clock",
        )


def _check_shape(i: int, rec: SubmittedRecord, limits: Limits, genesis: bool) -> None:
    """Sizes, version and kind: what can be refused without looking at any state."""
    where = _where(i, rec) if len(rec.chain_id) == 16 else f"record {i}"
    if rec.version != 1:
        raise invalid("malformed", f"{where}: unknown version {rec.version} (expected 1)")
    for name, size in (("chain_id", 16), ("prev", 32), ("commit", 32), ("salt", 16)):
        got = len(getattr(rec, name))
        if got != size:
            raise invalid("malformed", f"{where}: {name} must be {size} bytes, got {got}")
    if len(rec.signature) != 64:
        raise invalid("malformed", f"{where}: signature must be 64 bytes, got {len(rec.signature)}")
    if len(rec.link) not in (0, 32):
        raise invalid("malformed", f"{where}: link must be empty or 32 bytes, got {len(rec.link)}")
    if len(rec.payload) > limits.max_payload_bytes:
        raise too_large(
            f"{where}: payload of {len(rec.payload)} bytes exceeds the limit of "
            f"{limits.max_payload_bytes}"
        )
    if rec.seq > _U64_MAX or rec.seq >= 2**63:
        raise invalid("malformed", f"{where}: seq {rec.seq} is out of range")
    if genesis:
        if rec.kind != _KIND_GENESIS or rec.seq != 0:
            raise invalid("malformed", f"{where}: enrollment needs the kind-0 record at seq 0")
        return
    if rec.kind == _KIND_GENESIS:
        raise invalid("malformed", f"{where}: a genesis (kind 0) is only accepted through Enroll")
    if rec.kind not in (_KIND_DATA, _KIND_ROTATION):
        raise invalid("malformed", f"{where}: unknown kind {rec.kind}")


class _Columns:
    """A batch's fields as columns (pulled out of the messages once)."""

    __slots__ = (
        "chain_ids",
        "claimed",
        "commits",
        "kinds",
        "payloads",
        "prevs",
        "salts",
        "seqs",
        "signatures",
        "times",
        "versions",
    )

    def __init__(self, batch: Sequence[SubmittedRecord]) -> None:
        self.versions = [r.version for r in batch]
        self.chain_ids = [r.chain_id for r in batch]
        self.seqs = [r.seq for r in batch]
        self.times = [r.time_ms for r in batch]
        self.kinds = [r.kind for r in batch]
        self.prevs = [r.prev for r in batch]
        self.commits = [r.commit for r in batch]
        self.salts = [r.salt for r in batch]
        self.payloads = [r.payload for r in batch]
        self.signatures = [r.signature for r in batch]
        self.claimed = [r.link for r in batch]

    def check(self, batch: Sequence[SubmittedRecord], limits: Limits) -> None:
        """Whole-column checks (C-speed ``set(map(len, ...))``); only when one fails does
        the slow per-record check run, to name the first bad record."""
        ok = (
            set(self.versions) == {1}
            and set(map(len, self.chain_ids)) == {16}
            and set(map(len, self.prevs)) == {32}
            and set(map(len, self.commits)) == {32}
            and set(map(len, self.salts)) == {16}
            and set(map(len, self.signatures)) == {64}
            and set(map(len, self.claimed)) <= {0, 32}
            and max(map(len, self.payloads)) <= limits.max_payload_bytes
            and set(self.kinds) <= {_KIND_DATA, _KIND_ROTATION}
            and max(self.seqs) < 2**63
        )
        if not ok:
            for i, rec in enumerate(batch):
                _check_shape(i, rec, limits, genesis=False)


@dataclass(slots=True)
class _Plan:
    """Pass 1 of a batch: its columns, its records by chain, where each chain's new
    records start, the key each record must be signed with, each chain's key after it."""

    cols: _Columns
    by_chain: dict[bytes, list[int]]
    new_from: dict[bytes, int]
    keys: list[bytes]
    next_keys: dict[bytes, bytes]

    def provisional_heads(self) -> dict[bytes, _Head]:
        """Heads as they will be if this batch passes (links are not known yet)."""
        out = {}
        for chain_id, idx in self.by_chain.items():
            if self.new_from[chain_id] < len(idx):
                last = idx[-1]
                out[chain_id] = _Head(self.cols.seqs[last], b"", self.next_keys[chain_id])
        return out


def _rust_check_plans(plans: Sequence[_Plan]) -> list[tuple[list[bytes], bytes]]:
    """Links and reject codes for every record of every plan, in ONE Rust call (hashing
    and signatures, without the GIL), split back per plan."""
    links, codes = _rust_check([p.cols for p in plans], b"".join(b"".join(p.keys) for p in plans))
    out = []
    at = 0
    for p in plans:
        n = len(p.keys)
        out.append((links[at : at + n], codes[at : at + n]))
        at += n
    return out


def _rust_check(records: Sequence[_Columns], keys: bytes) -> tuple[list[bytes], bytes]:
    """Links and reject codes of the records of ``records`` in order, each checked against
    its key in ``keys`` (32 bytes each)."""
    records = [c for c in records if c.seqs]
    if not records:
        return [], b""
    links, codes = _core.check_submissions(
        b"".join(b"".join(c.chain_ids) for c in records),
        [s for c in records for s in c.seqs],
        [t for c in records for t in c.times],
        b"".join(bytes(c.kinds) for c in records),
        b"".join(b"".join(c.prevs) for c in records),
        b"".join(b"".join(c.commits) for c in records),
        b"".join(b"".join(c.salts) for c in records),
        [p for c in records for p in c.payloads],
        b"".join(b"".join(c.signatures) for c in records),
        keys,
    )
    return [links[i : i + 32] for i in range(0, len(links), 32)], codes


@dataclass(slots=True)
class Sealed:
    """An accepted group, in the tree but not yet stored, with the fork evidence its
    checks found (stored in the same transaction, after the group's records)."""

    group: _Group
    heads: list[ChainHead]
    checkpoint: StoredCheckpoint | None
    new_size: int
    evidence: list[ForkEvidence] = field(default_factory=list)


class Ledger:
    """The relay's accepted state: store + Merkle log + chain heads + checkpoint signing."""

    def __init__(
        self,
        store: Store,
        seed: bytes,
        *,
        checkpoint_every: int = 1000,
        limits: Limits | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self._seed = seed
        self.log_id = _core.public_key_from_seed(seed)
        self.checkpoint_every = checkpoint_every
        self.limits = limits or Limits()
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._bind_store()
        self.tree = _core.MerkleTree()
        self.heads: dict[bytes, _Head] = {}
        self.latest: StoredCheckpoint | None = None
        #: Log size as a plain int, safe to read from any thread (the tree itself is only
        #: touched by the writer thread). Counts durably stored records only.
        self.size = 0
        #: Groups sealed (in the tree, checkpoint signed) but not yet stored, oldest first:
        #: the next group is checked against them while the store makes them durable.
        self._inflight: list[Sealed] = []
        self._signed_size = 0  # tree_size of the newest checkpoint signed (stored or not)
        self._load()

    # ----------------------------------------------------------------- start-up

    def _bind_store(self) -> None:
        bound = self.store.get_log_id()
        if bound is None:
            self.store.set_log_id(self.log_id)
        elif bound != self.log_id:
            raise StoreError(
                f"the store belongs to relay {bound.hex()}, but the key file is "
                f"{self.log_id.hex()}; refusing to mix two logs"
            )

    def _load(self) -> None:
        """Rebuild the Merkle log from the stored links (O(n)) and check it against the
        newest checkpoint, so a damaged store is found at start-up, not by an auditor."""
        started = time.perf_counter()
        for chunk in self.store.iter_links():
            self.tree.extend(chunk)
        size = self.store.tree_size()
        if self.tree.size != size:
            raise StoreError(f"the store holds {size} records but {self.tree.size} links")
        self.latest = self.store.latest_checkpoint()
        if self.latest is not None:
            if self.latest.tree_size > size:
                raise StoreError(
                    f"checkpoint at tree_size {self.latest.tree_size} is beyond the "
                    f"{size} stored records"
                )
            if self.tree.root(self.latest.tree_size) != self.latest.root:
                raise StoreError(
                    f"the stored records do not rebuild the root of the checkpoint at "
                    f"tree_size {self.latest.tree_size}: the store was altered"
                )
        self.size = size
        self._signed_size = self.latest.tree_size if self.latest else 0
        for dev in self.store.list_devices():
            self.heads[dev.chain_id] = _Head(dev.head_seq, dev.head_link, dev.current_key)
        log.info(
            "log rebuilt: %d records, %d chains, root %s (%.2f s)",
            size,
            len(self.heads),
            self.tree.root().hex(),
            time.perf_counter() - started,
        )

    # ----------------------------------------------------------------- enrollment

    def enroll(self, token: str, genesis: SubmittedRecord) -> tuple[Device, int]:
        """Enroll a device with a one-time token and its genesis; returns (device,
        log_index). Re-sending the same genesis with the same token (a lost reply)
        returns the original; with any other token it is refused like a wrong token, so
        a stranger holding a bundle's genesis learns nothing of its participant."""
        _check_shape(0, genesis, self.limits, genesis=True)
        payload = bytes(genesis.payload)
        if len(payload) != 32:
            raise invalid(
                "bad_key", f"genesis payload must be a 32-byte public key, got {len(payload)}"
            )
        if _core.check_public_key(payload) != "valid":
            raise invalid("bad_key", "genesis payload is not a valid (large-order) public key")
        chain_id = bytes(genesis.chain_id)
        if _core.chain_id_for_key(payload) != chain_id:
            raise invalid("malformed", "genesis chain_id is not derived from its public key")
        if bytes(genesis.prev) != ZERO_LINK:
            raise invalid("malformed", "genesis prev must be 32 zero bytes")
        links, codes = _rust_check([_Columns([genesis])], payload)
        if codes[0]:
            reason, text = _REJECT_TEXT[codes[0]]
            raise invalid(reason, f"genesis: {text}")
        link = links[0]
        self._check_claimed_link(0, genesis, link)
        existing = self.store.get_device(chain_id)
        if existing is not None:
            stored = self.store.get_record(chain_id, 0)
            if stored is not None and stored.link == link:
                if self.store.enrolled_with(token_hash(token), chain_id):
                    return existing, stored.log_index
                # The same text whether the token is unknown or another valid one: the
                # answer must not tell a token prober anything either.
                raise Rejected(
                    "PERMISSION_DENIED",
                    "token",
                    "enrollment token refused: this genesis was enrolled with another token",
                )
            raise Rejected(
                "ALREADY_EXISTS", "enrolled", f"chain {chain_id.hex()} is already enrolled"
            )
        _check_time(0, genesis, self.limits, self._clock())  # a resent one was judged
        if self._inflight:
            raise StoreError("enroll() called with groups in flight (writer bug)")
        now = self._clock()
        index = self.tree.size
        row = self._row(index, genesis, link, now)
        device = Device(chain_id, "", payload, payload, 0, link, now)
        try:
            self.store.enroll(token_hash(token), now, row, device)
        except TokenRejectedError as e:
            raise Rejected(
                "PERMISSION_DENIED", "token", f"enrollment token refused: {_TOKEN_TEXT[e.reason]}"
            ) from e
        except ConflictError as e:
            raise Rejected("ALREADY_EXISTS", "enrolled", str(e)) from e
        self.tree.extend(link)
        self.size = self.tree.size
        self.heads[chain_id] = _Head(0, link, payload)
        enrolled = self.store.get_device(chain_id)
        return (enrolled or device), index

    # ----------------------------------------------------------------- submission

    def submit_group(
        self, batches: Sequence[Sequence[SubmittedRecord]]
    ) -> list[list[Ack] | Rejected]:
        """Check each batch, store every accepted one in ONE transaction, and return per
        batch its acks or why it was refused. If the store fails, every batch of the group
        fails with it (nothing was stored) and the exception propagates.

        The one-call form of :meth:`prepare_group` + :meth:`persist` + :meth:`apply`.
        """
        results, sealed = self.prepare_group(batches)
        if sealed is not None:
            try:
                self.persist(sealed)
            except BaseException:
                self.abort_inflight()
                raise
            self.apply(sealed)
        return results

    def prepare_group(
        self, batches: Sequence[Sequence[SubmittedRecord]]
    ) -> tuple[list[list[Ack] | Rejected], Sealed | None]:
        """Check each batch (against the stored state and every group still in flight)
        and seal the accepted ones: their leaves go into the tree and a checkpoint is
        signed if one is due. Returns per batch its acks or why it was refused, and the
        sealed group to :meth:`persist` (None when nothing was accepted and no fork was
        found). The acks must not be sent before :meth:`persist` returns.

        Fork evidence is not written here: the record it points at may be in a group
        still in flight (or in this one). It travels with the sealed group, which is
        stored after every group before it, so the original is always there first, and
        a fork can't fail anybody else's batch.

        Signatures are verified for the whole group in one Rust call: Ed25519 batch
        verification gets much cheaper per signature in batches of hundreds, and the
        group is split across cores. That call plans every batch as if the ones before it
        pass; if one is then refused, the batches after it are re-checked on their own.
        """
        group = _Group(next_index=self.tree.size)
        results: list[list[Ack] | Rejected] = []
        evidence: list[ForkEvidence] = []
        provisional: dict[bytes, _Head] = {}

        def head(chain_id: bytes) -> _Head | None:
            return provisional.get(chain_id) or self._head(chain_id, group)

        plans: list[_Plan | Rejected] = []
        for batch in batches:
            try:
                plan = self._plan(batch, head)
            except Rejected as r:
                plans.append(r)
                continue
            plans.append(plan)
            provisional.update(plan.provisional_heads())
        checked = [p for p in plans if isinstance(p, _Plan)]
        verdicts = iter(_rust_check_plans(checked))
        replan = False
        for batch, planned in zip(batches, plans, strict=True):
            try:
                if replan:  # an earlier batch of the group was refused: plan afresh
                    results.append(self._stage(batch, group, evidence))
                    continue
                if isinstance(planned, Rejected):
                    raise planned
                links, codes = next(verdicts)
                results.append(self._finish(batch, planned, links, codes, group, evidence))
            except Rejected as r:
                results.append(r)
                replan = replan or isinstance(planned, _Plan)
        sealed = self._seal(group, evidence) if group.rows or evidence else None
        return results, sealed

    def _stage(
        self, batch: Sequence[SubmittedRecord], group: _Group, evidence: list[ForkEvidence]
    ) -> list[Ack]:
        """Check one batch against the committed + staged state; stage it if it passes."""
        plan = self._plan(batch, lambda chain_id: self._head(chain_id, group))
        links, codes = _rust_check_plans([plan])[0]
        return self._finish(batch, plan, links, codes, group, evidence)

    def _plan(
        self, batch: Sequence[SubmittedRecord], head_of: Callable[[bytes], _Head | None]
    ) -> _Plan:
        """Pass 1 (no hashing yet): shapes, and per chain which records are resent (seq <=
        head) and which new (they must continue the head exactly), and each signing key.

        This runs for every record the relay ever takes, so it works a column or a chain
        at a time (list equality, joins, ``set(map(len, ...))`` run in C) rather than a
        record at a time; only a failing check falls back to naming the record.
        """
        n = len(batch)
        if n > self.limits.max_records_per_batch:
            raise too_large(
                f"batch of {n} records exceeds the limit of {self.limits.max_records_per_batch}"
            )
        cols = _Columns(batch)
        if n:
            cols.check(batch, self.limits)
        by_chain: dict[bytes, list[int]] = {}
        for i, chain_id in enumerate(cols.chain_ids):
            by_chain.setdefault(chain_id, []).append(i)
        keys: list[bytes] = [b""] * n
        new_from: dict[bytes, int] = {}
        next_keys: dict[bytes, bytes] = {}
        for chain_id, idx in by_chain.items():
            head = head_of(chain_id)
            if head is None:
                i = idx[0]
                raise Rejected(
                    "NOT_FOUND",
                    "unknown_chain",
                    f"{_where(i, batch[i])}: unknown chain (not enrolled)",
                )
            seqs = [cols.seqs[i] for i in idx]
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                self._explain_order(batch, idx, seqs)
            first_new = min(len(idx), max(0, head.seq + 1 - seqs[0]))
            if first_new < len(idx) and seqs[first_new] != head.seq + 1:
                i = idx[first_new]
                raise Rejected(
                    "FAILED_PRECONDITION",
                    "gap",
                    f"{_where(i, batch[i])}: seq jumps from {head.seq} to {seqs[first_new]} "
                    f"(send seq {head.seq + 1} first)",
                )
            new_from[chain_id] = first_new
            key = head.key
            for j, i in enumerate(idx):
                keys[i] = key
                # A rotation's key signs from the next record on (checked in Rust).
                if j >= first_new and cols.kinds[i] == _KIND_ROTATION:
                    key = cols.payloads[i]
            next_keys[chain_id] = key
        if n:
            self._check_times(batch, cols, by_chain, new_from)
        return _Plan(cols, by_chain, new_from, keys, next_keys)

    def _check_times(
        self,
        batch: Sequence[SubmittedRecord],
        cols: _Columns,
        by_chain: dict[bytes, list[int]],
        new_from: dict[bytes, int],
    ) -> None:
        """New records' time_ms within the window around the relay's clock. Resent ones
        are not judged again (accepted once, a lost ack's resend stays a duplicate)."""
        now = self._clock()
        low, high = self.limits.time_window(now)
        if low <= min(cols.times) and max(cols.times) <= high:
            return
        fresh = sorted(i for c, idx in by_chain.items() for i in idx[new_from[c] :])
        for i in fresh:
            _check_time(i, batch[i], self.limits, now)

    def _finish(
        self,
        batch: Sequence[SubmittedRecord],
        plan: _Plan,
        links: list[bytes],
        codes: bytes,
        group: _Group,
        evidence: list[ForkEvidence],
    ) -> list[Ack]:
        """Pass 2, given the links and Rust verdicts: claimed links, resent records
        compared with what is held, new ones linking to the head and to each other. Stages
        the batch if everything passes."""
        cols, by_chain, new_from = plan.cols, plan.by_chain, plan.new_from
        n = len(links)
        if any(cols.claimed) and any(
            c and c != lk for c, lk in zip(cols.claimed, links, strict=True)
        ):
            i = next(i for i, c in enumerate(cols.claimed) if c and c != links[i])
            raise invalid(
                "link_mismatch",
                f"{_where(i, batch[i])}: link is not the link of the record's header",
            )
        now = self._clock()
        resent: dict[int, Ack] = {}
        for chain_id, idx in by_chain.items():
            first_new = new_from[chain_id]
            for i in idx[:first_new]:
                resent[i] = self._resent(i, batch[i], links[i], group, evidence, now)
            fresh = idx[first_new:]
            if not fresh:
                continue
            head = self._head(chain_id, group)
            assert head is not None  # checked in pass 1
            expected = [head.link] + [links[i] for i in fresh[:-1]]
            if [cols.prevs[i] for i in fresh] != expected:
                j = next(j for j, i in enumerate(fresh) if cols.prevs[i] != expected[j])
                i = fresh[j]
                raise Rejected(
                    "FAILED_PRECONDITION",
                    "broken_chain",
                    f"{_where(i, batch[i])}: prev is not the link of seq {cols.seqs[i] - 1}",
                )
            for i in fresh:
                if codes[i]:
                    reason, text = _REJECT_TEXT[codes[i]]
                    raise invalid(reason, f"{_where(i, batch[i])}: {text}")

        # The whole batch passed: stage it, in batch order (= log order).
        for chain_id, idx in by_chain.items():
            fresh = idx[new_from[chain_id] :]
            if fresh:
                last = fresh[-1]
                group.heads[chain_id] = _Head(
                    cols.seqs[last], links[last], plan.next_keys[chain_id]
                )
        acks: list[Ack] = []
        index = group.next_index
        rows = group.rows
        for i in range(n):
            if i in resent:
                acks.append(resent[i])
                continue
            chain_id, seq = cols.chain_ids[i], cols.seqs[i]
            rows.append(
                StoredRecord(
                    index,
                    chain_id,
                    seq,
                    cols.times[i],
                    cols.kinds[i],
                    cols.prevs[i],
                    cols.commits[i],
                    links[i],
                    cols.signatures[i],
                    cols.salts[i],
                    cols.payloads[i],
                    now,
                )
            )
            group.positions[(chain_id, seq)] = (links[i], index)
            acks.append(Ack(chain_id, seq, index, False))
            index += 1
        group.next_index = index
        return acks

    def _explain_order(
        self, batch: Sequence[SubmittedRecord], idx: list[int], seqs: list[int]
    ) -> None:
        """A chain's records in a batch must be consecutive seqs in order; say which isn't."""
        for j in range(1, len(idx)):
            if seqs[j] == seqs[j - 1] or seqs[j] in seqs[:j]:
                i = idx[j]
                raise invalid("malformed", f"{_where(i, batch[i])}: appears twice in the batch")
            if seqs[j] != seqs[j - 1] + 1:
                i = idx[j]
                raise Rejected(
                    "FAILED_PRECONDITION",
                    "gap",
                    f"{_where(i, batch[i])}: follows seq {seqs[j - 1]} of its chain in the "
                    "batch (a chain's records must come in seq order, without gaps)",
                )
        raise AssertionError("unreachable: the seqs were consecutive")

    def _head(self, chain_id: bytes, group: _Group) -> _Head | None:
        head = group.heads.get(chain_id)
        if head is None:
            for sealed in reversed(self._inflight):
                head = sealed.group.heads.get(chain_id)
                if head is not None:
                    break
        return head or self.heads.get(chain_id)

    def _check_claimed_link(self, i: int, rec: SubmittedRecord, link: bytes) -> None:
        if rec.link and bytes(rec.link) != link:
            raise invalid(
                "link_mismatch",
                f"{_where(i, rec)}: link is not the link of the record's header",
            )

    def _resent(
        self,
        i: int,
        rec: SubmittedRecord,
        link: bytes,
        group: _Group,
        evidence: list[ForkEvidence],
        now: int,
    ) -> Ack:
        """A record at a seq the relay already holds: the same one is acknowledged with its
        original position; a different one is a fork, refused and kept as evidence."""
        chain_id = bytes(rec.chain_id)
        held = group.positions.get((chain_id, rec.seq))
        for sealed in self._inflight:
            held = held or sealed.group.positions.get((chain_id, rec.seq))
        if held is None:
            stored = self.store.get_record(chain_id, rec.seq)
            if stored is None:  # cannot happen while the store and heads agree
                raise StoreError(f"chain {chain_id.hex()} seq {rec.seq} is missing from the store")
            held = (stored.link, stored.log_index)
        held_link, held_index = held
        if held_link == link:
            return Ack(chain_id, rec.seq, held_index, True)
        evidence.append(
            ForkEvidence(
                chain_id=chain_id,
                seq=rec.seq,
                existing_log_index=held_index,
                time_ms=rec.time_ms,
                kind=rec.kind,
                prev=bytes(rec.prev),
                commit=bytes(rec.commit),
                link=link,
                signature=bytes(rec.signature),
                salt=bytes(rec.salt),
                payload=bytes(rec.payload),
                received_ms=now,
            )
        )
        raise Rejected(
            "ALREADY_EXISTS",
            "fork",
            f"{_where(i, rec)}: a different record holds this seq (log_index {held_index}); "
            "refused as a fork and kept as evidence",
        )

    def _row(self, index: int, rec: SubmittedRecord, link: bytes, now: int) -> StoredRecord:
        return StoredRecord(
            log_index=index,
            chain_id=bytes(rec.chain_id),
            seq=rec.seq,
            time_ms=rec.time_ms,
            kind=rec.kind,
            prev=bytes(rec.prev),
            commit=bytes(rec.commit),
            link=link,
            signature=bytes(rec.signature),
            salt=bytes(rec.salt),
            payload=bytes(rec.payload),
            received_ms=now,
        )

    def _seal(self, group: _Group, evidence: list[ForkEvidence]) -> Sealed:
        """Put the group's leaves in the tree and sign a checkpoint if one is due."""
        heads = [ChainHead(chain_id, h.seq, h.link, h.key) for chain_id, h in group.heads.items()]
        new_size = group.next_index
        self.tree.extend(b"".join(r.link for r in group.rows))
        checkpoint = None
        if new_size - self._signed_size >= self.checkpoint_every:
            checkpoint = self._sign(new_size)
            self._signed_size = new_size
        sealed = Sealed(group, heads, checkpoint, new_size, evidence)
        self._inflight.append(sealed)
        return sealed

    def persist(self, sealed: Sealed) -> None:
        """Store a sealed group (records, heads, checkpoint, fork evidence) in one
        transaction. Touches
        only the store, so it may run on another thread while the next group is checked;
        groups must be persisted in the order they were sealed."""
        if not self._inflight or self._inflight[0] is not sealed:
            raise StoreError("not stored: an earlier group failed to store, or order was broken")
        self.store.append(sealed.group.rows, sealed.heads, sealed.checkpoint, sealed.evidence)

    def apply(self, sealed: Sealed) -> None:
        """After :meth:`persist`: the group is durable; make it the committed state."""
        assert self._inflight and self._inflight[0] is sealed
        self._inflight.pop(0)
        self.heads.update(sealed.group.heads)
        self.size = sealed.new_size
        if sealed.checkpoint is not None:
            self.latest = sealed.checkpoint

    def abort_inflight(self) -> None:
        """The store refused a group: forget every group in flight and rebuild the tree
        and heads from what is stored (the fatal-looking path; nothing was acknowledged)."""
        self._inflight.clear()
        self._rebuild_tree()
        self.size = self.tree.size
        self.latest = self.store.latest_checkpoint()
        self._signed_size = self.latest.tree_size if self.latest else 0
        self.heads = {
            d.chain_id: _Head(d.head_seq, d.head_link, d.current_key)
            for d in self.store.list_devices()
        }

    def _rebuild_tree(self) -> None:
        tree = _core.MerkleTree()
        for chunk in self.store.iter_links():
            tree.extend(chunk)
        self.tree = tree

    # ----------------------------------------------------------------- checkpoints

    def _checkpoint_due(self, size: int) -> bool:
        last = self.latest.tree_size if self.latest else 0
        return size - last >= self.checkpoint_every

    def _sign(self, size: int) -> StoredCheckpoint:
        root = self.tree.root(size)
        return StoredCheckpoint(
            tree_size=size,
            root=root,
            signature=_core.sign_checkpoint(self._seed, size, root),
            created_ms=self._clock(),
        )

    def checkpoint(self) -> StoredCheckpoint | None:
        """Sign a checkpoint over the whole log now, unless the newest already covers it
        (then return that one). None for an empty log."""
        if self._inflight:
            raise StoreError("checkpoint() called with groups in flight (writer bug)")
        size = self.tree.size
        if size == 0:
            return None
        if self.latest is not None and self.latest.tree_size == size:
            return self.latest
        cp = self._sign(size)
        self.store.add_checkpoint(cp)
        self.latest = cp
        self._signed_size = size
        return cp

    def checkpoint_at(self, tree_size: int) -> StoredCheckpoint | None:
        if tree_size == 0:
            return self.store.latest_checkpoint()
        return self.store.get_checkpoint(tree_size)

    # ----------------------------------------------------------------- queries

    def receipt(
        self, chain_id: bytes, seq: int
    ) -> tuple[StoredRecord, StoredCheckpoint, list[bytes]]:
        """The record, the newest checkpoint (fresh from the store, so anchors show) and
        the inclusion proof of the record in it."""
        rec = self.store.get_record(chain_id, seq)
        if rec is None:
            raise Rejected(
                "NOT_FOUND", "unknown_record", f"no record at chain {chain_id.hex()} seq {seq}"
            )
        latest = self.store.latest_checkpoint()
        if latest is None or latest.tree_size <= rec.log_index:
            covered = latest.tree_size if latest else 0
            raise Rejected(
                "FAILED_PRECONDITION",
                "not_checkpointed",
                f"record at log_index {rec.log_index} is not covered by a checkpoint yet "
                f"(the newest covers {covered} records); retry after the next checkpoint",
            )
        return rec, latest, self.tree.inclusion_proof(rec.log_index, latest.tree_size)

    def consistency(self, first: int, second: int) -> tuple[int, bytes, bytes, list[bytes]]:
        """(to_size, from_root, to_root, RFC 9162 proof); ``second == 0`` means the log size."""
        size = self.size  # stored records only (the tree may hold a group in flight)
        if second == 0:
            second = size
        if first > second or second > size:
            raise invalid(
                "bad_range",
                f"need from_size <= to_size <= {size} (the log size), got {first} and {second}",
            )
        return (
            second,
            self.tree.root(first),
            self.tree.root(second),
            self.tree.consistency_proof(first, second),
        )

    def chain_head(self, chain_id: bytes) -> tuple[_Head, int]:
        head = self.heads.get(chain_id)
        if head is None:
            raise Rejected("NOT_FOUND", "unknown_chain", f"unknown chain {chain_id.hex()}")
        rec = self.store.get_record(chain_id, head.seq)
        return head, (rec.log_index if rec else 0)

    # ----------------------------------------------------------------- operator

    def issue_token(self, token: str, participant: str, ttl_ms: int) -> int:
        now = self._clock()
        self.store.add_token(token_hash(token), participant, now, now + ttl_ms)
        return now + ttl_ms

    def erase(self, chain_id: bytes, seq: int, reason: str) -> Erasure:
        rec = self.store.get_record(chain_id, seq)
        if rec is None:
            raise Rejected(
                "NOT_FOUND", "unknown_record", f"no record at chain {chain_id.hex()} seq {seq}"
            )
        if rec.kind != _KIND_DATA:
            raise Rejected(
                "FAILED_PRECONDITION",
                "not_erasable",
                f"chain {chain_id.hex()} seq {seq} is a genesis or key rotation, which "
                "can't be erased (SPEC 1.4)",
            )
        return self.store.erase(rec.log_index, self._clock(), reason)
