"""Fixtures and builders for the store tests, run against both backends.

PostgreSQL is the real server at 127.0.0.1:5432 (override with HASHCORE_TEST_PG_URL);
each test gets a schema of its own, dropped afterwards. If the server is unreachable the
PostgreSQL tests fail: a skipped backend would hide a broken store.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hashcore.relay.store import (
    ChainHead,
    Device,
    Store,
    StoredCheckpoint,
    StoredRecord,
    open_store,
)

PG_ADMIN_URL = os.environ.get("HASHCORE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgres"]
FAR_FUTURE = 2**62


def _with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_store_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables land in a fresh schema."""
    schema = f"hc_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc}")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield _with_search_path(PG_ADMIN_URL, schema)
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "relay.db")
    url: str = request.getfixturevalue("pg_store_url")
    return url


@pytest.fixture
def store(store_target: str) -> Iterator[Store]:
    with open_store(store_target) as s:
        yield s


def raw_query(target: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the store's database behind its back (``?`` placeholders)."""
    if target.startswith("postgresql://"):
        with psycopg.connect(target, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    conn3 = sqlite3.connect(target, isolation_level=None)
    try:
        return conn3.execute(sql, params).fetchall()
    finally:
        conn3.close()


# --------------------------------------------------------------------------- builders


@dataclass
class Chain:
    """A synthetic enrolled chain: random bytes stand in for keys, links and signatures
    (the store does not verify them)."""

    chain_id: bytes
    key: bytes
    seq: int
    link: bytes
    participant: str

    def head(self) -> ChainHead:
        return ChainHead(self.chain_id, self.seq, self.link, self.key)


def record(
    log_index: int,
    chain_id: bytes,
    seq: int,
    *,
    kind: int = 1,
    payload: bytes | None = None,
    received_ms: int = 1_700_000_000_000,
) -> StoredRecord:
    data = os.urandom(40) if payload is None else payload
    return StoredRecord(
        log_index=log_index,
        chain_id=chain_id,
        seq=seq,
        time_ms=1_700_000_000_000 + seq,
        kind=kind,
        prev=os.urandom(32),
        commit=os.urandom(32),
        beacon_size=0,
        beacon_root=bytes(32),
        link=os.urandom(32),
        signature=os.urandom(64),
        salt=os.urandom(16),
        payload=data,
        received_ms=received_ms,
    )


def enroll_chain(store: Store, participant: str = "p-1", *, now_ms: int = 1000) -> Chain:
    """Issue a token and enroll a new synthetic chain with it at the log's end."""
    token = os.urandom(32)
    store.add_token(token, participant, now_ms - 1, FAR_FUTURE)
    key = os.urandom(32)
    chain_id = os.urandom(16)
    genesis = record(store.tree_size(), chain_id, 0, kind=0, payload=key)
    device = Device(chain_id, participant, key, key, 0, genesis.link, now_ms)
    store.enroll(token, now_ms, genesis, device)
    return Chain(chain_id, key, 0, genesis.link, participant)


def extend(
    store: Store,
    chains: Sequence[Chain],
    per_chain: int,
    *,
    checkpoint: StoredCheckpoint | None = None,
    kind: int = 1,
) -> list[StoredRecord]:
    """Append ``per_chain`` records to each chain in one batch (interleaved)."""
    start = store.tree_size()
    records: list[StoredRecord] = []
    for _ in range(per_chain):
        for chain in chains:
            chain.seq += 1
            r = record(start + len(records), chain.chain_id, chain.seq, kind=kind)
            chain.link = r.link
            records.append(r)
    store.append(records, [c.head() for c in chains], checkpoint)
    return records


def all_records(store: Store) -> list[StoredRecord]:
    return [r for i in range(store.tree_size()) if (r := store.record_at(i)) is not None]
