"""The relay's hot path for Submit: a group's raw ``SubmitRequest`` bytes go to Rust
(``_core.IngestGroup``) undecoded. Rust decodes them, checks the leading batches that pass
outright (new records continuing their chains, shapes, times, links, commitments,
beacons, signatures) and signs their receipts, all without the GIL, and hands back one
``_core.IngestBlock``: the log entries, the new heads, the store's rows or COPY buffer and
each batch's ``SubmitResponse`` bytes. Python makes no object per record on that path.

The first batch that does not pass outright, and every batch after it in the group, go
to the Python checker (:mod:`.sequencing`) as before: it words every refusal, keeps fork
evidence and acknowledges resent records, against the heads the block staged. So every
refusal keeps its status and exact message, and the acks of a batch are the same on
either path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import _core
from .limits import Limits
from .record_checks import SubmittedRecord
from .rejection import Rejected
from .sequencing import Ack, Group, GroupChecker, Head
from .store.base import ForkEvidence
from .v2 import relay_pb2 as pb

__all__ = ["FastPath", "RawReply", "RawRequest", "decode_request", "records_in"]

#: A protobuf-encoded record of the bench's size is ~420 bytes: what the writer counts a
#: raw request as while it fills a group (a soft cap, so an estimate does).
_BYTES_PER_RECORD = 400


class RawRequest:
    """A SubmitRequest as received: bytes, parsed in Rust (or, off the hot path, here)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def estimated_records(self) -> int:
        return max(1, len(self.raw) // _BYTES_PER_RECORD)


class RawReply:
    """What a RawRequest is answered with once its group is stored: the SubmitResponse's
    bytes (made in Rust for a batch of the block, by protobuf for one the Python checker
    accepted) with the log size at answer time."""

    __slots__ = ("_acks", "_batch", "_batch_id", "_block", "duplicates", "fresh")

    def __init__(
        self,
        block: _core.IngestBlock | None,
        batch: int,
        acks: list[Ack] | None = None,
        batch_id: int = 0,
    ) -> None:
        self._block, self._batch, self._acks, self._batch_id = block, batch, acks, batch_id
        if block is not None:
            self.fresh, self.duplicates = block.batch_len(batch), 0
        else:
            assert acks is not None
            self.duplicates = sum(1 for a in acks if a.duplicate)
            self.fresh = len(acks) - self.duplicates

    @property
    def from_block(self) -> bool:
        """Whether the Rust hot path accepted the batch (else the Python checker did)."""
        return self._block is not None

    def response(self, tree_size: int) -> bytes:
        if self._block is not None:
            return self._block.response(self._batch, tree_size)
        acks = [
            pb.Ack(
                chain_id=a.chain_id,
                seq=a.seq,
                log_index=a.log_index,
                duplicate=a.duplicate,
                received_ms=a.received_ms,
                receipt_sig=a.receipt_sig,
            )
            for a in self._acks or ()
        ]
        data: bytes = pb.SubmitResponse(
            batch_id=self._batch_id, acks=acks, tree_size=tree_size
        ).SerializeToString()
        return data


def decode_request(raw: bytes) -> pb.SubmitRequest:
    """The request parsed by protobuf, refused as the server's interceptor refuses a
    message that is not one (the same status and words)."""
    try:
        request: pb.SubmitRequest = pb.SubmitRequest.FromString(raw)
    except Exception as exc:  # protobuf's DecodeError (untyped), as the interceptor
        raise Rejected(
            "INVALID_ARGUMENT",
            "malformed",
            f"the request is not a valid protobuf message ({exc})",
        ) from None
    return request


def records_in(raw: bytes) -> int:
    """How many records a refused request carried (0 when it is no SubmitRequest)."""
    try:
        return len(decode_request(raw).records)
    except Rejected:
        return 0


Batch = Sequence[SubmittedRecord] | RawRequest
Result = list[Ack] | RawReply | Rejected


@dataclass(slots=True)
class FastPath:
    """What the hot path needs of the ledger (read on the writer thread only)."""

    limits: Limits
    clock: Callable[[], int]
    head_of: Callable[[bytes], Head | None]
    signed_root: Callable[[int], bytes | None]
    log_seed: bytes

    def check(
        self, checker: GroupChecker, batches: Sequence[Batch], next_index: int
    ) -> tuple[list[Result], Group, list[ForkEvidence]]:
        """Per batch its acks (a RawReply for a raw request) or why it was refused; the
        group of the accepted ones from ``next_index``; the fork evidence found."""
        group = Group(next_index=next_index)
        results: list[Result] = self._leading(batches, group)
        rest = batches[len(results) :]
        parsed: list[Sequence[SubmittedRecord]] = []
        slots: list[tuple[int, int] | Rejected] = []  # batch_id and place in `parsed`
        for b in rest:
            if not isinstance(b, RawRequest):
                slots.append((-1, len(parsed)))
                parsed.append(b)
                continue
            try:
                request = decode_request(b.raw)
            except Rejected as r:
                slots.append(r)
                continue
            slots.append((request.batch_id, len(parsed)))
            parsed.append(request.records)
        checked, group, evidence = checker.check(parsed, group.next_index, group)
        for b, slot in zip(rest, slots, strict=True):
            if isinstance(slot, Rejected):
                results.append(slot)
                continue
            batch_id, at = slot
            result = checked[at]
            if isinstance(b, RawRequest) and not isinstance(result, Rejected):
                results.append(RawReply(None, 0, result, batch_id))
            else:
                results.append(result)
        return results, group, evidence

    def _leading(self, batches: Sequence[Batch], group: Group) -> list[Result]:
        """The raw requests at the head of the group through Rust: a RawReply for each
        one accepted there (staged in ``group``)."""
        lead = 0
        while lead < len(batches) and isinstance(batches[lead], RawRequest):
            lead += 1
        if not lead:
            return []
        raws = [b.raw for b in batches[:lead] if isinstance(b, RawRequest)]
        decoded = _core.IngestGroup(raws)
        heads = {}
        for chain_id in decoded.chain_ids():
            head = self.head_of(chain_id)
            if head is not None:
                heads[chain_id] = (head.seq, head.link, head.key)
        signed = {}
        for size in decoded.beacon_sizes():
            root = self.signed_root(size)
            if root is not None:
                signed[size] = root
        now = self.clock()
        low, high = self.limits.time_window(now)
        block = decoded.accept(
            heads,
            signed,
            group.next_index,
            now,
            low,
            high,
            self.limits.max_records_per_batch,
            self.limits.max_payload_bytes,
            self.log_seed,
        )
        if not block.accepted:
            return []
        group.blocks.append(block)
        for chain_id, seq, link, key in block.heads():
            group.heads[chain_id] = Head(seq, link, key)
        group.next_index = block.next_index
        return [RawReply(block, i) for i in range(block.accepted)]
