"""The connection half of the SQL stores: driver hooks, transactions, schema migration,
and the log's size and positions, which every other part of the store builds on.

:class:`SqlConnection` is the base of the mixins in ``sql_enrollment``, ``sql_log``,
``sql_evidence`` and ``sql_checkpoints``: they only talk to the database through the
hooks declared here, so the backends (``sqlite.py``, ``postgres.py``) implement them once.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ...errors import ConflictError, StoreError
from . import migrations
from .base import (
    SCHEMA_VERSION,
    ChainHead,
    Store,
)
from .sql_rows import (
    Row,
)


class SqlConnection(Store):
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
            with self._driver_errors(what), self._transaction():
                yield

    @contextmanager
    def _read(self, what: str) -> Iterator[None]:
        with self._lock:
            self._ensure_open()
            with self._driver_errors(what):
                yield

    @contextmanager
    def _driver_errors(self, what: str) -> Iterator[None]:
        """Driver exceptions raised inside become StoreErrors naming ``what`` (one place
        for reads, writes and migrations); any other exception passes unchanged."""
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
        with self._lock, self._driver_errors("migrating the schema"):
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

    # ------------------------------------------------------------------ the log's size

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
