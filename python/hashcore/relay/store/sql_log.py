"""The SQL store's log of records: the atomic append (records, heads, a checkpoint and
fork evidence in one transaction) and the reads of records and links.

:class:`SqlLog` builds on :class:`SqlCheckpoints` and :class:`SqlEvidence` because an
append may carry a checkpoint and fork evidence that must commit with its records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa

from ... import _core
from ...errors import ConflictError, StoreError
from .base import (
    ChainHead,
    ForkEvidence,
    StoredCheckpoint,
    StoredRecord,
)
from .sql_checkpoints import SqlCheckpoints
from .sql_evidence import SqlEvidence
from .sql_rows import (
    INT64_MAX,
    KIND_ROTATION,
    RECORD_COLUMNS,
    Row,
    check_int64,
    record_from_row,
    records_batch,
)


class SqlLog(SqlCheckpoints, SqlEvidence):
    """Appends and reads of the records (the Merkle log's leaves)."""

    def append(
        self,
        records: Sequence[StoredRecord],
        heads: Sequence[ChainHead],
        checkpoint: StoredCheckpoint | None = None,
        evidence: Sequence[ForkEvidence] = (),
        *,
        blocks: Sequence[_core.IngestBlock] = (),
    ) -> None:
        # A StoredRecord is a tuple in RECORD_COLUMNS order: the drivers take it as is.
        rows: list[Row] = list(records)
        latest = self._check_heads(records, heads, blocks)
        indexes = [i for b in blocks for i in range(b.first_index, b.next_index)]
        indexes += [row[0] for row in rows]
        try:
            with self._write("append"):
                # Heads first: updating them proves every chain written to is enrolled.
                if latest:
                    self._move_heads(latest)
                if indexes:
                    self._check_positions("append", indexes)
                for block in blocks:  # before the rows: the blocks come first in the log
                    self._insert_block(block)
                if rows:
                    self._insert_records(rows)
                if checkpoint is not None:
                    self._insert_checkpoint("append", checkpoint)
                for ev in evidence:  # after the records: it may point at one of them
                    self._insert_fork_evidence("append", ev)
        except ConflictError as exc:
            better = self._explain_conflict(
                [StoredRecord(*r) for b in blocks for r in b.rows()] + list(records)
            )
            if better is None:
                raise
            raise better from exc

    def _check_heads(
        self,
        records: Sequence[StoredRecord],
        heads: Sequence[ChainHead],
        blocks: Sequence[_core.IngestBlock] = (),
    ) -> dict[bytes, ChainHead]:
        """One head per chain (the last given wins); every chain with records in the batch
        must have one, at its last record. The store keeps heads next to the records, and
        a stale head would make the relay accept a wrong next seq."""
        latest = {h.chain_id: h for h in heads}
        for moved in latest.values():
            check_int64("head_seq", moved.head_seq)
        # (seq, link) of each chain's last record: a block's heads are its chains' last.
        last: dict[bytes, tuple[int, bytes]] = {}
        for block in blocks:
            check_int64("log_index", block.next_index - 1)
            for chain_id, seq, link, _ in block.heads():
                last[chain_id] = (seq, link)
        for r in records:
            held = last.get(r.chain_id)
            if held is None or r.seq > held[0]:
                last[r.chain_id] = (r.seq, r.link)
        if records:
            check_int64("log_index", records[-1].log_index)
        for chain_id, (seq, link) in last.items():
            check_int64("seq", seq)
            head = latest.get(chain_id)
            if head is None or (head.head_seq, head.head_link) != (seq, link):
                got = "no head" if head is None else f"a head at seq {head.head_seq}"
                raise self._fail(
                    "append",
                    f"chain {chain_id.hex()}: its head must move to its last record in the "
                    f"batch (seq {seq} and its link); got {got}",
                )
        return latest

    def _insert_block(self, block: _core.IngestBlock) -> None:
        """A hot-path block's records (the drivers override this with faster forms)."""
        self._insert_records(block.rows())

    def _move_heads(self, latest: dict[bytes, ChainHead]) -> None:
        # The count of updated devices tells whether every chain was enrolled.
        if self._update_heads(list(latest.values())) != len(latest):
            unknown = [
                c.hex()
                for c in latest
                if not self._one("SELECT 1 FROM devices WHERE chain_id = ?", (c,))
            ]
            raise self._fail("append", f"heads of chains that are not enrolled: {unknown}")

    def _explain_conflict(self, records: Sequence[StoredRecord]) -> ConflictError | None:
        """After a unique violation: which (chain_id, seq) collided, for the relay's
        fork handling and the operator. None if it was not a record (a checkpoint)."""
        seen: set[tuple[bytes, int]] = set()
        for r in records:
            key = (r.chain_id, r.seq)
            if key in seen:
                return self._conflict(
                    "append", f"the batch holds chain {r.chain_id.hex()} seq {r.seq} twice"
                )
            seen.add(key)
        taken = self.get_records(seen)
        for r in records:
            held = taken.get((r.chain_id, r.seq))
            if held is not None:
                return self._conflict(
                    "append",
                    f"chain {r.chain_id.hex()} seq {r.seq} is already taken "
                    f"(log_index {held.log_index}); nothing of the batch was stored",
                )
        return None

    def get_record(self, chain_id: bytes, seq: int) -> StoredRecord | None:
        return self.get_records([(chain_id, seq)]).get((chain_id, seq))

    def get_records(
        self, keys: Iterable[tuple[bytes, int]]
    ) -> dict[tuple[bytes, int], StoredRecord]:
        # A seq beyond int64 can't be stored, so it is simply not there.
        wanted = list({(bytes(c), s) for c, s in keys if 0 <= s <= INT64_MAX})
        if not wanted:
            return {}
        with self._read("get_records"):
            rows = self._select_keys(wanted)
        out = {}
        for row in rows:
            rec = record_from_row(row)
            out[(rec.chain_id, rec.seq)] = rec
        return out

    def record_at(self, log_index: int) -> StoredRecord | None:
        if not 0 <= log_index <= INT64_MAX:
            return None
        with self._read("record_at"):
            row = self._one(
                f"SELECT {RECORD_COLUMNS} FROM records WHERE log_index = ?", (log_index,)
            )
        return record_from_row(row) if row else None

    def rotations(self, chain_id: bytes) -> list[tuple[int, bytes]]:
        with self._read("rotations"):
            rows = self._all(
                "SELECT seq, payload FROM records WHERE chain_id = ? AND kind = ? ORDER BY seq",
                (chain_id, KIND_ROTATION),
            )
        return [(int(r[0]), bytes(r[1])) for r in rows if r[1] is not None]

    def iter_entries(self, start: int = 0, chunk: int = 65536) -> Iterator[bytes]:
        if chunk < 1:
            raise StoreError(f"chunk must be positive, got {chunk}")
        # One query per chunk, each under the lock, so a slow consumer never blocks the
        # writer; entries never change, and positions are consecutive, so chunks join up.
        pos = max(start, 0)
        while True:
            with self._read("iter_entries"):
                rows = self._all(
                    "SELECT link, received_ms FROM records WHERE log_index >= ? "
                    "ORDER BY log_index LIMIT ?",
                    (pos, chunk),
                )
            if rows:
                yield b"".join(
                    b"\x02" + bytes(r[0]) + int(r[1]).to_bytes(8, "big", signed=True) for r in rows
                )
            if len(rows) < chunk:
                return
            pos += len(rows)

    def iter_record_batches(
        self, batch_rows: int = 65536, upto: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        if batch_rows < 1:
            raise StoreError(f"batch_rows must be positive, got {batch_rows}")
        limit = INT64_MAX if upto is None else max(0, min(upto, INT64_MAX))
        for rows in self._snapshot_rows(limit, batch_rows):
            yield records_batch(rows)
