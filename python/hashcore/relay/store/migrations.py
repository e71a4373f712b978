"""Versioned schema migrations of the relay store, for SQLite and PostgreSQL side by side.

A store records every migration it applied in ``schema_migrations(version, applied_ms)``.
On open, the missing ones are applied in order, all in one transaction (both databases
have transactional DDL), so a store is never left half-migrated. A store migrated by a
newer hashcore is refused rather than written with a schema this code does not know.

To change the schema: append a :class:`Migration` with the next version, give it the SQL
of both dialects, and raise ``SCHEMA_VERSION`` in :mod:`.base`. Never edit a released one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...errors import StoreError
from .base import SCHEMA_VERSION

__all__ = ["MIGRATIONS", "Dialect", "Migration", "check_version", "pending"]

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: the statements that take a store from ``version - 1`` to it."""

    version: int
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgres


# The column types of each dialect. SQLite's INTEGER is a 64-bit signed integer like
# PostgreSQL's BIGINT; ``INTEGER PRIMARY KEY`` makes log_index the rowid, so appending in
# log order appends to the table's B-tree instead of maintaining a second index.
_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "blob": "BLOB",
        "int": "INTEGER",
        "bool": "INTEGER",
        "serial_pk": "INTEGER PRIMARY KEY",
    },
    "postgres": {
        "blob": "BYTEA",
        "int": "BIGINT",
        "bool": "BOOLEAN",
        "serial_pk": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    },
}

# Version 2 (protocol v2, SPEC v2): records carry the beacon, checkpoints are whole signed
# notes. Version 1 was protocol v1's layout, never deployed: a v1 store is refused, not
# migrated (its links and checkpoints mean nothing under v2). Constraints are named so
# that PostgreSQL reports the same names the error mapping looks for. "commit" is quoted:
# it is an SQL keyword. records.chain_id has no foreign key to devices: PostgreSQL checks
# one with a trigger per row, which halved COPY throughput; append() checks instead that
# every chain it writes to has an enrolled head.
_V2 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value {blob} NOT NULL)",
    """CREATE TABLE devices (
        chain_id {blob} PRIMARY KEY,
        participant TEXT NOT NULL,
        genesis_key {blob} NOT NULL,
        current_key {blob} NOT NULL,
        head_seq {int} NOT NULL,
        head_link {blob} NOT NULL,
        enrolled_ms {int} NOT NULL)""",
    "CREATE INDEX devices_participant ON devices (participant)",
    """CREATE TABLE tokens (
        token_hash {blob} PRIMARY KEY,
        participant TEXT NOT NULL,
        created_ms {int} NOT NULL,
        expires_ms {int} NOT NULL,
        used_ms {int},
        chain_id {blob} REFERENCES devices (chain_id))""",
    """CREATE TABLE records (
        log_index {int} PRIMARY KEY,
        chain_id {blob} NOT NULL,
        seq {int} NOT NULL,
        time_ms {int} NOT NULL,
        kind SMALLINT NOT NULL,
        prev {blob} NOT NULL,
        "commit" {blob} NOT NULL,
        beacon_size {int} NOT NULL,
        beacon_root {blob} NOT NULL,
        link {blob} NOT NULL,
        signature {blob} NOT NULL,
        salt {blob},
        payload {blob},
        received_ms {int} NOT NULL,
        CONSTRAINT records_chain_seq UNIQUE (chain_id, seq))""",
    """CREATE TABLE fork_evidence (
        id {serial_pk},
        chain_id {blob} NOT NULL,
        seq {int} NOT NULL,
        existing_log_index {int} NOT NULL REFERENCES records (log_index),
        time_ms {int} NOT NULL,
        kind SMALLINT NOT NULL,
        prev {blob} NOT NULL,
        "commit" {blob} NOT NULL,
        beacon_size {int} NOT NULL,
        beacon_root {blob} NOT NULL,
        link {blob} NOT NULL,
        signature {blob} NOT NULL,
        salt {blob},
        payload {blob},
        received_ms {int} NOT NULL,
        CONSTRAINT fork_evidence_pair UNIQUE (existing_log_index, link, signature))""",
    "CREATE INDEX fork_evidence_chain ON fork_evidence (chain_id, seq)",
    """CREATE TABLE checkpoints (
        tree_size {int} PRIMARY KEY,
        root {blob} NOT NULL,
        note {blob} NOT NULL,
        created_ms {int} NOT NULL,
        tx_hash {blob},
        block_number {int},
        evm_chain_id {int},
        contract TEXT,
        final {bool},
        anchor_updated_ms {int})""",
    """CREATE TABLE erasures (
        id {serial_pk},
        log_index {int} NOT NULL UNIQUE REFERENCES records (log_index),
        erased_ms {int} NOT NULL,
        reason TEXT NOT NULL)""",
)


def _both(template: tuple[str, ...]) -> dict[Dialect, tuple[str, ...]]:
    return {d: tuple(s.format(**_TYPES[d]) for s in template) for d in ("sqlite", "postgres")}


_v2 = _both(_V2)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=2, sqlite=_v2["sqlite"], postgres=_v2["postgres"]),
)

# The table itself is created outside the numbered migrations: it is how they are counted.
CREATE_MIGRATIONS_TABLE: dict[Dialect, str] = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
    "postgres": "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
}

assert MIGRATIONS[-1].version == SCHEMA_VERSION, "SCHEMA_VERSION must be the last migration"
assert [m.version for m in MIGRATIONS] == list(range(2, len(MIGRATIONS) + 2))


def check_version(current: int, where: str) -> None:
    """Refuse a store written by a newer hashcore: its schema may mean things we'd break."""
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: store schema version {current} is newer than this hashcore "
            f"({SCHEMA_VERSION})"
        )
    if current == 1:
        raise StoreError(
            f"{where}: store schema version 1 is protocol v1's (links and checkpoints of "
            "another protocol); a protocol v2 relay starts with a new store"
        )


def pending(current: int) -> list[Migration]:
    """The migrations a store at version ``current`` still needs, in order."""
    return [m for m in MIGRATIONS if m.version > current]
