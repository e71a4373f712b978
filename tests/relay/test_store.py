"""The relay stores (SQLite and PostgreSQL) against the Store contract of store/base.py."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
from hashcore import _core
from hashcore.bundle.format_v2 import CHECKPOINT_SCHEMA_V2 as CHECKPOINT_SCHEMA
from hashcore.bundle.format_v2 import RECORD_SCHEMA_V2 as RECORD_SCHEMA
from hashcore.errors import ConflictError, StoreError, TokenRejectedError
from hashcore.relay.store import (
    SCHEMA_VERSION,
    Anchor,
    Device,
    Erasure,
    ForkEvidence,
    SqliteStore,
    Store,
    StoredCheckpoint,
    StoredRecord,
    open_store,
)
from hashcore.relay.store.migrations import MIGRATIONS
from hashcore.relay.store.postgres import PostgresStore

from . import store_fixtures
from .store_fixtures import (
    FAR_FUTURE,
    Chain,
    all_records,
    enroll_chain,
    extend,
    raw_query,
    record,
)

# The backend-parametrized fixtures, registered in this module.
pg_store_url = store_fixtures.pg_store_url
store = store_fixtures.store
store_target = store_fixtures.store_target

CONTRACT = "0x" + "ab" * 20


def checkpoint(tree_size: int, created_ms: int = 5) -> StoredCheckpoint:
    return StoredCheckpoint(tree_size, os.urandom(32), b"note " + os.urandom(64), created_ms)


def anchor(*, block: int | None = 123, final: bool = True) -> Anchor:
    return Anchor(os.urandom(32), block, 31337, CONTRACT, final, 99)


# --------------------------------------------------------------------------- migrations


def test_fresh_store_is_migrated_and_empty(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.get_log_id() is None
    assert store.tree_size() == 0
    assert store.list_devices() == []
    assert store.latest_checkpoint() is None
    assert store.list_checkpoints() == []
    assert store.list_erasures() == []
    assert store.list_fork_evidence() == []
    assert list(store.iter_entries()) == []
    assert list(store.iter_record_batches()) == []
    assert store.checkpoints_table().equals(CHECKPOINT_SCHEMA.empty_table())


def test_reopen_is_idempotent(store_target: str) -> None:
    with open_store(store_target) as s:
        s.set_log_id(b"\x01" * 32)
        chain = enroll_chain(s)
    for _ in range(2):
        with open_store(store_target) as s:
            assert s.schema_version() == SCHEMA_VERSION
            assert s.get_log_id() == b"\x01" * 32
            assert s.get_device(chain.chain_id) is not None
    versions = raw_query(store_target, "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]


def test_newer_schema_version_is_refused(store_target: str) -> None:
    open_store(store_target).close()
    newer = SCHEMA_VERSION + 1
    raw_query(
        store_target,
        "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)",
        (newer, 0),
    )
    message = f"store schema version {newer} is newer than this hashcore ({SCHEMA_VERSION})"
    with pytest.raises(StoreError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_store(store_target)
    with pytest.raises(StoreError, match="newer than this hashcore"):
        open_store(store_target, readonly=True)


def test_migrations_are_versioned_in_order() -> None:
    # Version 1 was protocol v1's layout (never deployed); v2 starts at 2.
    assert [m.version for m in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))
    for m in MIGRATIONS:
        assert len(m.sqlite) == len(m.postgres) > 0


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=str(bad)):
        SqliteStore(bad)
    with pytest.raises(StoreError, match="cannot open"):
        SqliteStore(tmp_path / "no" / "such" / "dir" / "relay.db")


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore("postgresql://postgres:secret@127.0.0.1:1/test", connect_timeout=2)


def test_postgres_messages_never_show_the_password() -> None:
    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://postgres:hunter2@127.0.0.1:1/test", connect_timeout=2)
    assert "hunter2" not in str(info.value)


# --------------------------------------------------------------------------- identity


def test_log_id_binding(store: Store) -> None:
    store.set_log_id(b"\x01" * 32)
    store.set_log_id(b"\x01" * 32)  # the same key again: fine
    with pytest.raises(ConflictError, match="01" * 32):
        store.set_log_id(b"\x02" * 32)
    assert store.get_log_id() == b"\x01" * 32
    with pytest.raises(StoreError, match="32 bytes"):
        store.set_log_id(b"\x01" * 31)


# --------------------------------------------------------------------------- enrollment


def _genesis_and_device(store: Store, participant: str = "") -> tuple[StoredRecord, Device]:
    key = os.urandom(32)
    chain_id = os.urandom(16)
    genesis = record(store.tree_size(), chain_id, 0, kind=0, payload=key)
    return genesis, Device(chain_id, participant, key, key, 0, genesis.link, 1000)


def _snapshot(store: Store) -> tuple[object, ...]:
    return (store.tree_size(), store.list_devices(), all_records(store))


def test_enroll_uses_the_token_and_takes_its_participant(store: Store) -> None:
    token = b"t" * 32
    store.add_token(token, "alice", 10, 2000)
    genesis, device = _genesis_and_device(store)
    stored = store.enroll(token, 1999, genesis, device)
    assert stored.participant == "alice"
    assert store.get_device(device.chain_id) == stored
    assert store.record_at(0) == genesis
    assert store.tree_size() == 1
    assert store.list_devices("alice") == [stored]
    assert store.list_devices("bob") == []
    assert raw_used(store, token) is not None


def raw_used(store: Store, token: bytes) -> object:
    target = store._path if isinstance(store, SqliteStore) else store._url  # type: ignore[attr-defined]
    rows = raw_query(str(target), "SELECT used_ms FROM tokens WHERE token_hash = ?", (token,))
    return rows[0][0]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [("unknown", "unknown"), ("expired", "expired"), ("used", "used")],
)
def test_rejected_tokens_leave_the_store_unchanged(store: Store, setup: str, reason: str) -> None:
    token = b"k" * 32
    if setup == "expired":
        store.add_token(token, "alice", 0, 5000)
    elif setup == "used":
        store.add_token(token, "alice", 0, FAR_FUTURE)
        genesis, device = _genesis_and_device(store)
        store.enroll(token, 1000, genesis, device)
    before = _snapshot(store)
    genesis, device = _genesis_and_device(store)
    with pytest.raises(TokenRejectedError) as info:
        # expires_ms is the first instant at which the token no longer works.
        store.enroll(token, 5000, genesis, device)
    assert info.value.reason == reason
    assert _snapshot(store) == before
    assert store.get_device(device.chain_id) is None


def test_enroll_conflicts(store: Store) -> None:
    chain = enroll_chain(store, "alice")
    store.add_token(b"a" * 32, "alice", 0, FAR_FUTURE)
    genesis = record(1, chain.chain_id, 0, kind=0, payload=chain.key)
    again = Device(chain.chain_id, "", chain.key, chain.key, 0, genesis.link, 1)
    with pytest.raises(ConflictError, match="already enrolled"):
        store.enroll(b"a" * 32, 10, genesis, again)
    # The token was not used up by the refused enrollment.
    assert raw_used(store, b"a" * 32) is None
    _, device = _genesis_and_device(store)
    taken = record(0, device.chain_id, 0, kind=0, payload=device.genesis_key)
    device = Device(device.chain_id, "", device.genesis_key, device.genesis_key, 0, taken.link, 1)
    with pytest.raises(ConflictError, match="log_index 0 is already taken"):
        store.enroll(b"a" * 32, 10, taken, device)
    assert store.tree_size() == 1


def test_enroll_checks_its_arguments(store: Store) -> None:
    store.add_token(b"a" * 32, "alice", 0, FAR_FUTURE)
    genesis, device = _genesis_and_device(store, participant="mallory")
    with pytest.raises(StoreError, match="issued for participant 'alice'"):
        store.enroll(b"a" * 32, 10, genesis, device)
    genesis, device = _genesis_and_device(store)
    wrong_head = Device(
        device.chain_id, "", device.genesis_key, device.current_key, 0, b"x" * 32, 1
    )
    with pytest.raises(StoreError, match="head must be its genesis"):
        store.enroll(b"a" * 32, 10, genesis, wrong_head)
    assert store.tree_size() == 0
    assert raw_used(store, b"a" * 32) is None


def test_duplicate_token_is_a_conflict(store: Store) -> None:
    store.add_token(b"a" * 32, "alice", 0, 10)
    with pytest.raises(ConflictError, match="token"):
        store.add_token(b"a" * 32, "bob", 0, 10)


def test_devices_are_listed_in_enrollment_order(store: Store) -> None:
    chains = [enroll_chain(store, f"p{i % 2}", now_ms=1000 - i) for i in range(5)]
    assert [d.chain_id for d in store.list_devices()] == [c.chain_id for c in chains]
    assert [d.chain_id for d in store.list_devices("p1")] == [
        chains[1].chain_id,
        chains[3].chain_id,
    ]


# --------------------------------------------------------------------------- the log


def test_append_moves_heads_and_adds_the_checkpoint(store: Store) -> None:
    chains = [enroll_chain(store) for _ in range(3)]
    cp = checkpoint(3 + 3 * 4)
    records = extend(store, chains, 4, checkpoint=cp)
    assert store.tree_size() == 15
    assert all_records(store)[3:] == records
    for c in chains:
        device = store.get_device(c.chain_id)
        assert device is not None
        assert (device.head_seq, device.head_link, device.current_key) == (4, c.link, c.key)
    assert store.latest_checkpoint() == cp


def test_append_of_a_taken_seq_stores_nothing(store: Store) -> None:
    chains = [enroll_chain(store) for _ in range(2)]
    extend(store, chains, 2)
    before = _snapshot(store), store.list_checkpoints()
    a, b = chains
    start = store.tree_size()
    batch = [
        record(start, a.chain_id, 3),
        record(start + 1, b.chain_id, 2),  # seq 2 of b is taken: in the middle of the batch
        record(start + 2, a.chain_id, 4),
    ]
    heads = [
        Chain(a.chain_id, a.key, 4, batch[2].link, "").head(),
        Chain(b.chain_id, b.key, 2, batch[1].link, "").head(),
    ]
    with pytest.raises(ConflictError, match=f"chain {b.chain_id.hex()} seq 2 is already taken"):
        store.append(batch, heads, checkpoint(start + 3))
    assert (_snapshot(store), store.list_checkpoints()) == before


def test_append_at_a_taken_or_wrong_position(store: Store) -> None:
    chain = enroll_chain(store)
    r = record(0, chain.chain_id, 1)
    head = Chain(chain.chain_id, chain.key, 1, r.link, "").head()
    with pytest.raises(ConflictError, match="log_index 0 is already taken"):
        store.append([r], [head])
    r = record(2, chain.chain_id, 1)
    head = Chain(chain.chain_id, chain.key, 1, r.link, "").head()
    with pytest.raises(StoreError, match="consecutive log indexes from 1"):
        store.append([r], [head])
    assert store.tree_size() == 1


def test_append_needs_enrolled_chains_and_right_heads(store: Store) -> None:
    chain = enroll_chain(store)
    stranger = os.urandom(16)
    r = record(1, stranger, 1)
    with pytest.raises(StoreError, match="not enrolled"):
        store.append([r], [Chain(stranger, b"k" * 32, 1, r.link, "").head()])
    r = record(1, chain.chain_id, 1)
    with pytest.raises(StoreError, match="got no head"):
        store.append([r], [])
    with pytest.raises(StoreError, match="got a head at seq 0"):
        store.append([r], [Chain(chain.chain_id, chain.key, 0, r.link, "").head()])
    assert store.tree_size() == 1
    device = store.get_device(chain.chain_id)
    assert device is not None and device.head_seq == 0


def test_append_refuses_values_beyond_int64(store: Store) -> None:
    chain = enroll_chain(store)
    r = record(1, chain.chain_id, 2**63)
    with pytest.raises(StoreError, match="does not fit"):
        store.append([r], [Chain(chain.chain_id, chain.key, 2**63, r.link, "").head()])
    assert store.get_record(chain.chain_id, 2**63) is None
    assert store.get_records([(chain.chain_id, 2**64 - 1)]) == {}
    assert store.record_at(2**64 - 1) is None


def test_get_records(store: Store) -> None:
    chains = [enroll_chain(store) for _ in range(40)]
    records = extend(store, chains, 15)  # 600 records: more keys than one SQLite query takes
    keys = [(r.chain_id, r.seq) for r in records]
    missing = [(os.urandom(16), 1), (chains[0].chain_id, 99)]
    got = store.get_records(keys + missing)
    assert got == {(r.chain_id, r.seq): r for r in records}
    assert store.get_record(records[7].chain_id, records[7].seq) == records[7]
    assert store.get_record(chains[0].chain_id, 99) is None
    assert store.record_at(records[7].log_index) == records[7]
    assert store.record_at(10**6) is None
    assert store.get_records([]) == {}


@pytest.mark.parametrize(("start", "chunk"), [(0, 1), (0, 7), (5, 7), (0, 1000), (30, 4), (99, 3)])
def test_iter_entries_gives_the_exact_bytes(store: Store, start: int, chunk: int) -> None:
    chains = [enroll_chain(store) for _ in range(3)]
    extend(store, chains, 9)
    entries = [_core.log_entry(r.link, r.received_ms) for r in all_records(store)]
    assert len(entries) == 30 and {len(e) for e in entries} == {41}
    assert [r.entry for r in all_records(store)] == entries
    chunks = list(store.iter_entries(start=start, chunk=chunk))
    assert b"".join(chunks) == b"".join(entries[start:])
    assert all(len(c) == 41 * chunk for c in chunks[:-1])
    assert all(0 < len(c) <= 41 * chunk for c in chunks)


def test_rotations_and_fork_evidence_counts(store: Store) -> None:
    chain = enroll_chain(store)
    extend(store, [chain], 2)
    rot = extend(store, [chain], 1, kind=2)[0]
    assert store.rotations(chain.chain_id) == [(rot.seq, rot.payload)]
    assert store.rotations(os.urandom(16)) == []
    assert store.count_fork_evidence(chain.chain_id) == 0


def test_meta_is_set_once(store: Store) -> None:
    assert store.get_meta("origin") is None
    store.set_meta("origin", b"relay.example/t")
    store.set_meta("origin", b"relay.example/t")  # the same again: nothing changes
    with pytest.raises(ConflictError, match=r"the store's origin is b'relay\.example/t'"):
        store.set_meta("origin", b"other.example/t")
    assert store.get_meta("origin") == b"relay.example/t"


def test_fork_evidence(store: Store) -> None:
    a, b = enroll_chain(store), enroll_chain(store)
    extend(store, [a, b], 2)
    held = store.get_record(a.chain_id, 1)
    assert held is not None

    def evidence(chain_id: bytes, seq: int, index: int, received_ms: int) -> ForkEvidence:
        r = record(0, chain_id, seq)
        return ForkEvidence(
            chain_id,
            seq,
            index,
            r.time_ms,
            r.kind,
            r.prev,
            r.commit,
            r.beacon_size,
            r.beacon_root,
            r.link,
            r.signature,
            r.salt,
            r.payload,
            received_ms,
        )

    first = evidence(a.chain_id, 1, held.log_index, 10)
    store.add_fork_evidence(first)
    # The same refused record sent again (later): kept once, with its first receipt time.
    store.add_fork_evidence(dataclasses.replace(first, received_ms=20))
    second = evidence(b.chain_id, 2, 5, 30)
    third = evidence(a.chain_id, 1, held.log_index, 40)
    store.add_fork_evidence(second)
    store.add_fork_evidence(third)
    assert store.list_fork_evidence() == [first, second, third]
    assert store.list_fork_evidence(a.chain_id) == [first, third]
    assert store.list_fork_evidence(os.urandom(16)) == []
    with pytest.raises(StoreError, match="existing_log_index 999 holds no record"):
        store.add_fork_evidence(evidence(a.chain_id, 1, 999, 50))


def test_erase(store: Store) -> None:
    chain = enroll_chain(store)
    records = extend(store, [chain], 3)
    rotation = extend(store, [chain], 1, kind=2)[0]
    target = records[1]
    done = store.erase(target.log_index, 500, "participant request")
    assert done == Erasure(target.log_index, 500, "participant request")
    erased = store.record_at(target.log_index)
    assert erased is not None
    assert (erased.salt, erased.payload) == (None, None)
    assert (erased.commit, erased.link, erased.signature) == (
        target.commit,
        target.link,
        target.signature,
    )
    assert store.record_at(records[0].log_index) == records[0]
    # Idempotent: the first erasure stands.
    assert store.erase(target.log_index, 900, "again") == done
    assert store.list_erasures() == [done]
    with pytest.raises(StoreError, match="kind 0"):
        store.erase(0, 1, "genesis")
    with pytest.raises(StoreError, match="kind 2"):
        store.erase(rotation.log_index, 1, "rotation")
    with pytest.raises(StoreError, match="no record at this log position"):
        store.erase(10**6, 1, "missing")
    second = store.erase(records[2].log_index, 600, "second")
    assert store.list_erasures() == [done, second]
    assert store.record_at(0) is not None and store.record_at(0).payload == chain.key  # type: ignore[union-attr]


# --------------------------------------------------------------------------- checkpoints


def test_checkpoints_and_anchors(store: Store) -> None:
    chain = enroll_chain(store)
    extend(store, [chain], 9)  # tree size 10
    cps = [checkpoint(n, created_ms=n) for n in (0, 4, 10)]
    for cp in cps:
        store.add_checkpoint(cp)
    store.add_checkpoint(cps[1])  # the same checkpoint again: nothing changes
    with pytest.raises(ConflictError, match="tree_size 4"):
        store.add_checkpoint(checkpoint(4))
    with pytest.raises(StoreError, match="beyond the log's size 10"):
        store.add_checkpoint(checkpoint(11))
    assert store.list_checkpoints() == cps
    assert store.latest_checkpoint() == cps[2]
    assert store.get_checkpoint(4) == cps[1]
    assert store.get_checkpoint(5) is None

    pending = anchor(block=None, final=False)
    store.set_anchor(4, pending)
    assert store.get_checkpoint(4) == StoredCheckpoint(4, cps[1].root, cps[1].note, 4, pending)
    final = anchor()
    store.set_anchor(4, final)
    store.set_anchor(10, anchor())
    store.set_anchor(10, None)  # a reorg dropped it
    assert store.get_checkpoint(4).anchor == final  # type: ignore[union-attr]
    assert store.get_checkpoint(10).anchor is None  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="no checkpoint of this tree_size"):
        store.set_anchor(5, final)

    table = store.checkpoints_table()
    assert table.schema == CHECKPOINT_SCHEMA
    assert table.to_pydict() == {
        "tree_size": [0, 4, 10],
        "root": [cp.root for cp in cps],
        "note": [cp.note for cp in cps],
        "tx_hash": [None, final.tx_hash, None],
        "block_number": [None, 123, None],
    }


def test_checkpoint_with_its_anchor_in_one_call(store: Store) -> None:
    a = anchor()
    cp = StoredCheckpoint(0, os.urandom(32), os.urandom(64), 1, a)
    store.add_checkpoint(cp)
    assert store.latest_checkpoint() == cp


def test_conflicting_checkpoint_in_append_stores_nothing(store: Store) -> None:
    chain = enroll_chain(store)
    store.add_checkpoint(checkpoint(1))
    r = record(1, chain.chain_id, 1)
    with pytest.raises(ConflictError, match="tree_size 1"):
        store.append([r], [Chain(chain.chain_id, chain.key, 1, r.link, "").head()], checkpoint(1))
    assert store.tree_size() == 1


# --------------------------------------------------------------------------- export reads


def test_iter_record_batches(store: Store) -> None:
    chains = [enroll_chain(store) for _ in range(4)]
    extend(store, chains, 6)  # 28 records
    store.erase(10, 1, "x")
    expected = all_records(store)
    batches = list(store.iter_record_batches(batch_rows=10))
    assert [b.num_rows for b in batches] == [10, 10, 8]
    assert all(b.schema == RECORD_SCHEMA for b in batches)
    table = pa.Table.from_batches(batches)
    assert table.column("log_index").to_pylist() == list(range(28))
    rows = table.to_pylist()
    assert rows == [{name: getattr(r, name) for name in RECORD_SCHEMA.names} for r in expected]
    assert rows[10]["payload"] is None and rows[10]["salt"] is None
    upto = list(store.iter_record_batches(batch_rows=100, upto=13))
    assert [b.num_rows for b in upto] == [13]
    assert list(store.iter_record_batches(upto=0)) == []
    with pytest.raises(StoreError):
        list(store.iter_record_batches(batch_rows=0))


def test_iter_record_batches_is_one_snapshot(store: Store) -> None:
    chains = [enroll_chain(store) for _ in range(2)]
    extend(store, chains, 5)
    batches = store.iter_record_batches(batch_rows=4)
    first = next(batches)
    extend(store, chains, 5)  # the writer goes on while the export reads
    rest = list(batches)
    assert first.num_rows + sum(b.num_rows for b in rest) == 12
    assert store.tree_size() == 22


# --------------------------------------------------------------------------- lifecycle


def test_durability_across_reopen(store_target: str) -> None:
    with open_store(store_target) as s:
        s.set_log_id(b"\x07" * 32)
        chains = [enroll_chain(s) for _ in range(3)]
        extend(s, chains, 5, checkpoint=checkpoint(18))
        s.erase(5, 1, "x")
        s.set_anchor(18, anchor())
        state = (
            all_records(s),
            s.list_devices(),
            s.list_checkpoints(),
            s.list_erasures(),
            b"".join(s.iter_entries()),
        )
    with open_store(store_target) as s:
        assert s.get_log_id() == b"\x07" * 32
        assert (
            all_records(s),
            s.list_devices(),
            s.list_checkpoints(),
            s.list_erasures(),
            b"".join(s.iter_entries()),
        ) == state


def test_closed_store(store: Store) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.tree_size()
    with pytest.raises(StoreError, match="closed"):
        store.set_log_id(b"\x01" * 32)


def test_usable_from_worker_threads(store: Store) -> None:
    async def main() -> int:
        chain = await asyncio.to_thread(enroll_chain, store)
        await asyncio.to_thread(extend, store, [chain], 3)
        return await asyncio.to_thread(store.tree_size)

    assert asyncio.run(main()) == 4


def test_open_store_picks_the_backend(tmp_path: Path, pg_store_url: str) -> None:
    with open_store(f"sqlite://{tmp_path}/a.db") as s:
        assert isinstance(s, SqliteStore)
    assert (tmp_path / "a.db").is_file()
    with open_store(tmp_path / "b.db") as s:
        assert isinstance(s, SqliteStore)
    with open_store(pg_store_url) as s:
        assert isinstance(s, PostgresStore)
    with open_store(pg_store_url.replace("postgresql://", "postgres://", 1)) as s:
        assert isinstance(s, PostgresStore)
    with pytest.raises(StoreError, match="unsupported store URL scheme 'mysql'"):
        open_store("mysql://localhost/db")


# --------------------------------------------------------------------------- SQLite only


def test_sqlite_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_sqlite_readonly_while_a_writer_holds_the_store(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    writer = SqliteStore(path)
    chain = enroll_chain(writer)
    extend(writer, [chain], 3, checkpoint=checkpoint(4))
    # Another connection in the middle of a write transaction, uncommitted.
    busy = sqlite3.connect(path, isolation_level=None)
    busy.execute("BEGIN IMMEDIATE")
    busy.execute("INSERT INTO meta (key, value) VALUES ('log_id', x'00')")
    try:
        with SqliteStore(path, readonly=True) as reader:
            assert reader.tree_size() == 4
            assert reader.get_log_id() is None  # committed data only
            assert reader.latest_checkpoint() == writer.latest_checkpoint()
            assert sum(b.num_rows for b in reader.iter_record_batches()) == 4
            with pytest.raises(StoreError, match="read-only"):
                reader.set_log_id(b"\x01" * 32)
    finally:
        busy.execute("ROLLBACK")
        busy.close()
    extend(writer, [chain], 1)  # the writer is unaffected
    writer.close()


def test_sqlite_readonly_never_creates(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match=str(missing)):
        SqliteStore(missing, readonly=True)
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="not a hashcore store"):
        open_store(empty, readonly=True)


def test_sqlite_busy_writer_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = SqliteStore(path, busy_timeout_ms=50)
    busy = sqlite3.connect(path, isolation_level=None)
    busy.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"):
            store.set_log_id(b"\x01" * 32)
        with pytest.raises(StoreError, match="locked"):
            SqliteStore(path, busy_timeout_ms=50)  # migrating needs the write lock too
    finally:
        busy.execute("ROLLBACK")
        busy.close()
    store.set_log_id(b"\x01" * 32)
    store.close()
