"""What the SQLite and PostgreSQL stores share: every Store method, written once.

The two backends differ in the driver (placeholders, error types, how a transaction is
opened), in the fast paths (executemany vs. COPY) and in how a long read gets its own
snapshot; :class:`SqlStore` leaves exactly those to them. SQL here uses ``?``
placeholders and only the dialect both databases accept.
"""

from __future__ import annotations

import abc
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pyarrow as pa

from ...errors import ConflictError, StoreError, TokenRejectedError
from ...schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA
from . import migrations
from .base import (
    SCHEMA_VERSION,
    Anchor,
    ChainHead,
    Device,
    Erasure,
    ForkEvidence,
    Store,
    StoredCheckpoint,
    StoredRecord,
)

Row = tuple[Any, ...]

#: Both databases store integers as signed 64-bit; larger SPEC u64 values are refused.
INT64_MAX = 2**63 - 1

_RECORD_FIELDS = tuple(f.name for f in RECORD_SCHEMA)
#: SQL column list of ``records`` in StoredRecord field order ("commit" is a keyword).
RECORD_COLUMNS = ", ".join('"commit"' if n == "commit" else n for n in _RECORD_FIELDS)

_FORK_FIELDS = (
    "chain_id",
    "seq",
    "existing_log_index",
    "time_ms",
    "kind",
    "prev",
    "commit",
    "link",
    "signature",
    "salt",
    "payload",
    "received_ms",
)
_FORK_COLUMNS = ", ".join('"commit"' if n == "commit" else n for n in _FORK_FIELDS)
_DEVICE_COLUMNS = (
    "d.chain_id, d.participant, d.genesis_key, d.current_key, d.head_seq, d.head_link, "
    "d.enrolled_ms"
)
_CHECKPOINT_COLUMNS = (
    "tree_size, root, signature, created_ms, tx_hash, block_number, evm_chain_id, contract, "
    "final, anchor_updated_ms"
)
_KIND_GENESIS = 0
_KIND_ROTATION = 2

# Rows become StoredRecord / ForkEvidence positionally: the column lists follow the fields.
assert StoredRecord._fields == _RECORD_FIELDS  # a StoredRecord *is* its row
assert tuple(ForkEvidence.__dataclass_fields__) == _FORK_FIELDS

#: What a unique violation means, by SQLite's "table.columns" or PostgreSQL's constraint.
_UNIQUE_MEANING = {
    "records.log_index": "the log position is already taken",
    "records_pkey": "the log position is already taken",
    "records.chain_id, records.seq": "a (chain_id, seq) is already taken",
    "records_chain_seq": "a (chain_id, seq) is already taken",
    "devices.chain_id": "the chain is already enrolled",
    "devices_pkey": "the chain is already enrolled",
    "tokens.token_hash": "a token with this hash is already stored",
    "tokens_pkey": "a token with this hash is already stored",
    "checkpoints.tree_size": "a checkpoint of this tree_size is already stored",
    "checkpoints_pkey": "a checkpoint of this tree_size is already stored",
    "meta.key": "the store is already bound to a log_id",
    "meta_pkey": "the store is already bound to a log_id",
}


def unique_meaning(key: str) -> str:
    return _UNIQUE_MEANING.get(key, f"unique constraint {key} violated")


def check_int64(what: str, value: int) -> None:
    if not 0 <= value <= INT64_MAX:
        raise StoreError(f"{what} {value} does not fit the store (0 .. 2**63-1)")


def check_size(what: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise StoreError(f"{what} must be {size} bytes, got {got}")


def record_from_row(row: Row) -> StoredRecord:
    return StoredRecord._make(row)


def _checkpoint_from_row(row: Row) -> StoredCheckpoint:
    tree_size, root, signature, created_ms, tx_hash, block, evm_id, contract, final, upd = row
    anchor = None
    if tx_hash is not None:
        anchor = Anchor(bytes(tx_hash), block, evm_id, contract, bool(final), upd)
    return StoredCheckpoint(tree_size, bytes(root), bytes(signature), created_ms, anchor)


def records_batch(rows: Sequence[Row]) -> pa.RecordBatch:
    """Rows in RECORD_COLUMNS order -> one RECORD_SCHEMA batch."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(RECORD_SCHEMA)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, RECORD_SCHEMA, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=RECORD_SCHEMA)


class SqlStore(Store):
    """A Store over one DB-API connection, guarded by a lock (one caller at a time).

    Subclasses set ``_where`` (how messages name the store) and ``_readonly``, and
    implement the driver hooks below.
    """

    _where: str
    _readonly: bool

    def __init__(self) -> None:
        # Re-entrant: a method may read (under the lock) while explaining a failed write.
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ driver hooks

    @abc.abstractmethod
    def _ensure_open(self) -> None:
        """Raise StoreError if closed (or reconnect, where the driver can)."""

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[None]:
        """BEGIN (taking the write lock) ... COMMIT, or ROLLBACK on any exception."""

    @abc.abstractmethod
    def _map_error(self, exc: BaseException, what: str) -> StoreError | None:
        """The StoreError for a driver exception, or None if ``exc`` is not one."""

    @abc.abstractmethod
    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    @abc.abstractmethod
    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abc.abstractmethod
    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; return the number of rows it changed."""

    @abc.abstractmethod
    def _insert_records(self, rows: list[Row]) -> None:
        """Bulk insert rows in RECORD_COLUMNS order (the hot path of append)."""

    @abc.abstractmethod
    def _update_heads(self, heads: Sequence[ChainHead]) -> int:
        """Move the devices' heads; return how many devices were updated."""

    @abc.abstractmethod
    def _select_keys(self, keys: list[tuple[bytes, int]]) -> list[Row]:
        """Records (RECORD_COLUMNS) at these (chain_id, seq) keys."""

    @abc.abstractmethod
    def _purge_erased(self, what: str) -> None:
        """After an erasure committed: make the database drop every copy of the erased
        bytes it can still reach (old row versions, journal pages). Outside any
        transaction, under the lock; raises StoreError if it could not."""

    @abc.abstractmethod
    def _snapshot_rows(self, upto: int, batch_rows: int) -> Iterator[list[Row]]:
        """Records with log_index < upto in order, in lists of at most batch_rows, from one
        snapshot taken on a separate connection, so that a long export never holds the
        writer's lock."""

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _write(self, what: str) -> Iterator[None]:
        """One write transaction; driver errors become StoreErrors naming ``what``."""
        with self._lock:
            self._ensure_open()
            if self._readonly:
                raise StoreError(f"{self._where}: {what}: the store is opened read-only")
            try:
                with self._transaction():
                    yield
            except BaseException as exc:
                mapped = self._map_error(exc, what)
                if mapped is None:
                    raise
                raise mapped from exc

    @contextmanager
    def _read(self, what: str) -> Iterator[None]:
        with self._lock:
            self._ensure_open()
            try:
                yield
            except BaseException as exc:
                mapped = self._map_error(exc, what)
                if mapped is None:
                    raise
                raise mapped from exc

    def _fail(self, what: str, message: str) -> StoreError:
        return StoreError(f"{self._where}: {what}: {message}")

    def _conflict(self, what: str, message: str) -> ConflictError:
        return ConflictError(f"{self._where}: {what}: {message}")

    # ------------------------------------------------------------------ lifecycle

    def _open_schema(self, dialect: migrations.Dialect, now_ms: int) -> None:
        """Bring the schema up to SCHEMA_VERSION in one transaction (or, read-only, check
        that it is there already)."""
        with self._lock:
            try:
                if self._readonly:
                    self._check_schema_readonly()
                    return
                with self._transaction():
                    self._lock_migrations()
                    self._run(migrations.CREATE_MIGRATIONS_TABLE[dialect])
                    current = self._current_version()
                    migrations.check_version(current, self._where)
                    for step in migrations.pending(current):
                        for statement in step.statements(dialect):
                            self._run(statement)
                        self._run(
                            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)",
                            (step.version, now_ms),
                        )
            except BaseException as exc:
                mapped = self._map_error(exc, "migrating the schema")
                if mapped is None:
                    raise
                raise mapped from exc

    def _current_version(self) -> int:
        row = self._one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0

    def _check_schema_readonly(self) -> None:
        if not self._has_migrations_table():
            raise self._fail("open", "not a hashcore store (no schema_migrations table)")
        current = self._current_version()
        migrations.check_version(current, self._where)
        if current < SCHEMA_VERSION:
            raise self._fail(
                "open",
                f"store schema version {current} is older than this hashcore "
                f"({SCHEMA_VERSION}); open it read-write once to migrate it",
            )

    def _lock_migrations(self) -> None:
        """Serialise concurrent openers where BEGIN alone does not (PostgreSQL)."""

    @abc.abstractmethod
    def _has_migrations_table(self) -> bool: ...

    def schema_version(self) -> int:
        with self._read("schema_version"):
            return self._current_version()

    # ------------------------------------------------------------------ identity

    def get_log_id(self) -> bytes | None:
        with self._read("get_log_id"):
            row = self._one("SELECT value FROM meta WHERE key = ?", ("log_id",))
        return bytes(row[0]) if row else None

    def set_log_id(self, log_id: bytes) -> None:
        check_size("log_id", log_id, 32)
        with self._write("set_log_id"):
            row = self._one("SELECT value FROM meta WHERE key = ?", ("log_id",))
            if row is None:
                self._run("INSERT INTO meta (key, value) VALUES (?, ?)", ("log_id", log_id))
            elif bytes(row[0]) != log_id:
                raise self._conflict(
                    "set_log_id",
                    f"the store belongs to relay log_id {bytes(row[0]).hex()}, not {log_id.hex()}",
                )

    def store_id(self) -> bytes:
        with self._write("store_id"):
            row = self._one("SELECT value FROM meta WHERE key = ?", ("store_id",))
            if row is None:
                made = secrets.token_bytes(16)
                self._run("INSERT INTO meta (key, value) VALUES (?, ?)", ("store_id", made))
                return made
        return bytes(row[0])

    # ------------------------------------------------------------------ enrollment

    def add_token(
        self, token_hash: bytes, participant: str, created_ms: int, expires_ms: int
    ) -> None:
        with self._write("add_token"):
            self._run(
                "INSERT INTO tokens (token_hash, participant, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, participant, created_ms, expires_ms),
            )

    def enroll(
        self, token_hash: bytes, now_ms: int, genesis: StoredRecord, device: Device
    ) -> Device:
        self._check_genesis(genesis, device)
        with self._write("enroll"):
            participant = self._use_token(token_hash, now_ms)
            if device.participant not in ("", participant):
                raise self._fail(
                    "enroll",
                    f"the token was issued for participant {participant!r}, "
                    f"not {device.participant!r}",
                )
            if self._one("SELECT 1 FROM devices WHERE chain_id = ?", (device.chain_id,)):
                raise self._conflict("enroll", f"chain {device.chain_id.hex()} is already enrolled")
            self._check_positions("enroll", [genesis.log_index])
            stored = Device(
                device.chain_id,
                participant,
                device.genesis_key,
                device.current_key,
                device.head_seq,
                device.head_link,
                device.enrolled_ms,
            )
            self._run(
                "INSERT INTO devices (chain_id, participant, genesis_key, current_key, "
                "head_seq, head_link, enrolled_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    stored.chain_id,
                    stored.participant,
                    stored.genesis_key,
                    stored.current_key,
                    stored.head_seq,
                    stored.head_link,
                    stored.enrolled_ms,
                ),
            )
            self._insert_records([genesis])
            self._run(
                "UPDATE tokens SET used_ms = ?, chain_id = ? WHERE token_hash = ?",
                (now_ms, device.chain_id, token_hash),
            )
        return stored

    def _check_genesis(self, genesis: StoredRecord, device: Device) -> None:
        # The store keeps the device's head next to its records; a head that disagrees
        # with the genesis would make the relay accept the wrong seq 1.
        if genesis.chain_id != device.chain_id:
            raise self._fail(
                "enroll",
                f"genesis chain_id {genesis.chain_id.hex()} is not the device's "
                f"{device.chain_id.hex()}",
            )
        if (genesis.seq, genesis.kind) != (0, _KIND_GENESIS):
            raise self._fail(
                "enroll",
                f"genesis must be kind 0 at seq 0, got kind {genesis.kind} at seq {genesis.seq}",
            )
        if (device.head_seq, device.head_link) != (0, genesis.link):
            raise self._fail("enroll", "the device's head must be its genesis record")
        check_int64("log_index", genesis.log_index)

    def _use_token(self, token_hash: bytes, now_ms: int) -> str:
        """Check the token inside the enroll transaction; return its participant."""
        row = self._one(
            "SELECT participant, expires_ms, used_ms FROM tokens WHERE token_hash = ?",
            (token_hash,),
        )
        if row is None:
            raise TokenRejectedError("unknown", f"{self._where}: enroll: unknown token")
        participant, expires_ms, used_ms = row
        if used_ms is not None:
            raise TokenRejectedError(
                "used", f"{self._where}: enroll: the token was already used (at {used_ms} ms)"
            )
        # expires_ms is the first instant at which the token is no longer valid.
        if now_ms >= expires_ms:
            raise TokenRejectedError(
                "expired", f"{self._where}: enroll: the token expired at {expires_ms} ms"
            )
        return str(participant)

    def enrolled_with(self, token_hash: bytes, chain_id: bytes) -> bool:
        with self._read("enrolled_with"):
            row = self._one(
                "SELECT 1 FROM tokens WHERE token_hash = ? AND chain_id = ?",
                (token_hash, chain_id),
            )
        return row is not None

    def get_device(self, chain_id: bytes) -> Device | None:
        with self._read("get_device"):
            row = self._one(
                f"SELECT {_DEVICE_COLUMNS} FROM devices d WHERE d.chain_id = ?", (chain_id,)
            )
        return Device(*row) if row else None

    def list_devices(self, participant: str | None = None) -> list[Device]:
        # Enrollment order is the log order of the genesis records: enroll() appends the
        # genesis in the same transaction as the device, and the log only grows. A
        # correlated subquery makes that one index probe per device; a join let SQLite
        # scan the whole records table.
        sql = f"SELECT {_DEVICE_COLUMNS} FROM devices d"
        params: tuple[Any, ...] = ()
        if participant is not None:
            sql += " WHERE d.participant = ?"
            params = (participant,)
        order = (
            " ORDER BY (SELECT r.log_index FROM records r "
            "WHERE r.chain_id = d.chain_id AND r.seq = 0)"
        )
        with self._read("list_devices"):
            rows = self._all(sql + order, params)
        return [Device(*row) for row in rows]

    # ------------------------------------------------------------------ the log

    def tree_size(self) -> int:
        with self._read("tree_size"):
            return self._tree_size()

    def _tree_size(self) -> int:
        # MAX over the primary key is one index probe, unlike COUNT(*).
        row = self._one("SELECT MAX(log_index) FROM records")
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def _check_positions(self, what: str, indexes: list[int]) -> None:
        """Records must extend the log exactly: the next log_index, then consecutive."""
        size = self._tree_size()
        if indexes == list(range(size, size + len(indexes))):
            return
        if indexes[0] < size:
            raise self._conflict(what, f"log_index {indexes[0]} is already taken (size {size})")
        raise self._fail(
            what,
            f"records must carry consecutive log indexes from {size}, got "
            f"{indexes[0]}..{indexes[-1]} ({len(indexes)} records)",
        )

    def append(
        self,
        records: Sequence[StoredRecord],
        heads: Sequence[ChainHead],
        checkpoint: StoredCheckpoint | None = None,
        evidence: Sequence[ForkEvidence] = (),
    ) -> None:
        # A StoredRecord is a tuple in RECORD_COLUMNS order: the drivers take it as is.
        rows: list[Row] = list(records)
        latest = self._check_heads(records, heads)
        try:
            with self._write("append"):
                # Heads first: updating them proves every chain written to is enrolled.
                if latest:
                    self._move_heads(latest)
                if rows:
                    self._check_positions("append", [row[0] for row in rows])
                    self._insert_records(rows)
                if checkpoint is not None:
                    self._insert_checkpoint("append", checkpoint)
                for ev in evidence:  # after the records: it may point at one of them
                    self._insert_fork_evidence("append", ev)
        except ConflictError as exc:
            better = self._explain_conflict(records)
            if better is None:
                raise
            raise better from exc

    def _check_heads(
        self, records: Sequence[StoredRecord], heads: Sequence[ChainHead]
    ) -> dict[bytes, ChainHead]:
        """One head per chain (the last given wins); every chain with records in the batch
        must have one, at its last record. The store keeps heads next to the records, and
        a stale head would make the relay accept a wrong next seq."""
        latest = {h.chain_id: h for h in heads}
        for moved in latest.values():
            check_int64("head_seq", moved.head_seq)
        last: dict[bytes, StoredRecord] = {}
        for r in records:
            held = last.get(r.chain_id)
            if held is None or r.seq > held.seq:
                last[r.chain_id] = r
        if records:
            check_int64("log_index", records[-1].log_index)
        for chain_id, r in last.items():
            check_int64("seq", r.seq)
            head = latest.get(chain_id)
            if head is None or (head.head_seq, head.head_link) != (r.seq, r.link):
                got = "no head" if head is None else f"a head at seq {head.head_seq}"
                raise self._fail(
                    "append",
                    f"chain {chain_id.hex()}: its head must move to its last record in the "
                    f"batch (seq {r.seq} and its link); got {got}",
                )
        return latest

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

    def iter_links(self, start: int = 0, chunk: int = 65536) -> Iterator[bytes]:
        if chunk < 1:
            raise StoreError(f"chunk must be positive, got {chunk}")
        # One query per chunk, each under the lock, so a slow consumer never blocks the
        # writer; links never change, and positions are consecutive, so chunks join up.
        pos = max(start, 0)
        while True:
            with self._read("iter_links"):
                rows = self._all(
                    "SELECT link FROM records WHERE log_index >= ? ORDER BY log_index LIMIT ?",
                    (pos, chunk),
                )
            if rows:
                yield b"".join(bytes(r[0]) for r in rows)
            if len(rows) < chunk:
                return
            pos += len(rows)

    def add_fork_evidence(self, evidence: ForkEvidence) -> None:
        with self._write("add_fork_evidence"):
            self._insert_fork_evidence("add_fork_evidence", evidence)

    def _insert_fork_evidence(self, what: str, evidence: ForkEvidence) -> None:
        params = tuple(getattr(evidence, n) for n in _FORK_FIELDS)
        marks = ", ".join("?" * len(_FORK_FIELDS))
        if not self._one(
            "SELECT 1 FROM records WHERE log_index = ?", (evidence.existing_log_index,)
        ):
            raise self._fail(
                what, f"existing_log_index {evidence.existing_log_index} holds no record"
            )
        if self._one("SELECT 1 FROM erasures WHERE log_index = ?", (evidence.existing_log_index,)):
            # A fork of an erased record: its content may be a copy of what was erased;
            # commit, link and signature still prove the fork.
            params = (*params[:9], None, None, *params[11:])
        self._run(
            f"INSERT INTO fork_evidence ({_FORK_COLUMNS}) VALUES ({marks}) "
            "ON CONFLICT (existing_log_index, link, signature) DO NOTHING",
            params,
        )

    def list_fork_evidence(self, chain_id: bytes | None = None) -> list[ForkEvidence]:
        sql = f"SELECT {_FORK_COLUMNS} FROM fork_evidence"
        params: tuple[Any, ...] = ()
        if chain_id is not None:
            sql += " WHERE chain_id = ?"
            params = (chain_id,)
        with self._read("list_fork_evidence"):
            rows = self._all(sql + " ORDER BY id", params)
        return [ForkEvidence(*row) for row in rows]

    def erase(self, log_index: int, erased_ms: int, reason: str) -> Erasure:
        what = f"erase log_index {log_index}"
        check_int64("log_index", log_index)
        with self._lock:
            erasure = self._erase_rows(what, log_index, erased_ms, reason)
            # Also when it was erased before: a retry after a failed purge purges.
            self._purge_erased(what)
        return erasure

    def _erase_rows(self, what: str, log_index: int, erased_ms: int, reason: str) -> Erasure:
        """The erasure's transaction: the record's payload and salt, and those of every
        fork evidence of its seq (copies of the same content, perhaps)."""
        with self._write(what):
            done = self._one(
                "SELECT log_index, erased_ms, reason FROM erasures WHERE log_index = ?",
                (log_index,),
            )
            if done:
                return Erasure(*done)
            row = self._one("SELECT kind FROM records WHERE log_index = ?", (log_index,))
            if row is None:
                raise self._fail(what, "no record at this log position")
            if row[0] in (_KIND_GENESIS, _KIND_ROTATION):
                # Their payload is a public key the chain needs to verify (SPEC 1.4).
                raise self._fail(what, f"a kind {row[0]} (genesis/rotation) record can't be erased")
            self._run(
                "UPDATE records SET salt = NULL, payload = NULL WHERE log_index = ?",
                (log_index,),
            )
            self._run(
                "UPDATE fork_evidence SET salt = NULL, payload = NULL WHERE existing_log_index = ?",
                (log_index,),
            )
            self._run(
                "INSERT INTO erasures (log_index, erased_ms, reason) VALUES (?, ?, ?)",
                (log_index, erased_ms, reason),
            )
        return Erasure(log_index, erased_ms, reason)

    def list_erasures(self) -> list[Erasure]:
        with self._read("list_erasures"):
            rows = self._all("SELECT log_index, erased_ms, reason FROM erasures ORDER BY id")
        return [Erasure(*row) for row in rows]

    # ------------------------------------------------------------------ checkpoints

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self._write("add_checkpoint"):
            self._insert_checkpoint("add_checkpoint", checkpoint)

    def _insert_checkpoint(self, what: str, cp: StoredCheckpoint) -> None:
        """Idempotent for the same signed checkpoint; a different one of that size is a
        conflict (the relay signed two roots for one size: that must not be hidden)."""
        check_int64("tree_size", cp.tree_size)
        old = self._one(
            "SELECT root, signature FROM checkpoints WHERE tree_size = ?", (cp.tree_size,)
        )
        if old is not None:
            if (bytes(old[0]), bytes(old[1])) != (cp.root, cp.signature):
                raise self._conflict(
                    what, f"another checkpoint of tree_size {cp.tree_size} is stored"
                )
            return
        size = self._tree_size()
        if cp.tree_size > size:
            raise self._fail(
                what, f"checkpoint tree_size {cp.tree_size} is beyond the log's size {size}"
            )
        self._run(
            "INSERT INTO checkpoints (tree_size, root, signature, created_ms) VALUES (?, ?, ?, ?)",
            (cp.tree_size, cp.root, cp.signature, cp.created_ms),
        )
        if cp.anchor is not None:
            self._write_anchor(cp.tree_size, cp.anchor)

    def _write_anchor(self, tree_size: int, anchor: Anchor | None) -> int:
        if anchor is None:
            params: tuple[Any, ...] = (None,) * 6
        else:
            check_size("anchor tx_hash", anchor.tx_hash, 32)
            params = (
                anchor.tx_hash,
                anchor.block_number,
                anchor.evm_chain_id,
                anchor.contract,
                anchor.final,
                anchor.updated_ms,
            )
        return self._run(
            "UPDATE checkpoints SET tx_hash = ?, block_number = ?, evm_chain_id = ?, "
            "contract = ?, final = ?, anchor_updated_ms = ? WHERE tree_size = ?",
            (*params, tree_size),
        )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._read("latest_checkpoint"):
            row = self._one(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
            )
        return _checkpoint_from_row(row) if row else None

    def get_checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        if not 0 <= tree_size <= INT64_MAX:
            return None
        with self._read("get_checkpoint"):
            row = self._one(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints WHERE tree_size = ?",
                (tree_size,),
            )
        return _checkpoint_from_row(row) if row else None

    def list_checkpoints(self) -> list[StoredCheckpoint]:
        with self._read("list_checkpoints"):
            rows = self._all(f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY tree_size")
        return [_checkpoint_from_row(row) for row in rows]

    def set_anchor(self, tree_size: int, anchor: Anchor | None) -> None:
        what = f"set_anchor tree_size {tree_size}"
        check_int64("tree_size", tree_size)
        with self._write(what):
            if self._write_anchor(tree_size, anchor) == 0:
                raise self._fail(what, "no checkpoint of this tree_size")

    # ------------------------------------------------------------------ export

    def iter_record_batches(
        self, batch_rows: int = 65536, upto: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        if batch_rows < 1:
            raise StoreError(f"batch_rows must be positive, got {batch_rows}")
        limit = INT64_MAX if upto is None else max(0, min(upto, INT64_MAX))
        for rows in self._snapshot_rows(limit, batch_rows):
            yield records_batch(rows)

    def checkpoints_table(self) -> pa.Table:
        with self._read("checkpoints_table"):
            rows = self._all(
                "SELECT tree_size, root, signature, tx_hash, block_number FROM checkpoints "
                "ORDER BY tree_size"
            )
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(CHECKPOINT_SCHEMA)
        arrays = [
            pa.array(col, type=f.type) for col, f in zip(columns, CHECKPOINT_SCHEMA, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=CHECKPOINT_SCHEMA)
