"""The relay's storage interface: what the relay needs from a database, nothing more.

The relay is the only writer of its store (one process, one writer task), so the
interface is synchronous and the relay calls it from a worker thread, never from the
event loop. Every method that changes state runs in one transaction: either all of it is
durable when the method returns, or none of it is (the database rolled back).

Two implementations: :mod:`.sqlite` (one file, WAL, ``synchronous=FULL``; the embedded
default) and :mod:`.postgres` (psycopg 3; for several relays or a managed database).
:func:`hashcore.relay.store.open_store` picks one from a path or URL.

Readers (``hashcore relay export``, an operator's query) may open the same store while
the relay runs; they see committed data only.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa

from ... import _core
from ...checkpoint import Anchor as Anchor
from ...checkpoint import StoredCheckpoint as StoredCheckpoint
from ...errors import StoreError

__all__ = [
    "SCHEMA_VERSION",
    "Anchor",
    "ChainHead",
    "Device",
    "Erasure",
    "ForkEvidence",
    "Store",
    "StoreUnavailableError",
    "StoredCheckpoint",
    "StoredRecord",
]

#: Version of the store schema this code writes; migrations bring older stores up to it.
SCHEMA_VERSION = 2


class StoreUnavailableError(StoreError):
    """The database could not do its part (disk full, an I/O error, a lost connection, a
    lock held too long): not the request's fault, and worth retrying later.

    ``kind`` says which (``disk_full``, ``io``, ``locked``, ``connection``): the label of
    the relay's ``hashcore_store_errors_total`` metric, and what decides the status a
    client gets (RESOURCE_EXHAUSTED for a full disk, UNAVAILABLE otherwise). The message
    names the store (a path or URL without password): for the relay's log, not for
    clients.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class StoredRecord(NamedTuple):
    """One accepted record at its log position (the SPEC v2 section 4 row).

    A NamedTuple, not a dataclass: the relay makes one per ingested record, and a tuple in
    column order is also what the database driver takes, with no conversion.
    """

    log_index: int
    chain_id: bytes  # 16
    seq: int
    time_ms: int
    kind: int
    prev: bytes  # 32
    commit: bytes  # 32
    beacon_size: int
    beacon_root: bytes  # 32
    link: bytes  # 32
    signature: bytes  # 64
    salt: bytes | None  # 16, None once erased
    payload: bytes | None  # None once erased
    received_ms: int

    @property
    def entry(self) -> bytes:
        """The SPEC v2 2.1 log entry ``0x02 || link || i64be(received_ms)``."""
        return b"\x02" + self.link + self.received_ms.to_bytes(8, "big", signed=True)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain stands after a batch: its last seq, that record's link, its key."""

    chain_id: bytes
    head_seq: int
    head_link: bytes
    current_key: bytes  # the key in force for seq head_seq + 1


@dataclass(frozen=True, slots=True)
class Device:
    """An enrolled device (one chain) and the participant it was enrolled for."""

    chain_id: bytes
    participant: str
    genesis_key: bytes
    current_key: bytes
    head_seq: int
    head_link: bytes
    enrolled_ms: int


@dataclass(frozen=True, slots=True)
class ForkEvidence:
    """A record refused because another record already holds its (chain_id, seq).

    ``existing_log_index`` points at the record the relay holds; the refused record is
    kept whole so that the pair proves the device (or its key) signed both. Only
    records whose signature verifies under the chain's key are kept (anything else proves
    nothing against the device), and at most ``Limits.max_fork_evidence_per_chain`` a chain.
    """

    chain_id: bytes
    seq: int
    existing_log_index: int
    time_ms: int
    kind: int
    prev: bytes
    commit: bytes
    beacon_size: int
    beacon_root: bytes
    link: bytes
    signature: bytes
    salt: bytes | None
    payload: bytes | None
    received_ms: int


@dataclass(frozen=True, slots=True)
class Erasure:
    """A right-to-erasure request carried out on one record (SPEC 1.1)."""

    log_index: int
    erased_ms: int
    reason: str


class Store(abc.ABC):
    """A relay's durable state. See the module docstring for the transaction rules.

    Errors: every failure is a :class:`hashcore.errors.StoreError` (or a subclass), with a
    message naming what was wrong; driver exceptions never leak out.
    """

    # ------------------------------------------------------------------ lifecycle

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version of the open store (after migration: SCHEMA_VERSION)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ identity

    @abc.abstractmethod
    def get_log_id(self) -> bytes | None:
        """The relay log key this store belongs to, or None for a new store."""

    @abc.abstractmethod
    def set_log_id(self, log_id: bytes) -> None:
        """Bind the store to a relay key. Raises ConflictError if bound to another one."""

    @abc.abstractmethod
    def get_meta(self, key: str) -> bytes | None:
        """A value the relay keeps about its log (e.g. ``origin``), or None."""

    @abc.abstractmethod
    def set_meta(self, key: str, value: bytes) -> None:
        """Set a value once; ConflictError if another value is already set."""

    def witness_sizes(self) -> dict[str, int]:
        """The tree size each witness (by ``set_witness_size``'s name) last said it has."""
        raise NotImplementedError(f"{type(self).__name__} keeps no witness sizes")

    def set_witness_size(self, witness: str, size: int) -> None:
        """Keep the size ``witness`` has (replacing the one kept): the relay's pusher
        starts from it after a restart (issue 11)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no witness sizes")

    @abc.abstractmethod
    def store_id(self) -> bytes:
        """A random 16-byte id made on the first call and kept in the store: it names this
        store (and its backups), so a relay's key can record the one store it serves."""

    # ------------------------------------------------------------------ enrollment

    @abc.abstractmethod
    def add_token(
        self, token_hash: bytes, participant: str, created_ms: int, expires_ms: int
    ) -> None:
        """Store a new one-time enrollment token (only its hash is kept)."""

    @abc.abstractmethod
    def enroll(
        self, token_hash: bytes, now_ms: int, genesis: StoredRecord, device: Device
    ) -> Device:
        """In one transaction: use the token, add the device, append its genesis record.

        The participant is the token's: only the store knows it (it keeps just the
        token's hash), so ``device.participant`` may be ``""`` to take it from the token;
        any other value must be the token's. ``genesis`` must be the device's seq-0
        genesis at :meth:`tree_size`, and the device's head that record.

        Returns the device as stored (with the token's participant).

        Raises:
            TokenRejectedError: the token is unknown, used, or expired at ``now_ms``.
            ConflictError: the chain is already enrolled or the log position is taken.
            StoreError: the participant, genesis or head disagree as described above.
        """

    @abc.abstractmethod
    def enrolled_with(self, token_hash: bytes, chain_id: bytes) -> bool:
        """True iff the token with this hash is the one that enrolled this chain."""

    @abc.abstractmethod
    def get_device(self, chain_id: bytes) -> Device | None:
        """One device, with its current head."""

    @abc.abstractmethod
    def list_devices(self, participant: str | None = None) -> list[Device]:
        """All devices (or those of one participant), ordered by enrollment."""

    # ------------------------------------------------------------------ the log

    @abc.abstractmethod
    def tree_size(self) -> int:
        """Number of records in the log (= the next log_index)."""

    @abc.abstractmethod
    def append(
        self,
        records: Sequence[StoredRecord],
        heads: Sequence[ChainHead],
        checkpoint: StoredCheckpoint | None = None,
        evidence: Sequence[ForkEvidence] = (),
        *,
        blocks: Sequence[_core.IngestBlock] = (),
    ) -> None:
        """In one transaction: insert records, move the chains' heads, add a checkpoint,
        keep fork evidence (after the records: it may point at one of them).

        ``blocks``: records the relay's Rust hot path accepted, in its own buffers; they
        come before ``records`` in the log (each block's rows are ``block.rows()``, in
        StoredRecord field order), and the heads cover their chains too.

        ``records`` carry consecutive log indexes starting at :meth:`tree_size`. Every
        chain with records in the batch has its head in ``heads``, at its last record
        (highest seq, that record's link); the head update is also how the store checks
        that the chain is enrolled. ``checkpoint`` (if any) may not exceed the new size;
        adding the very same checkpoint again is a no-op. ``evidence`` is kept as by
        :meth:`add_fork_evidence`.

        Raises:
            ConflictError: a log_index or (chain_id, seq) is already taken, or another
                checkpoint of that tree_size is stored; nothing stored.
            StoreError: a gap in log indexes, a missing or wrong head, a chain that is
                not enrolled, a value beyond int64, evidence pointing at no record;
                nothing stored.
        """

    @abc.abstractmethod
    def get_record(self, chain_id: bytes, seq: int) -> StoredRecord | None:
        """The record at (chain_id, seq), if the relay holds one."""

    @abc.abstractmethod
    def get_records(
        self, keys: Iterable[tuple[bytes, int]]
    ) -> dict[tuple[bytes, int], StoredRecord]:
        """Batch form of :meth:`get_record` (missing keys are absent from the result)."""

    @abc.abstractmethod
    def record_at(self, log_index: int) -> StoredRecord | None:
        """The record at a log position."""

    @abc.abstractmethod
    def iter_entries(self, start: int = 0, chunk: int = 65536) -> Iterator[bytes]:
        """Log entries (SPEC v2 2.1: ``0x02 || link || i64be(received_ms)``) in log order
        from ``start``, as concatenated 41-byte chunks of ``chunk`` entries.

        Used to rebuild the Merkle log on start-up in one O(n) pass.
        """

    @abc.abstractmethod
    def rotations(self, chain_id: bytes) -> list[tuple[int, bytes]]:
        """(seq, new key) of every key rotation record of a chain, by seq."""

    @abc.abstractmethod
    def count_fork_evidence(self, chain_id: bytes) -> int:
        """How many fork evidence rows a chain has (the relay bounds them per chain)."""

    @abc.abstractmethod
    def add_fork_evidence(self, evidence: ForkEvidence) -> None:
        """Keep a refused conflicting record (idempotent for an identical pair)."""

    @abc.abstractmethod
    def list_fork_evidence(self, chain_id: bytes | None = None) -> list[ForkEvidence]:
        """Fork evidence, oldest first."""

    @abc.abstractmethod
    def erase(self, log_index: int, erased_ms: int, reason: str) -> Erasure:
        """Delete payload and salt of a data record, keeping commit and link (SPEC 1.1).

        Idempotent: erasing an erased record returns the first Erasure.

        Raises:
            StoreError: no record at ``log_index``, or it is a genesis/rotation (kind 0/2).
        """

    @abc.abstractmethod
    def list_erasures(self) -> list[Erasure]:
        """Every erasure carried out, in order."""

    # ------------------------------------------------------------------ checkpoints

    @abc.abstractmethod
    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a checkpoint on its own (append() can also add one atomically)."""

    @abc.abstractmethod
    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint with the largest tree_size."""

    @abc.abstractmethod
    def get_checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        """The checkpoint of exactly this size."""

    @abc.abstractmethod
    def list_checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, by tree_size."""

    def checkpoints_after(self, tree_size: int, limit: int) -> list[StoredCheckpoint]:
        """The checkpoints larger than ``tree_size``, ascending, at most ``limit``."""
        return [cp for cp in self.list_checkpoints() if cp.tree_size > tree_size][:limit]

    @abc.abstractmethod
    def set_checkpoint_note(self, tree_size: int, note: bytes) -> None:
        """Replace a stored checkpoint's note by the same checkpoint with more signature
        lines (witness cosignatures, SPEC v2 2.3). The caller checks the body is the same."""

    @abc.abstractmethod
    def set_anchor(self, tree_size: int, anchor: Anchor | None) -> None:
        """Record (or, after a reorg dropped it, clear with None) a checkpoint's anchor."""

    # ------------------------------------------------------------------ export

    @abc.abstractmethod
    def iter_record_batches(
        self, batch_rows: int = 65536, upto: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Records with ``log_index < upto`` (all when None) in log order, as Arrow batches
        of RECORD_SCHEMA_V2 (SPEC v2 section 4).

        Streams: memory is bounded by ``batch_rows``, whatever the store's size. Reads one
        consistent snapshot.
        """

    @abc.abstractmethod
    def checkpoints_table(self) -> pa.Table:
        """Every checkpoint as a CHECKPOINT_SCHEMA_V2 table (tx_hash/block_number null when
        not anchored)."""
