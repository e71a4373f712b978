"""The ledger of one relay frontend among several on one PostgreSQL log.

The same interface as :class:`~.ledger.Ledger` (the Writer and the gRPC services don't
know the difference), other insides:

- ``prepare_group`` checks the group against chain heads locked in the database and
  queues the accepted records (:mod:`.store.postgres_queue`): durable, but without log
  positions yet. It returns the acks as placeholders.
- ``persist`` (the Writer's commit step, on its own thread) waits until the sequencer has
  moved every one of those records into the log, then fills in each ack's log_index,
  received_ms and receipt from the stored row: an ack never goes out before its record is
  sequenced and durable. No sequencer within ``sequence_wait_s`` (the database is cut
  off, or no frontend can be elected): UNAVAILABLE; the records stay queued, and the
  phone's resend is acknowledged as a duplicate once they are sequenced.
- The Merkle tree follows the stored log (:class:`~.sequencer_election.LogThread`), so
  every frontend serves receipts, proofs and checkpoints; only the sequencer signs.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .. import _core
from ..errors import ConflictError, StoreError, TokenRejectedError
from .fast_ingest import Batch, RawReply, RawRequest, Result, decode_request
from .ledger import Ack, Ledger, Sealed, token_hash
from .limits import Limits
from .record_checks import SubmittedRecord, check_genesis, check_time, where
from .rejection import Rejected, invalid
from .sequencer_election import LogThread
from .sequencing import Group, GroupChecker, Head, stored_row
from .store.base import (
    ChainHead,
    Device,
    ForkEvidence,
    Store,
    StoredCheckpoint,
    StoredRecord,
    StoreUnavailableError,
)
from .store.postgres_queue import FrontendQueue, HeldPending, Positions

__all__ = ["FrontendLedger"]

_TOKEN_TEXT = {
    "unknown": "unknown token",
    "used": "the token was already used",
    "expired": "the token has expired",
}


@dataclass(slots=True)
class Queued(Sealed):
    """A group in the queue: the acks to complete once it is sequenced."""

    results: list[list[Ack] | Rejected] = field(default_factory=list)
    keys: list[tuple[bytes, int]] = field(default_factory=list)


def _no_receipt(index: int, entry: bytes) -> bytes:
    return b""  # signed once the position is known (persist)


def _no_receipts(first: int, entries: bytes) -> list[bytes]:
    return [b""] * (len(entries) // 41)


class FrontendLedger(Ledger):
    """One frontend's view of the shared log (see the module doc)."""

    def __init__(
        self,
        store: Store,
        seed: bytes,
        *,
        url: str,
        origin: str,
        checkpoint_every: int = 1000,
        limits: Limits | None = None,
        clock: Callable[[], int] | None = None,
        sequence_wait_s: float = 10.0,
        sequencer_lease_s: float = 10.0,
    ) -> None:
        self.tree_lock = threading.RLock()
        self._moved = threading.Condition()
        super().__init__(
            store,
            seed,
            origin=origin,
            checkpoint_every=checkpoint_every,
            limits=limits,
            clock=clock,
        )
        self.queue = FrontendQueue(url)
        self.where = self.queue.where
        self.positions = Positions(url)
        self.sequence_wait_s = sequence_wait_s
        self.log_thread = LogThread(self, url, lease_s=sequencer_lease_s)

    def start(self) -> None:
        self.log_thread.start()

    def stop(self) -> None:
        self.log_thread.stop()
        self.queue.close()
        self.positions.close()

    # ----------------------------------------------------------------- the tree

    def follow(self) -> None:
        """Extend the tree with what the sequencer stored since (any thread)."""
        with self.tree_lock:
            for chunk in self.store.iter_entries(self.tree.size):
                self.tree.extend(chunk)
            latest = self.store.latest_checkpoint()
            if latest is not None and latest.tree_size <= self.tree.size:
                if self.tree.root(latest.tree_size) != latest.root:
                    raise StoreError(
                        f"the stored records do not rebuild the checkpoint at tree_size "
                        f"{latest.tree_size}: the log was altered"
                    )
                self._signed[latest.tree_size] = latest.root
            self.sequenced(self.tree.size, latest)

    def sequenced(self, size: int, checkpoint: StoredCheckpoint | None) -> None:
        """The log is ``size`` records long (stored), ``checkpoint`` its newest one."""
        self.size = size
        if checkpoint is not None:
            self.latest = checkpoint
            self._signed_size = checkpoint.tree_size
        with self._moved:
            self._moved.notify_all()

    def reset_tree(self) -> None:
        """The tree may hold leaves the log does not: rebuild it (on the next follow)."""
        with self.tree_lock:
            self.tree = _core.Sha256LogTree()

    def sign_checkpoint(self, size: int) -> StoredCheckpoint:
        return self._sign(size)

    # ----------------------------------------------------------------- submission

    def prepare_group(self, batches: Sequence[Batch]) -> tuple[list[Result], Sealed | None]:
        """Raw requests (the gRPC hot path's bytes) are parsed here first: a frontend
        checks against heads locked in the database, not the in-memory heads the Rust
        hot path reads, so it takes every batch through the Python checker. A raw
        request is answered with a RawReply over the same ack list ``persist`` fills."""
        parsed: list[Sequence[SubmittedRecord]] = []
        slots: list[tuple[bool, int, int] | Rejected] = []  # (raw, batch_id, place)
        for b in batches:
            if not isinstance(b, RawRequest):
                slots.append((False, 0, len(parsed)))
                parsed.append(b)
                continue
            try:
                request = decode_request(b.raw)
            except Rejected as r:
                slots.append(r)
                continue
            slots.append((True, request.batch_id, len(parsed)))
            parsed.append(request.records)
        checked, sealed = self._prepare_records(parsed)
        results: list[Result] = []
        for slot in slots:
            if isinstance(slot, Rejected):
                results.append(slot)
                continue
            raw, batch_id, at = slot
            result = checked[at]
            if raw and not isinstance(result, Rejected):
                results.append(RawReply(None, 0, result, batch_id))
            else:
                results.append(result)
        return results, sealed

    def _prepare_records(
        self, batches: Sequence[Sequence[SubmittedRecord]]
    ) -> tuple[list[list[Ack] | Rejected], Sealed | None]:
        chain_ids = sorted({bytes(r.chain_id) for batch in batches for r in batch})
        deadline = time.monotonic() + self.sequence_wait_s
        while True:
            try:
                results, group, evidence = self._queue_group(batches, chain_ids)
                break
            except HeldPending as pending:
                # A resend of a record still queued: its position is needed for the ack
                # (or the fork evidence). Check again once the sequencer took it.
                held = functools.partial(self._in_log, pending.chain_id, pending.seq)
                self._wait_until(held, deadline)
        for ev in evidence:  # the record it points at is sequenced (HeldPending)
            self.store.add_fork_evidence(ev)
        keys = [(a.chain_id, a.seq) for r in results if isinstance(r, list) for a in r]
        if not keys:
            return results, None
        return results, Queued(group, [], None, 0, evidence, results, keys)

    def _in_log(self, chain_id: bytes, seq: int) -> bool:
        return self.store.get_record(chain_id, seq) is not None

    def _queue_group(
        self, batches: Sequence[Sequence[SubmittedRecord]], chain_ids: list[bytes]
    ) -> tuple[list[list[Ack] | Rejected], Group, list[ForkEvidence]]:
        with self.queue.transaction() as txn:
            heads = txn.lock_heads(chain_ids)

            def signed_root(size: int) -> bytes | None:
                root = self._signed.get(size)
                if root is None:
                    root = txn.checkpoint_root(size)
                    if root is not None:
                        self._signed[size] = root
                return root

            checker = GroupChecker(
                self.limits,
                self._clock,
                heads.get,
                txn.held,
                signed_root=signed_root,
                sign_receipt=_no_receipt,
                sign_receipts=_no_receipts,
                key_at=self._key_at,
                evidence_count=self.store.count_fork_evidence,
            )
            results, group, evidence = checker.check(batches, txn.log_size())
            if group.rows:
                txn.queue(group.rows)
                txn.move_heads([ChainHead(c, h.seq, h.link, h.key) for c, h in group.heads.items()])
                txn.notify_queued()
        return results, group, evidence

    def _wait_until(self, done: Callable[[], bool], deadline: float) -> None:
        """Wait (woken by every sequencing round) until ``done()``; UNAVAILABLE after
        the deadline."""
        while True:
            seen = self.size  # read first: a round after it must not be slept through
            if done():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise Rejected(
                    "UNAVAILABLE",
                    "not_sequenced",
                    f"the records are stored but no sequencer gave them log positions "
                    f"within {self.sequence_wait_s:g} s; resend them to get their receipts",
                )
            with self._moved:
                if self.size == seen:
                    self._moved.wait(min(left, 0.25))

    def persist(self, sealed: Sealed) -> None:
        """Wait until the group's records are in the log, then complete its acks."""
        assert isinstance(sealed, Queued)
        deadline = time.monotonic() + self.sequence_wait_s
        found: dict[tuple[bytes, int], tuple[int, int, bytes]] = {}
        missing = list(dict.fromkeys(sealed.keys))

        def all_in() -> bool:
            nonlocal missing
            try:
                found.update(self.positions.of(missing))
            except StoreUnavailableError:
                # The records are stored (queued): say so at the deadline, not "nothing
                # was stored"; the connection is made again on the next look.
                return False
            missing = [k for k in missing if k not in found]
            return not missing

        self._wait_until(all_in, deadline)
        sigs = self._receipts(list(found.values()))
        for acks in sealed.results:
            if isinstance(acks, list):
                for j, a in enumerate(acks):
                    index, received_ms, _ = found[(a.chain_id, a.seq)]
                    acks[j] = Ack(a.chain_id, a.seq, index, a.duplicate, received_ms, sigs[index])

    def _receipts(self, positions: list[tuple[int, int, bytes]]) -> dict[int, bytes]:
        """Receipts at (log_index, received_ms, link), one Rust call per run of
        consecutive positions (a group is mostly one run)."""
        positions.sort()
        out: dict[int, bytes] = {}
        i = 0
        while i < len(positions):
            j = i + 1
            while j < len(positions) and positions[j][0] == positions[j - 1][0] + 1:
                j += 1
            run = positions[i:j]
            entries = b"".join(_core.log_entry(link, ms) for _, ms, link in run)
            for (index, _, _), sig in zip(run, self.sign_receipts(run[0][0], entries), strict=True):
                out[index] = sig
            i = j
        return out

    def apply(self, sealed: Sealed) -> None:
        """Nothing to apply: the log thread follows what the sequencer stored."""

    def abort_inflight(self) -> None:
        """Nothing in memory to undo: a queued group stays queued."""

    # ----------------------------------------------------------------- enrollment

    def enroll(self, token: str, genesis: SubmittedRecord) -> tuple[Device, Ack]:
        link = check_genesis(genesis, self.limits)
        if genesis.link and bytes(genesis.link) != link:
            raise invalid(
                "link_mismatch", f"{where(0, genesis)}: link is not the link of the record's header"
            )
        payload = bytes(genesis.payload)
        chain_id = bytes(genesis.chain_id)
        existing = self.store.get_device(chain_id)
        if existing is None:
            check_time(0, genesis, self.limits, self._clock())
            now = self._clock()
            row = stored_row(0, genesis, link, now)
            device = Device(chain_id, "", payload, payload, 0, link, now)
            try:
                self.queue.enroll(token_hash(token), now, row, device)
            except (TokenRejectedError, ConflictError) as e:
                # Another frontend enrolled this chain meanwhile (the phone resent to it
                # while this one was busy): answered below like any re-enrollment.
                existing = self.store.get_device(chain_id)
                if existing is None and isinstance(e, TokenRejectedError):
                    raise Rejected(
                        "PERMISSION_DENIED",
                        "token",
                        f"enrollment token refused: {_TOKEN_TEXT[e.reason]}",
                    ) from e
                if existing is None:
                    raise Rejected("ALREADY_EXISTS", "enrolled", str(e)) from e
        stored = self._sequenced_record(chain_id, 0)
        enrolled = self.store.get_device(chain_id)
        assert enrolled is not None
        if existing is not None:
            if stored.link != link:
                raise Rejected(
                    "ALREADY_EXISTS", "enrolled", f"chain {chain_id.hex()} is already enrolled"
                )
            if not self.store.enrolled_with(token_hash(token), chain_id):
                raise Rejected(
                    "PERMISSION_DENIED",
                    "token",
                    "enrollment token refused: this genesis was enrolled with another token",
                )
        return enrolled, self._ack_of(stored, duplicate=existing is not None)

    def _sequenced_record(self, chain_id: bytes, seq: int) -> StoredRecord:
        held: list[StoredRecord] = []

        def there() -> bool:
            rec = self.store.get_record(chain_id, seq)
            if rec is not None:
                held.append(rec)
            return rec is not None

        self._wait_until(there, time.monotonic() + self.sequence_wait_s)
        return held[0]

    # ----------------------------------------------------------------- reads

    def _cover(self, size: int) -> None:
        if self.tree.size < size:
            self.follow()

    def receipt(
        self, chain_id: bytes, seq: int
    ) -> tuple[Ack, StoredRecord, StoredCheckpoint | None, list[bytes]]:
        rec = self.store.get_record(chain_id, seq)
        if rec is None:
            raise Rejected(
                "NOT_FOUND", "unknown_record", f"no record at chain {chain_id.hex()} seq {seq}"
            )
        latest = self.store.latest_checkpoint()
        path: list[bytes] = []
        if latest is not None and latest.tree_size > rec.log_index:
            with self.tree_lock:
                self._cover(latest.tree_size)
                path = self.tree.inclusion_proof(rec.log_index, latest.tree_size)
        return self._ack_of(rec, duplicate=True), rec, latest, path

    def consistency(self, first: int, second: int) -> tuple[int, bytes, bytes, list[bytes]]:
        with self.tree_lock:
            self._cover(self.size)
            return super().consistency(first, second)

    def chain_head(self, chain_id: bytes) -> tuple[Head, int]:
        """The chain's newest record *in the log* (queued ones are not acknowledged)."""
        device = self.store.get_device(chain_id)
        head = self.queue.sequenced_head(chain_id) if device is not None else None
        if device is None or head is None:
            raise Rejected("NOT_FOUND", "unknown_chain", f"unknown chain {chain_id.hex()}")
        seq, link, index = head
        key = self._key_at(chain_id, seq + 1) or device.current_key
        return Head(seq, link, key), index

    def checkpoint(self) -> StoredCheckpoint | None:
        """The sequencer signs one over the whole log now; any other frontend returns the
        newest stored one (only the sequencer holds the log's pen)."""
        if self.log_thread.is_sequencer:
            self.log_thread.checkpoint_now(self.sequence_wait_s)
        latest = self.store.latest_checkpoint()
        if latest is not None:
            self.latest = latest
        return latest
