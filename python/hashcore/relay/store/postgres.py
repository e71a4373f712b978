"""The PostgreSQL store (psycopg 3, synchronous), for a managed database or several relays.

Same semantics as the SQLite store: one connection guarded by a lock, one transaction per
mutating call. Records go in with binary COPY, the fastest path PostgreSQL has; a failed
COPY aborts the transaction, so a batch is stored whole or not at all.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict

from ... import _core
from ...errors import ConflictError, StoreError
from .base import ChainHead, StoreUnavailableError
from .sql_rows import RECORD_COLUMNS, Row, unique_meaning
from .sql_store import SqlStore

__all__ = ["PostgresStore"]

# The binary COPY types of RECORD_COLUMNS, in order.
_RECORD_TYPES = [
    "int8",  # log_index
    "bytea",  # chain_id
    "int8",  # seq
    "int8",  # time_ms
    "int2",  # kind
    "bytea",  # prev
    "bytea",  # commit
    "int8",  # beacon_size
    "bytea",  # beacon_root
    "bytea",  # link
    "bytea",  # signature
    "bytea",  # salt
    "bytea",  # payload
    "int8",  # received_ms
]
# Any fixed key: the advisory lock only serialises concurrent migrations of one database.
_MIGRATION_LOCK = 0x68617368636F7265  # "hashcore"
# Held for the session by the relay that owns the store (exclusive=True), keyed by the
# schema too: two stores in two schemas of one database are two stores.
_OWNER_LOCK = 0x68617368  # "hash", the first int4 of the two-key form
_R_COLUMNS = ", ".join("r." + c for c in RECORD_COLUMNS.split(", "))

Connection = psycopg.Connection[Row]


@functools.lru_cache(maxsize=256)
def _q(sql: str) -> str:
    """The shared SQL is written with ``?``; psycopg wants ``%b`` (binary parameters: bytea
    goes as is instead of hex-escaped, which measured twice as fast)."""
    return sql.replace("?", "%b")


def describe_url(url: str) -> str:
    """How messages name the database: never with its password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql store"
    user = info.get("user") or ""
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    return f"postgresql://{user}{'@' if user else ''}{host}:{port}/{info.get('dbname') or ''}"


class PostgresStore(SqlStore):
    """A store in a PostgreSQL database (tables created, and migrated, on first open).

    ``url`` is a libpq URL or conninfo string; ``?options=-csearch_path%3Dname`` puts the
    store in a schema of its own. ``readonly=True`` never writes (no migration either).
    """

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        exclusive: bool = False,
        connect_timeout: int = 10,
    ) -> None:
        super().__init__()
        self._url = url
        self._where = describe_url(url)
        self._readonly = readonly
        self._exclusive = exclusive
        self._connect_timeout = connect_timeout
        self._closed = False
        self._conn: Connection = self._connect()
        try:
            self._open_schema("postgres", time.time_ns() // 1_000_000)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ connections

    def _connect(self, *, autocommit: bool = True) -> Connection:
        try:
            conn: Connection = psycopg.connect(
                self._url, autocommit=autocommit, connect_timeout=self._connect_timeout
            )
        except psycopg.Error as exc:
            raise StoreError(f"{self._where}: cannot connect: {exc}") from exc
        if self._exclusive and autocommit:
            # A session lock: it goes with the connection, so a relay that dies lets go.
            try:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(coalesce(current_schema(), '')))",
                    (_OWNER_LOCK,),
                ).fetchone()
            except psycopg.Error as exc:
                conn.close()
                raise StoreError(f"{self._where}: cannot lock the store: {exc}") from exc
            if not (row and row[0]):
                conn.close()
                raise StoreError(
                    f"{self._where}: the store is in use by another relay (it holds the "
                    "store's advisory lock); one relay per store"
                )
        if self._readonly:
            try:
                conn.execute("SET default_transaction_read_only = on")
                if not autocommit:
                    conn.commit()  # the SET opened a transaction; it lasts the session
            except psycopg.Error as exc:
                conn.close()
                raise StoreError(f"{self._where}: cannot connect: {exc}") from exc
        return conn

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    # ------------------------------------------------------------------ driver hooks

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self._where}: the store is closed")
        if self._conn.closed:
            # The server dropped us (restart, failover, idle timeout): the failed call
            # already reported it; this one gets a fresh connection.
            self._conn = self._connect()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def _map_error(self, exc: BaseException, what: str) -> StoreError | None:
        if isinstance(exc, StoreError):
            return None
        prefix = f"{self._where}: {what}"
        if isinstance(exc, psycopg.errors.UniqueViolation):
            meaning = unique_meaning(exc.diag.constraint_name or "?")
            return ConflictError(f"{prefix}: {meaning}; nothing was stored")
        if isinstance(exc, psycopg.errors.ForeignKeyViolation):
            return StoreError(
                f"{prefix}: refers to a device or record the store does not hold "
                f"({exc.diag.message_detail or exc})"
            )
        if isinstance(exc, psycopg.errors.NumericValueOutOfRange | OverflowError):
            return StoreError(f"{prefix}: an integer does not fit the store: {exc}")
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return StoreError(f"{prefix}: the store is opened read-only")
        if isinstance(exc, psycopg.errors.DiskFull):
            return StoreUnavailableError("disk_full", f"{prefix}: {type(exc).__name__}: {exc}")
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailableError(
                "connection", f"{prefix}: database connection failed: {exc}"
            )
        if isinstance(exc, psycopg.Error | UnicodeError):
            return StoreError(f"{prefix}: {type(exc).__name__}: {exc}")
        return None

    def _lock_migrations(self) -> None:
        # Two relays starting at once would both try to create the tables.
        self._one("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def _has_migrations_table(self) -> bool:
        row = self._one("SELECT to_regclass('schema_migrations') IS NOT NULL")
        return bool(row and row[0])

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._conn.execute(_q(sql), params, binary=True).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(_q(sql), params, binary=True).fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(_q(sql), params, binary=True).rowcount

    def _insert_records(self, rows: list[Row]) -> None:
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY records ({RECORD_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(_RECORD_TYPES)
            for row in rows:
                copy.write_row(row)

    def _insert_block(self, block: _core.IngestBlock) -> None:
        # The whole block as one binary COPY stream made in Rust (signature, rows,
        # trailer): no Python object per record or per field.
        data = block.pg_copy()
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY records ({RECORD_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(data)

    def _update_heads(self, heads: Sequence[ChainHead]) -> int:
        # One statement for the whole batch instead of a round trip per chain.
        return self._run(
            "UPDATE devices AS d SET head_seq = v.head_seq, head_link = v.head_link, "
            "current_key = v.current_key "
            "FROM unnest(?::bytea[], ?::bigint[], ?::bytea[], ?::bytea[]) "
            "AS v(chain_id, head_seq, head_link, current_key) WHERE d.chain_id = v.chain_id",
            (
                [h.chain_id for h in heads],
                [h.head_seq for h in heads],
                [h.head_link for h in heads],
                [h.current_key for h in heads],
            ),
        )

    def _select_keys(self, keys: list[tuple[bytes, int]]) -> list[Row]:
        return self._all(
            f"SELECT {_R_COLUMNS} FROM unnest(?::bytea[], ?::bigint[]) AS k(chain_id, seq) "
            "JOIN records r ON r.chain_id = k.chain_id AND r.seq = k.seq",
            ([k[0] for k in keys], [k[1] for k in keys]),
        )

    def _purge_erased(self, what: str) -> None:
        # The UPDATE left the old row versions (payload and salt) in the heap; a plain
        # VACUUM only marks them free, and their bytes stay in the page's free space
        # until it is reused (seen when the erased row was the lowest on its page).
        # VACUUM FULL writes the tables anew and drops the old files. It can't run in a
        # transaction (the connection is in autocommit), and holds an exclusive lock on
        # the table while it runs: erasures are rare, and the relay writes one at a time.
        with self._read(what):
            for table in ("records", "fork_evidence"):
                self._conn.execute(f"VACUUM FULL {table}")

    def _snapshot_rows(self, upto: int, batch_rows: int) -> Iterator[list[Row]]:
        # A connection of its own in a REPEATABLE READ transaction: one snapshot, read
        # through a server-side cursor, so memory stays bounded and the writer's
        # connection stays free.
        with self._lock:
            self._ensure_open()
        conn = self._connect(autocommit=False)
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.cursor(name="hashcore_records", binary=True) as cur:
                cur.itersize = batch_rows
                cur.execute(
                    f"SELECT {RECORD_COLUMNS} FROM records WHERE log_index < %s ORDER BY log_index",
                    (upto,),
                )
                while rows := cur.fetchmany(batch_rows):
                    yield rows
            conn.rollback()
        except psycopg.Error as exc:
            raise StoreError(f"{self._where}: reading records: {exc}") from exc
        finally:
            conn.close()
