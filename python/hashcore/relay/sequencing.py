"""The checks of a group of batches against the chains' heads: which records are resent
(acknowledged again, or refused as forks and kept as evidence), which are new (they must
continue their chain's head without gaps, link to it and to each other, and carry a valid
commitment and signature under the key in force), and the staging of every accepted
batch into one :class:`Group`, in batch order (= log order).

A batch is all-or-nothing, and a refused batch does not affect the others. Nothing here
touches the Merkle tree or writes to the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import _core
from ..errors import StoreError
from .limits import Limits
from .record_checks import (
    Columns,
    SubmittedRecord,
    check_time,
    hash_and_verify,
    refuse_content,
    where,
)
from .rejection import Rejected, invalid, too_large
from .staging import Ack, Group, Head, entry_of
from .store.base import ForkEvidence, StoredRecord

__all__ = ["Ack", "Group", "GroupChecker", "Head", "HeadOf", "HeldOf", "entry_of", "stored_row"]


#: A chain's head before the group being checked (groups in flight, then the committed).
HeadOf = Callable[[bytes], Head | None]
#: (link, log_index, received_ms) of a record accepted before the group, or None.
HeldOf = Callable[[bytes, int], tuple[bytes, int, int] | None]
#: The root of the checkpoint of that size the relay signed (stored or in flight), or None.
SignedRoot = Callable[[int], bytes | None]
#: receipt_sig of (log_index, entry) under the relay's log key (SPEC v2 2.4).
SignReceipt = Callable[[int, bytes], bytes]
#: receipt_sigs of consecutive positions from the first, over the concatenated entries.
SignReceipts = Callable[[int, bytes], list[bytes]]
#: The key in force for a chain at a seq (SPEC 1.4), for judging a fork's signature.
KeyAt = Callable[[bytes, int], bytes | None]
#: How many fork evidence rows a chain has stored.
EvidenceCount = Callable[[bytes], int]


@dataclass(slots=True)
class _Plan:
    """Pass 1 of a batch: its columns, its records by chain, where each chain's new
    records start, the key each record must be signed with, each chain's key after it."""

    cols: Columns
    by_chain: dict[bytes, list[int]]
    new_from: dict[bytes, int]
    keys: list[bytes]
    next_keys: dict[bytes, bytes]

    def provisional_heads(self) -> dict[bytes, Head]:
        """Heads as they will be if this batch passes (links are not known yet)."""
        out = {}
        for chain_id, idx in self.by_chain.items():
            if self.new_from[chain_id] < len(idx):
                last = idx[-1]
                out[chain_id] = Head(self.cols.seqs[last], b"", self.next_keys[chain_id])
        return out


def _hash_and_verify_plans(plans: Sequence[_Plan]) -> list[tuple[list[bytes], bytes]]:
    """Links and reject codes for every record of every plan, in ONE Rust call (hashing
    and signatures, without the GIL), split back per plan."""
    links, codes = hash_and_verify(
        [p.cols for p in plans], b"".join(b"".join(p.keys) for p in plans)
    )
    out = []
    at = 0
    for p in plans:
        n = len(p.keys)
        out.append((links[at : at + n], codes[at : at + n]))
        at += n
    return out


def stored_row(index: int, rec: SubmittedRecord, link: bytes, now: int) -> StoredRecord:
    """A checked record as the store keeps it at log position ``index``."""
    return StoredRecord(
        log_index=index,
        chain_id=bytes(rec.chain_id),
        seq=rec.seq,
        time_ms=rec.time_ms,
        kind=rec.kind,
        prev=bytes(rec.prev),
        commit=bytes(rec.commit),
        beacon_size=rec.beacon_size,
        beacon_root=bytes(rec.beacon_root),
        link=link,
        signature=bytes(rec.signature),
        salt=bytes(rec.salt),
        payload=bytes(rec.payload),
        received_ms=now,
    )


def _explain_order(batch: Sequence[SubmittedRecord], idx: list[int], seqs: list[int]) -> None:
    """A chain's records in a batch must be consecutive seqs in order; say which isn't."""
    for j in range(1, len(idx)):
        if seqs[j] == seqs[j - 1] or seqs[j] in seqs[:j]:
            i = idx[j]
            raise invalid("malformed", f"{where(i, batch[i])}: appears twice in the batch")
        if seqs[j] != seqs[j - 1] + 1:
            i = idx[j]
            raise Rejected(
                "FAILED_PRECONDITION",
                "gap",
                f"{where(i, batch[i])}: follows seq {seqs[j - 1]} of its chain in the "
                "batch (a chain's records must come in seq order, without gaps)",
            )
    raise AssertionError("unreachable: the seqs were consecutive")


class GroupChecker:
    """Checks the batches of one group against the heads before it and stages them."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], int],
        head_of: HeadOf,
        held_of: HeldOf,
        *,
        signed_root: SignedRoot,
        sign_receipt: SignReceipt,
        sign_receipts: SignReceipts,
        key_at: KeyAt,
        evidence_count: EvidenceCount,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._head_before = head_of
        self._held_before = held_of
        self._signed_root = signed_root
        self._sign_receipt = sign_receipt
        self._sign_receipts = sign_receipts
        self._key_at = key_at
        self._evidence_count = evidence_count

    def check(
        self,
        batches: Sequence[Sequence[SubmittedRecord]],
        next_index: int,
        group: Group | None = None,
    ) -> tuple[list[list[Ack] | Rejected], Group, list[ForkEvidence]]:
        """Per batch its acks or why it was refused; the group of the accepted ones,
        whose log positions start at ``next_index``; the fork evidence found. ``group``:
        what the group already staged before these batches (the Rust hot path's blocks).

        Signatures are verified for the whole group in one Rust call: Ed25519 batch
        verification gets much cheaper per signature in batches of hundreds, and the
        group is split across cores. That call plans every batch as if the ones before it
        pass; if one is then refused, the batches after it are re-checked on their own.
        """
        group = group or Group(next_index=next_index)
        results: list[list[Ack] | Rejected] = []
        evidence: list[ForkEvidence] = []
        provisional: dict[bytes, Head] = {}

        def head(chain_id: bytes) -> Head | None:
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
        verdicts = iter(_hash_and_verify_plans(checked))
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
        return results, group, evidence

    def _head(self, chain_id: bytes, group: Group) -> Head | None:
        return group.heads.get(chain_id) or self._head_before(chain_id)

    def _stage(
        self, batch: Sequence[SubmittedRecord], group: Group, evidence: list[ForkEvidence]
    ) -> list[Ack]:
        """Check one batch against the committed + staged state; stage it if it passes."""
        plan = self._plan(batch, lambda chain_id: self._head(chain_id, group))
        links, codes = _hash_and_verify_plans([plan])[0]
        return self._finish(batch, plan, links, codes, group, evidence)

    def _plan(
        self, batch: Sequence[SubmittedRecord], head_of: Callable[[bytes], Head | None]
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
        cols = Columns(batch)
        if n:
            cols.check_shapes(batch, self.limits)
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
                    f"{where(i, batch[i])}: unknown chain (not enrolled)",
                )
            seqs = [cols.seqs[i] for i in idx]
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                _explain_order(batch, idx, seqs)
            first_new = min(len(idx), max(0, head.seq + 1 - seqs[0]))
            if first_new < len(idx) and seqs[first_new] != head.seq + 1:
                i = idx[first_new]
                raise Rejected(
                    "FAILED_PRECONDITION",
                    "gap",
                    f"{where(i, batch[i])}: seq jumps from {head.seq} to {seqs[first_new]} "
                    f"(send seq {head.seq + 1} first)",
                )
            new_from[chain_id] = first_new
            key = head.key
            for j, i in enumerate(idx):
                keys[i] = key
                # A rotation's key signs from the next record on (checked in Rust).
                if j >= first_new and cols.kinds[i] == _core.KIND_ROTATION:
                    key = cols.payloads[i]
            next_keys[chain_id] = key
        if n:
            self._check_times(batch, cols, by_chain, new_from)
        return _Plan(cols, by_chain, new_from, keys, next_keys)

    def _check_times(
        self,
        batch: Sequence[SubmittedRecord],
        cols: Columns,
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
            check_time(i, batch[i], self.limits, now)

    def _finish(
        self,
        batch: Sequence[SubmittedRecord],
        plan: _Plan,
        links: list[bytes],
        codes: bytes,
        group: Group,
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
                f"{where(i, batch[i])}: link is not the link of the record's header",
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
                    f"{where(i, batch[i])}: prev is not the link of seq {cols.seqs[i] - 1}",
                )
            for i in fresh:
                if codes[i]:
                    raise refuse_content(i, batch[i], codes[i])
        self._check_beacons(batch, cols, by_chain, new_from, group.next_index)

        # The whole batch passed: stage it, in batch order (= log order).
        for chain_id, idx in by_chain.items():
            fresh = idx[new_from[chain_id] :]
            if fresh:
                last = fresh[-1]
                group.heads[chain_id] = Head(cols.seqs[last], links[last], plan.next_keys[chain_id])
        first = index = group.next_index
        fresh_rows = [i for i in range(n) if i not in resent]
        # Every new record's receipt in one Rust call (the log key derived once).
        stamp = now.to_bytes(8, "big", signed=True)
        sigs = self._sign_receipts(
            first, b"".join([b"\x02" + links[i] + stamp for i in fresh_rows])
        )
        acks: list[Ack] = []
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
                    cols.beacon_sizes[i],
                    cols.beacon_roots[i],
                    links[i],
                    cols.signatures[i],
                    cols.salts[i],
                    cols.payloads[i],
                    now,
                )
            )
            group.positions[(chain_id, seq)] = (links[i], index, now)
            acks.append(Ack(chain_id, seq, index, False, now, sigs[index - first]))
            index += 1
        group.next_index = index
        return acks

    def _resent(
        self,
        i: int,
        rec: SubmittedRecord,
        link: bytes,
        group: Group,
        evidence: list[ForkEvidence],
        now: int,
    ) -> Ack:
        """A record at a seq the relay already holds: the same one is acknowledged with its
        original position; a different one is a fork, refused and kept as evidence."""
        chain_id = bytes(rec.chain_id)
        held = group.held(chain_id, rec.seq) or self._held_before(chain_id, rec.seq)
        if held is None:  # cannot happen while the store and heads agree
            raise StoreError(f"chain {chain_id.hex()} seq {rec.seq} is missing from the store")
        held_link, held_index, held_ms = held
        if held_link == link:
            # The original position and time, and its receipt again (Ed25519 signatures
            # are deterministic: the same bytes the first ack carried).
            sig = self._sign_receipt(held_index, entry_of(held_link, held_ms))
            return Ack(chain_id, rec.seq, held_index, True, held_ms, sig)
        kept = self._keep_fork(rec, link, group, evidence)
        if kept:
            row = stored_row(held_index, rec, link, now)
            # The refused record whole, pointing at the one held (ForkEvidence's field
            # order is the row's with the log position moved after the seq).
            evidence.append(ForkEvidence(row.chain_id, row.seq, held_index, *row[3:]))
        raise Rejected(
            "ALREADY_EXISTS",
            "fork",
            f"{where(i, rec)}: a different record holds this seq (log_index {held_index}); "
            f"refused as a fork{(kept and ' and kept as evidence') or ''}",
        )

    def _keep_fork(
        self, rec: SubmittedRecord, link: bytes, group: Group, evidence: list[ForkEvidence]
    ) -> str:
        """Why a fork is kept as evidence ("" when not): only a record whose signature
        verifies under the chain's key at that seq proves anything against the device
        (anything else anybody could make up and fill the store with), and only the
        first ``max_fork_evidence_per_chain`` of a chain are kept."""
        chain_id = bytes(rec.chain_id)
        key = self._key_at(chain_id, rec.seq)
        if key is None or _core.check_public_key(key) != "valid":
            return ""
        if not _core.verify_signature(key, link, bytes(rec.signature)):
            return ""
        staged = sum(1 for e in evidence if e.chain_id == chain_id)
        if self._evidence_count(chain_id) + staged >= self.limits.max_fork_evidence_per_chain:
            return ""
        return "kept"

    def _check_beacons(
        self,
        batch: Sequence[SubmittedRecord],
        cols: Columns,
        by_chain: dict[bytes, list[int]],
        new_from: dict[bytes, int],
        first_index: int,
    ) -> None:
        """SPEC v2 1.5 on ingest: a new record's beacon (when it names one) must be a
        checkpoint this relay signed, of a size not above the record's own log position
        (a record can't have seen a log that already held it: SPEC 5.1 BAD_BEACON)."""
        if not any(cols.beacon_sizes):
            return
        fresh = sorted(i for c, idx in by_chain.items() for i in idx[new_from[c] :])
        for position, i in enumerate(fresh):
            size = cols.beacon_sizes[i]
            if not size:
                continue
            index = first_index + position
            if size > index:
                raise invalid(
                    "bad_beacon",
                    f"{where(i, batch[i])}: beacon_size {size} is not older than the "
                    f"record (it would be at log_index {index}; a beacon names a log "
                    "state before the record)",
                )
            root = self._signed_root(size)
            if root != cols.beacon_roots[i]:
                what = (
                    "no checkpoint of that size" if root is None else "another root for that size"
                )
                raise invalid(
                    "bad_beacon",
                    f"{where(i, batch[i])}: beacon ({size}, {bytes(cols.beacon_roots[i]).hex()})"
                    f" is not a checkpoint this relay signed ({what})",
                )
