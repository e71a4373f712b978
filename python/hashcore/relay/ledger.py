"""The relay's state machine: checks submissions, appends them to the store and the log
(SPEC v2 2.1: entries ``0x02 || link || i64be(received_ms)`` in the SHA-256 RFC 6962
tree), signs checkpoints as C2SP signed notes (2.2) and receipts (2.4). Nothing here knows
about gRPC or asyncio.

Threading: a :class:`Ledger` is used from ONE thread at a time (the server runs every call
on a single-thread executor). That one writer is what makes log positions consecutive and
the in-memory heads and Merkle tree agree with the store without locks.

Group commit: :meth:`Ledger.submit_group` takes several batches at once (whatever queued
up while the previous transaction was being made durable), checks each on its own — a
batch is all-or-nothing, and a refused batch does not affect the others
(:mod:`.sequencing`) — then stores all accepted batches in one transaction and
acknowledges them together. One fsync then covers many batches, which is what lets a
SQLite relay acknowledge tens of thousands of records per second durably.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from .. import _core
from ..errors import ConflictError, HashcoreError, StoreError, TokenRejectedError
from .fast_ingest import Batch, FastPath, Result
from .limits import Limits
from .record_checks import SubmittedRecord, check_genesis, check_time, where
from .rejection import Rejected, invalid
from .sequencing import Ack, Group, GroupChecker, Head, stored_row
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

_TOKEN_TEXT = {
    "unknown": "unknown token",
    "used": "the token was already used",
    "expired": "the token has expired",
}


def token_hash(token: str) -> bytes:
    """Tokens are stored hashed: a copy of the database does not let anyone enroll."""
    return hashlib.blake2b(token.encode(), digest_size=32, person=b"hashcore-token").digest()


@dataclass(slots=True)
class Sealed:
    """An accepted group, in the tree but not yet stored, with the fork evidence its
    checks found (stored in the same transaction, after the group's records)."""

    group: Group
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
        origin: str,
        checkpoint_every: int = 1000,
        limits: Limits | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if not isinstance(origin, str) or not _core.is_key_name(origin):
            raise StoreError(f"origin must be a C2SP key name (no spaces, no '+'), got {origin!r}")
        self.store = store
        self._seed = seed
        self.origin = origin
        #: The relay's Ed25519 log key (SPEC 2.2); the anchor contract's logId too.
        self.log_key = _core.public_key_from_seed(seed)
        self.log_id = self.log_key
        self.checkpoint_every = checkpoint_every
        self.limits = limits or Limits()
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._bind_store()
        self.tree = _core.Sha256LogTree()
        #: tree_size -> root of every checkpoint signed (stored or in flight): the beacons
        #: a record may name.
        self._signed: dict[int, bytes] = {}
        self.heads: dict[bytes, Head] = {}
        self.latest: StoredCheckpoint | None = None
        #: Log size as a plain int, safe to read from any thread (the tree itself is only
        #: touched by the writer thread). Counts durably stored records only.
        self.size = 0
        #: Groups sealed (in the tree, checkpoint signed) but not yet stored, oldest first:
        #: the next group is checked against them while the store makes them durable.
        self._inflight: list[Sealed] = []
        self._signed_size = 0  # tree_size of the newest checkpoint signed (stored or not)
        self._checker = GroupChecker(
            self.limits,
            self._clock,
            self._head_before_group,
            self._held_before_group,
            signed_root=self._signed.get,
            sign_receipt=self.sign_receipt,
            sign_receipts=self.sign_receipts,
            key_at=self._key_at,
            evidence_count=self.store.count_fork_evidence,
        )
        self._fast = FastPath(
            self.limits, self._clock, self._head_before_group, self._signed.get, seed
        )
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
        named = self.store.get_meta("origin")
        if named is None:
            self.store.set_meta("origin", self.origin.encode())
        elif named != self.origin.encode():
            raise StoreError(
                f"the store's log is named {named.decode(errors='replace')!r}, not "
                f"{self.origin!r} (--origin): a log keeps its origin for life"
            )

    def sign_receipt(self, log_index: int, entry: bytes) -> bytes:
        """SPEC 2.4's receipt_sig of ``entry`` at ``log_index``."""
        return _core.receipt_sign(self._seed, log_index, entry)

    def sign_receipts(self, first_index: int, entries: bytes) -> list[bytes]:
        """The receipt_sigs of consecutive entries from ``first_index`` (one Rust call)."""
        if not entries:
            return []
        sigs = _core.receipt_sign_consecutive(self._seed, first_index, entries)
        return [sigs[i : i + 64] for i in range(0, len(sigs), 64)]

    def _key_at(self, chain_id: bytes, seq: int) -> bytes | None:
        """The key in force at ``seq`` of a chain (SPEC 1.4): the newest rotation below it
        (stored, or in a group in flight), else the genesis key."""
        best: tuple[int, bytes] | None = None
        for rot_seq, key in self.store.rotations(chain_id):
            if rot_seq < seq and (best is None or rot_seq > best[0]):
                best = (rot_seq, key)
        for sealed in self._inflight:
            for rot_seq, key in sealed.group.rotations(chain_id):
                if rot_seq < seq and (best is None or rot_seq > best[0]):
                    best = (rot_seq, key)
        if best is not None:
            return best[1]
        device = self.store.get_device(chain_id)
        return None if device is None else device.genesis_key

    def _load(self) -> None:
        """Rebuild the Merkle log from the stored links (O(n)) and check it against the
        newest checkpoint, so a damaged store is found at start-up, not by an auditor."""
        started = time.perf_counter()
        for chunk in self.store.iter_entries():
            self.tree.extend(chunk)
        size = self.store.tree_size()
        if self.tree.size != size:
            raise StoreError(f"the store holds {size} records but {self.tree.size} entries")
        self._signed.update({cp.tree_size: cp.root for cp in self.store.list_checkpoints()})
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
            try:
                body_size, body_root = _core.note_verify(
                    self.latest.note, self.origin, self.log_key
                )
            except HashcoreError as exc:
                raise StoreError(
                    f"the stored checkpoint at tree_size {self.latest.tree_size} is not a "
                    f"note signed by this relay as {self.origin!r}: {exc}"
                ) from None
            if (body_size, body_root) != (self.latest.tree_size, self.latest.root):
                raise StoreError(
                    f"the stored checkpoint at tree_size {self.latest.tree_size} has a note "
                    f"for another tree ({body_size}): the store was altered"
                )
        self.size = size
        self._signed_size = self.latest.tree_size if self.latest else 0
        for dev in self.store.list_devices():
            self.heads[dev.chain_id] = Head(dev.head_seq, dev.head_link, dev.current_key)
        log.info(
            "log rebuilt: %d records, %d chains, root %s (%.2f s)",
            size,
            len(self.heads),
            self.tree.root().hex(),
            time.perf_counter() - started,
        )

    # ----------------------------------------------------------------- enrollment

    def enroll(self, token: str, genesis: SubmittedRecord) -> tuple[Device, Ack]:
        """Enroll a device with a one-time token and its genesis; returns (device, the
        genesis's ack with its receipt). Re-sending the same genesis with the same token (a
        lost reply) returns the original; with any other token it is refused like a wrong token, so
        a stranger holding a bundle's genesis learns nothing of its participant."""
        link = check_genesis(genesis, self.limits)
        if genesis.link and bytes(genesis.link) != link:
            raise invalid(
                "link_mismatch",
                f"{where(0, genesis)}: link is not the link of the record's header",
            )
        payload = bytes(genesis.payload)
        chain_id = bytes(genesis.chain_id)
        existing = self.store.get_device(chain_id)
        if existing is not None:
            stored = self.store.get_record(chain_id, 0)
            if stored is not None and stored.link == link:
                if self.store.enrolled_with(token_hash(token), chain_id):
                    return existing, self._ack_of(stored, duplicate=True)
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
        check_time(0, genesis, self.limits, self._clock())  # a resent one was judged
        if self._inflight:
            raise StoreError("enroll() called with groups in flight (writer bug)")
        now = self._clock()
        index = self.tree.size
        row = stored_row(index, genesis, link, now)
        device = Device(chain_id, "", payload, payload, 0, link, now)
        try:
            self.store.enroll(token_hash(token), now, row, device)
        except TokenRejectedError as e:
            raise Rejected(
                "PERMISSION_DENIED", "token", f"enrollment token refused: {_TOKEN_TEXT[e.reason]}"
            ) from e
        except ConflictError as e:
            raise Rejected("ALREADY_EXISTS", "enrolled", str(e)) from e
        self.tree.extend(row.entry)
        self.size = self.tree.size
        self.heads[chain_id] = Head(0, link, payload)
        enrolled = self.store.get_device(chain_id)
        return (enrolled or device), self._ack_of(row, duplicate=False)

    def _ack_of(self, rec: StoredRecord, *, duplicate: bool) -> Ack:
        sig = self.sign_receipt(rec.log_index, rec.entry)
        return Ack(rec.chain_id, rec.seq, rec.log_index, duplicate, rec.received_ms, sig)

    # ----------------------------------------------------------------- submission

    def submit_group(self, batches: Sequence[Batch]) -> list[Result]:
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

    def prepare_group(self, batches: Sequence[Batch]) -> tuple[list[Result], Sealed | None]:
        """Check each batch (against the stored state and every group still in flight)
        and seal the accepted ones: their leaves go into the tree and a checkpoint is
        signed if one is due. Returns per batch its acks or why it was refused, and the
        sealed group to :meth:`persist` (None when nothing was accepted and no fork was
        found). The acks must not be sent before :meth:`persist` returns.

        Fork evidence is not written here: the record it points at may be in a group
        still in flight (or in this one). It travels with the sealed group, which is
        stored after every group before it, so the original is always there first, and
        a fork can't fail anybody else's batch.
        """
        results, group, evidence = self._fast.check(self._checker, batches, self.tree.size)
        sealed = self._seal(group, evidence) if group.rows or group.blocks or evidence else None
        return results, sealed

    def _head_before_group(self, chain_id: bytes) -> Head | None:
        """The newest head of a chain: in the groups in flight (newest first), else the
        committed one."""
        for sealed in reversed(self._inflight):
            head = sealed.group.heads.get(chain_id)
            if head is not None:
                return head
        return self.heads.get(chain_id)

    def _held_before_group(self, chain_id: bytes, seq: int) -> tuple[bytes, int, int] | None:
        """(link, log_index, received_ms) of an accepted record, in flight or stored."""
        for sealed in self._inflight:
            held = sealed.group.held(chain_id, seq)
            if held is not None:
                return held
        stored = self.store.get_record(chain_id, seq)
        return None if stored is None else (stored.link, stored.log_index, stored.received_ms)

    def _seal(self, group: Group, evidence: list[ForkEvidence]) -> Sealed:
        """Put the group's leaves in the tree and sign a checkpoint if one is due."""
        heads = [ChainHead(chain_id, h.seq, h.link, h.key) for chain_id, h in group.heads.items()]
        new_size = group.next_index
        self.tree.extend(group.entries())
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
        group = sealed.group
        if group.blocks:  # the Rust hot path's records, stored from its buffers
            self.store.append(
                group.rows, sealed.heads, sealed.checkpoint, sealed.evidence, blocks=group.blocks
            )
        else:
            self.store.append(group.rows, sealed.heads, sealed.checkpoint, sealed.evidence)

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
        self._signed.clear()
        self._signed.update({cp.tree_size: cp.root for cp in self.store.list_checkpoints()})
        self.latest = self.store.latest_checkpoint()
        self._signed_size = self.latest.tree_size if self.latest else 0
        self.heads = {
            d.chain_id: Head(d.head_seq, d.head_link, d.current_key)
            for d in self.store.list_devices()
        }

    def _rebuild_tree(self) -> None:
        tree = _core.Sha256LogTree()
        for chunk in self.store.iter_entries():
            tree.extend(chunk)
        self.tree = tree

    # ----------------------------------------------------------------- checkpoints

    def _sign(self, size: int) -> StoredCheckpoint:
        """A checkpoint of the first ``size`` entries as a C2SP signed note (SPEC 2.2)."""
        root = self.tree.root(size)
        self._signed[size] = root
        return StoredCheckpoint(
            tree_size=size,
            root=root,
            note=_core.note_sign(self._seed, self.origin, size, root),
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

    def add_cosignatures(self, tree_size: int, root: bytes, lines: list[bytes]) -> bool:
        """Merge witness cosignature lines (verified by the pusher) into the stored note of
        the checkpoint ``(tree_size, root)``; False when no such checkpoint is stored."""
        from ..witness.pusher import merge_cosignatures  # aiohttp: only with witnesses

        cp = self.store.get_checkpoint(tree_size)
        if cp is None or cp.root != root:
            return False
        merged = merge_cosignatures(cp.note, lines)
        if merged != cp.note:
            self.store.set_checkpoint_note(tree_size, merged)
            if self.latest is not None and self.latest.tree_size == tree_size:
                self.latest = replace(self.latest, note=merged)
        return True

    def checkpoint_at(self, tree_size: int) -> StoredCheckpoint | None:
        if tree_size == 0:
            return self.store.latest_checkpoint()
        return self.store.get_checkpoint(tree_size)

    # ----------------------------------------------------------------- queries

    def receipt(
        self, chain_id: bytes, seq: int
    ) -> tuple[Ack, StoredRecord, StoredCheckpoint | None, list[bytes]]:
        """The record's ack (with its receipt), the record, the newest checkpoint (fresh
        from the store, so anchors show; None before the first) and the inclusion proof of
        the record in it (empty while that checkpoint does not cover it yet)."""
        rec = self.store.get_record(chain_id, seq)
        if rec is None:
            raise Rejected(
                "NOT_FOUND", "unknown_record", f"no record at chain {chain_id.hex()} seq {seq}"
            )
        latest = self.store.latest_checkpoint()
        path: list[bytes] = []
        if latest is not None and latest.tree_size > rec.log_index:
            path = self.tree.inclusion_proof(rec.log_index, latest.tree_size)
        return self._ack_of(rec, duplicate=True), rec, latest, path

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

    def chain_head(self, chain_id: bytes) -> tuple[Head, int]:
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
        if rec.kind != _core.KIND_DATA:
            raise Rejected(
                "FAILED_PRECONDITION",
                "not_erasable",
                f"chain {chain_id.hex()} seq {seq} is a genesis or key rotation, which "
                "can't be erased (SPEC 1.4)",
            )
        return self.store.erase(rec.log_index, self._clock(), reason)
