"""The embedded store: one SQLite file in WAL mode, written by one relay.

WAL lets readers (an export, an operator's query) read committed data while the relay
writes; ``synchronous=FULL`` makes every committed transaction survive a power cut, which
is what the relay promises a device when it acknowledges a record.

The files hold patient data: the store is created 0600 (SQLite gives its ``-wal`` and
``-shm`` files the mode of the database file), a looser existing store is tightened to
0600 with a warning, and a store in a directory that others may write is refused (they
could swap the database for another). ``exclusive=True`` (the relay) also holds an
``flock`` on ``<store>.lock`` while the store is open: a second relay on the same file
refuses to start instead of serving a log it does not own.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import ConflictError, StoreError
from .base import ChainHead, StoreUnavailableError
from .sql_rows import RECORD_COLUMNS, RECORD_FIELDS, Row, unique_meaning
from .sql_store import SqlStore

__all__ = ["SqliteStore"]

_log = logging.getLogger("hashcore.relay.store")
#: What SQLite keeps beside the database file (WAL mode), all as private as the store.
_SIDE_FILES = ("-wal", "-shm")

# SQLite allows 32766 host parameters per statement (since 3.32); two per key, with room.
_KEYS_PER_QUERY = 500
#: SQLite primary result codes that are the machine's fault, not the request's: worth
#: retrying later (extended codes such as SQLITE_IOERR_FSYNC map by their primary code).
_UNAVAILABLE = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_IOERR": "io",
    "SQLITE_CANTOPEN": "io",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
}


def _unavailable_kind(exc: BaseException) -> str | None:
    name = str(getattr(exc, "sqlite_errorname", ""))
    primary = "_".join(name.split("_")[:2])
    return _UNAVAILABLE.get(primary)


_INSERT_RECORDS = (
    f"INSERT INTO records ({RECORD_COLUMNS}) VALUES ({', '.join('?' * len(RECORD_FIELDS))})"
)


class SqliteStore(SqlStore):
    """A store in one SQLite file (created, and migrated, on first open).

    ``readonly=True`` opens an existing store without ever writing to it (no file is
    created, no migration is run), for reading while a relay owns the store.
    ``exclusive=True`` locks the store for this object's lifetime (see the module doc);
    tools that write next to a running relay (``relay token``) open it without.

    Safe to call from any thread, one call at a time (a lock serialises them).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        exclusive: bool = False,
        busy_timeout_ms: int = 5000,
    ) -> None:
        super().__init__()
        self._path = Path(os.fspath(path))
        # Readers opened later (iter_record_batches) must find the same file even if the
        # process changed its working directory meanwhile.
        self._file = self._path.resolve()
        self._uri = self._file.as_uri() + "?mode=ro"
        self._where = str(self._path)
        self._readonly = readonly
        self._busy_timeout_ms = busy_timeout_ms
        self._lock_fd: int | None = None
        self._conn: sqlite3.Connection | None = None
        try:
            if not readonly:
                self._check_directory()
                if exclusive:
                    self._lock_fd = self._take_lock()
                self._create_private()
            self._conn = self._connect(readonly)
            self._open_schema("sqlite", time.time_ns() // 1_000_000)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ files

    def _check_directory(self) -> None:
        """Refuse a directory others may write (they could replace the store); warn on a
        group-writable one (a shared operators' group is a deliberate setup)."""
        directory = self._file.parent
        try:
            mode = directory.stat().st_mode
        except OSError as exc:
            raise StoreError(
                f"{self._path}: cannot open the store: its directory {directory}: "
                f"{exc.strerror or exc}"
            ) from exc
        if mode & stat.S_IWOTH:
            raise StoreError(
                f"{directory}: the store's directory is writable by anyone (mode "
                f"{stat.S_IMODE(mode):o}): others could replace the store; chmod o-w it or "
                "put the store elsewhere"
            )
        if mode & stat.S_IWGRP:
            _log.warning(
                "%s: the store's directory is group-writable (mode %o): the group can "
                "replace the store",
                directory,
                stat.S_IMODE(mode),
            )

    def _take_lock(self) -> int:
        lock = self._file.with_name(self._file.name + ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"{lock}: cannot create the store's lock file: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"{self._path}: the store is in use by another relay (it holds {lock}); "
                "one relay per store"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"{lock}: cannot lock the store: {exc}") from exc
        return fd

    def _create_private(self) -> None:
        """Create the database file 0600 before SQLite does (SQLite would use 0644 under
        the usual umask, and copies the database's mode to its -wal and -shm files);
        tighten an existing store that is readable by others."""
        try:
            fd = os.open(self._file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"{self._path}: cannot open the store: {exc}") from exc
        else:
            os.close(fd)
            return
        for path in (self._file, *(self._file.with_name(self._file.name + s) for s in _SIDE_FILES)):
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
                if mode & 0o077:
                    os.chmod(path, mode & 0o700)
                    _log.warning(
                        "%s was readable by others (mode %o): now %o", path, mode, mode & 0o700
                    )
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"{path}: cannot make the store private: {exc}") from exc

    # ------------------------------------------------------------------ connections

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        if readonly and not self._file.is_file():
            raise StoreError(f"{self._path}: no such store file (read-only open never creates it)")
        try:
            # mode=ro: SQLite itself refuses writes, and never creates the file.
            target = self._uri if readonly else str(self._path)
            conn = sqlite3.connect(
                target,
                uri=readonly,
                timeout=self._busy_timeout_ms / 1000,
                # None: no implicit BEGIN by the module; transactions are ours (BEGIN
                # IMMEDIATE), so a write never fails half-way on a lock upgrade.
                isolation_level=None,
                # The relay calls from worker threads; self._lock serialises the calls.
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self._path}: cannot open the store: {exc}") from exc
        try:
            self._configure(conn, readonly)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{self._path}: cannot open the store: {exc}") from exc
        return conn

    def _configure(self, conn: sqlite3.Connection, readonly: bool) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
            return
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            # WAL is what lets an export read while the relay writes; without it readers
            # would block the writer.
            raise sqlite3.OperationalError(f"cannot switch to WAL journal mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        # Erased payloads are overwritten with zeros instead of lingering in free pages.
        conn.execute("PRAGMA secure_delete = ON")
        # Keep the (chain_id, seq) index hot: appends probe it at random chain_ids.
        conn.execute("PRAGMA cache_size = -65536")
        # Checkpoint the WAL every 64 MiB instead of every 4 MiB: the hot pages (device
        # heads, index leaves) are rewritten many times between checkpoints but copied
        # into the database once (measured about +30% append throughput). The size limit
        # gives the space back after each checkpoint.
        conn.execute("PRAGMA wal_autocheckpoint = 16384")
        conn.execute(f"PRAGMA journal_size_limit = {64 * 1024 * 1024}")

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self._where}: the store is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            try:
                if self._conn is not None:
                    conn, self._conn = self._conn, None
                    try:
                        conn.close()
                    except sqlite3.Error as exc:
                        raise StoreError(f"{self._where}: closing the store: {exc}") from exc
            finally:
                # After the connection: the next relay may start once this one let go.
                if self._lock_fd is not None:
                    fd, self._lock_fd = self._lock_fd, None
                    os.close(fd)

    # ------------------------------------------------------------------ driver hooks

    def _ensure_open(self) -> None:
        self._live()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self._live()
        # IMMEDIATE takes the write lock up front: a writer that started reading under a
        # shared lock could otherwise fail with SQLITE_BUSY half-way through.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _map_error(self, exc: BaseException, what: str) -> StoreError | None:
        if isinstance(exc, StoreError):
            return None
        prefix = f"{self._where}: {what}"
        if isinstance(exc, sqlite3.IntegrityError):
            message = str(exc)
            if message.startswith("UNIQUE constraint failed: "):
                key = message.removeprefix("UNIQUE constraint failed: ")
                return ConflictError(f"{prefix}: {unique_meaning(key)}; nothing was stored")
            if "FOREIGN KEY" in message:
                return StoreError(
                    f"{prefix}: refers to a device or record the store does not hold ({message})"
                )
            return StoreError(f"{prefix}: {message}")
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return StoreUnavailableError(
                "locked",
                f"{prefix}: the database stayed locked by another connection for "
                f"{self._busy_timeout_ms} ms ({exc})",
            )
        kind = _unavailable_kind(exc)
        if kind is not None:
            return StoreUnavailableError(kind, f"{prefix}: {type(exc).__name__}: {exc}")
        if isinstance(exc, OverflowError):
            return StoreError(f"{prefix}: an integer does not fit the store: {exc}")
        if isinstance(exc, sqlite3.Error | UnicodeError):
            return StoreError(f"{prefix}: {type(exc).__name__}: {exc}")
        return None

    def _has_migrations_table(self) -> bool:
        row = self._one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        return row is not None

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._live().execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._live().execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._live().execute(sql, params).rowcount

    def _insert_records(self, rows: list[Row]) -> None:
        # One prepared statement stepped per row, no Python round trip per statement.
        self._live().executemany(_INSERT_RECORDS, rows)

    def _update_heads(self, heads: Sequence[ChainHead]) -> int:
        cur = self._live().executemany(
            "UPDATE devices SET head_seq = ?, head_link = ?, current_key = ? WHERE chain_id = ?",
            [(h.head_seq, h.head_link, h.current_key, h.chain_id) for h in heads],
        )
        # executemany's rowcount is the total over all parameter sets.
        return cur.rowcount

    def _select_keys(self, keys: list[tuple[bytes, int]]) -> list[Row]:
        out: list[Row] = []
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            values = ", ".join(["(?, ?)"] * len(chunk))
            params = [v for key in chunk for v in key]
            # The VALUES list drives the join, so each key is one probe of the
            # (chain_id, seq) index.
            out.extend(
                self._all(
                    f"SELECT {', '.join('r.' + c for c in RECORD_COLUMNS.split(', '))} "
                    f"FROM (VALUES {values}) AS k "
                    "JOIN records r ON r.chain_id = k.column1 AND r.seq = k.column2",
                    params,
                )
            )
        return out

    def _purge_erased(self, what: str) -> None:
        # secure_delete (set at open) zeroed the freed bytes in the pages; the WAL still
        # holds the pages as they were. Copy the WAL into the database and truncate it to
        # zero bytes, so no frame with the erased bytes is left in a file of the store.
        with self._read(what):
            row = self._one("PRAGMA wal_checkpoint(TRUNCATE)")
        if row is None or row[0] != 0:
            raise StoreUnavailableError(
                "locked",
                f"{self._where}: {what}: erased, but a reader keeps the erased bytes in the "
                "WAL; retry the erasure when it is done",
            )

    def _snapshot_rows(self, upto: int, batch_rows: int) -> Iterator[list[Row]]:
        # A connection of its own: its read transaction is one WAL snapshot, and the
        # writer's connection (and lock) stays free however slowly the batches are used.
        with self._lock:
            self._live()
        conn = self._connect(readonly=True)
        try:
            conn.execute("BEGIN")
            cursor = conn.execute(
                f"SELECT {RECORD_COLUMNS} FROM records WHERE log_index < ? ORDER BY log_index",
                (upto,),
            )
            while rows := cursor.fetchmany(batch_rows):
                yield rows
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self._where}: reading records: {exc}") from exc
        finally:
            conn.close()
