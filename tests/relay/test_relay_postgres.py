"""The relay on PostgreSQL (the real server on 127.0.0.1:5432), end to end: ingest,
restart with the log rebuilt from the database, export, clean audit."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from hashcore import _core, audit_bundle
from hashcore.relay.export import export_bundle

from .conftest import ThreadRelay, enrolled_device, log_leaves

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database per test (dropped afterwards). Fails, never skips, without a server."""
    name = f"hashcore_relay_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_relay_on_postgres(
    relay_factory: Callable[..., ThreadRelay], pg_url: str, tmp_path: Path
) -> None:
    relay = relay_factory(
        store=pg_url, key_file=tmp_path / "relay.key", operator_token_file=tmp_path / "op"
    )
    devices = [enrolled_device(relay, f"P{i}", records=30) for i in range(3)]
    client = relay.client()
    for d in devices:
        assert client.sync(d, batch_size=7).sent == 30
    assert [a.duplicate for a in client.submit(devices[0].records()[5:8])] == [True] * 3
    root = relay.call(lambda: relay.server.ledger.tree.root())  # type: ignore[union-attr]
    relay.stop()

    again = relay_factory(
        store=pg_url, key_file=tmp_path / "relay.key", operator_token_file=tmp_path / "op"
    )
    assert again.call(lambda: (again.server.ledger.size, again.server.ledger.tree.root())) == (
        93,
        root,
    )  # type: ignore[union-attr]
    links = [r.link for d in devices for r in d.records()]
    # Enrollment put the three geneses first, then each device's 30 records in turn.
    ordered = [d.records()[0].link for d in devices] + [
        r.link for d in devices for r in d.records()[1:]
    ]
    assert sorted(links) == sorted(ordered)
    stored = log_leaves(again)
    assert [
        again.call(lambda i=i: again.server.ledger.store.record_at(i).link) for i in range(93)
    ] == ordered  # type: ignore[union-attr]
    assert root == _core.sha256_tree_root(stored)
    again.stop()

    result = export_bundle(pg_url, tmp_path / "bundle")
    report = audit_bundle(tmp_path / "bundle")
    assert report.clean
    assert (report.records, report.counts["OK"]) == (93, 93)
    assert result is not None
