"""Erasure leaves no copy in the store's files (issue 15, defect 3): after EraseRecord, with
the relay still running, neither the erased payload nor its salt (nor those of a fork
evidence copy of it) is in any file of the store: SQLite's database, -wal and -shm; the
PostgreSQL database's own directory (its WAL, pg_wal, is outside the store's reach: see
docs/erasure.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import grpc
import psycopg
from hashcore import Device

from .conftest import ThreadRelay, enrolled_device, fork_of
from .test_relay_postgres import ADMIN, pg_url  # noqa: F401  (a fixture)
from .test_relay_service import raw_submit


def _erase_with_a_fork_copy(relay: ThreadRelay) -> tuple[Device, list[bytes]]:
    """A device whose seq 4 holds a unique diary entry, a fork of seq 4 carrying the same
    entry (kept as evidence), then seq 4 erased. Returns the bytes that must be gone."""
    device = enrolled_device(relay, records=3)
    secret = b'{"day": 4, "note": "erase-me-%s"}' % os.urandom(12).hex().encode()
    original = device.append(secret)
    device.append(b'{"day": 5}')
    assert relay.client().sync(device).sent == 5
    fork_salt = os.urandom(16)
    fork = fork_of(device, 4, payload=secret, salt=fork_salt, time_ms=original.time_ms + 1)
    code, _ = raw_submit(relay, [fork])
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert relay.client(operator=True).erase(device.chain_id, 4) == 4
    assert original.salt is not None
    return device, [secret, original.salt, fork_salt]


def _holding(files: list[Path], needles: list[bytes]) -> list[tuple[str, int]]:
    """(file name, needle number) for every needle found in a file."""
    found = []
    for f in files:
        data = f.read_bytes()
        found += [(f.name, i) for i, n in enumerate(needles) if n in data]
    return found


def _check_evidence_kept(relay: ThreadRelay, device: Device) -> None:
    store = relay.server.ledger.store  # type: ignore[union-attr]
    evidence = relay.call(lambda: store.list_fork_evidence(device.chain_id))
    assert [(e.seq, e.existing_log_index, e.salt, e.payload) for e in evidence] == [
        (4, 4, None, None)
    ]
    record = relay.call(lambda: store.get_record(device.chain_id, 4))
    assert (record.salt, record.payload, record.link) == (None, None, device.records()[4].link)


def test_erased_bytes_are_in_no_sqlite_file(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    relay = relay_factory()
    device, needles = _erase_with_a_fork_copy(relay)
    db = tmp_path / "relay.db"
    files = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
    assert db in files
    assert _holding(files, needles) == []
    _check_evidence_kept(relay, device)
    # The relay goes on as before.
    device.append(b'{"day": 6}')
    assert relay.client().sync(device).sent == 1


def test_erased_bytes_are_in_no_file_of_the_postgres_database(
    relay_factory: Callable[..., ThreadRelay],
    pg_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    relay = relay_factory(
        store=pg_url, key_file=tmp_path / "relay.key", operator_token_file=tmp_path / "op"
    )
    device, needles = _erase_with_a_fork_copy(relay)
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # every dirty page of the database is in its files
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert oid is not None
    base = Path(data_dir) / "base" / str(oid[0])
    # Root reads the server's files on this machine; elsewhere this test can't look.
    files = [p for p in base.iterdir() if p.is_file()]
    assert len(files) > 10
    assert _holding(files, needles) == []
    _check_evidence_kept(relay, device)
    device.append(b'{"day": 6}')
    assert relay.client().sync(device).sent == 1
