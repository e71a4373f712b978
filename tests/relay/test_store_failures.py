"""Store failures (issue 15, defect 4): a real full disk (a small tmpfs) and a PostgreSQL
connection killed under the relay. The client is told RESOURCE_EXHAUSTED (full disk, with
a retry-after) or UNAVAILABLE, never the server's path or URL; the relay logs the failure
with the path and counts it; the client retries what is retryable; nothing acknowledged
is lost and the relay carries on once the store is back."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from hashcore import RelayError
from hashcore.relay.client import RetryPolicy, record_pb

from .conftest import ThreadRelay, enrolled_device
from .test_relay_postgres import ADMIN, pg_url  # noqa: F401  (a fixture)
from .test_relay_service import raw_submit

NO_WAIT = RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=0.01)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real file system that really fills up (root only)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)], check=True
    )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with one file; returns it (delete it to free)."""
    filler = disk / "filler"
    chunk = b"\0" * 4096
    with open(filler, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    os.sync()
    return filler


def _store_errors(relay: ThreadRelay, kind: str) -> float:
    assert relay.server is not None
    value = relay.server.metrics.registry.get_sample_value(
        "hashcore_store_errors_total", {"kind": kind}
    )
    return value or 0.0


def test_a_full_disk_is_resource_exhausted_without_the_path_and_is_logged(
    relay_factory: Callable[..., ThreadRelay],
    small_disk: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = small_disk / "relay.db"
    relay = relay_factory(store=str(db))
    device = enrolled_device(relay, records=3)
    assert relay.client().sync(device).sent == 3
    for _ in range(8):
        device.append(os.urandom(16 * 1024).hex().encode())  # 32 KiB each
    filler = _fill(small_disk)
    batch = [record_pb(r) for r in device.records()[4:]]

    with caplog.at_level(logging.ERROR, logger="hashcore.relay"):
        code, details = raw_submit(relay, batch)
    assert (code, details) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "the relay's store is full; nothing was stored; retry later",
    )
    assert _store_errors(relay, "disk_full") == 1
    failures = [r.getMessage() for r in caplog.records if "store failure" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].startswith(f"store failure (disk_full): {db}: append: ")
    assert "database or disk is full" in failures[0]

    # The client retries a full disk (the relay says when), then gives up with the status.
    with pytest.raises(RelayError) as exc:
        relay.client(retry=NO_WAIT).submit(device.records()[4:])
    assert exc.value.code == "RESOURCE_EXHAUSTED"
    assert _store_errors(relay, "disk_full") == 1 + NO_WAIT.attempts

    # Space again: the same batch goes in after the acknowledged records, nothing lost.
    filler.unlink()
    acks = relay.client().submit(device.records()[4:])
    assert [(a.seq, a.log_index, a.duplicate) for a in acks] == [
        (seq, seq, False) for seq in range(4, 12)
    ]
    acked = relay.client().submit(device.records()[1:4])
    assert [(a.log_index, a.duplicate) for a in acked] == [(1, True), (2, True), (3, True)]


def test_a_limit_refusal_is_not_retried(relay: ThreadRelay) -> None:
    """RESOURCE_EXHAUSTED without a retry-after (a batch over the limits) fails at once."""
    device = enrolled_device(relay)
    device.append(b"x" * (64 * 1024 + 1))
    with pytest.raises(RelayError) as exc:
        relay.client(retry=NO_WAIT).submit(device.records()[1:])
    assert exc.value.code == "RESOURCE_EXHAUSTED"
    assert relay.server is not None
    rejected = relay.server.metrics.registry.get_sample_value(
        "hashcore_relay_records_rejected_total", {"reason": "too_large"}
    )
    assert rejected == 1


def _kill_connections(db_url: str) -> int:
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        ).fetchall()
    return len(rows)


def test_a_lost_postgres_connection_is_unavailable_and_retried(
    relay_factory: Callable[..., ThreadRelay],
    pg_url: str,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    relay = relay_factory(
        store=pg_url, key_file=tmp_path / "relay.key", operator_token_file=tmp_path / "op"
    )
    device = enrolled_device(relay, records=4)
    assert relay.client().sync(device, batch_size=2).sent == 4

    assert _kill_connections(pg_url) >= 1
    device.append(b"after the connection was lost")
    with caplog.at_level(logging.ERROR, logger="hashcore.relay"):
        code, details = raw_submit(relay, [record_pb(device.records()[5])])
    assert (code, details) == (
        grpc.StatusCode.UNAVAILABLE,
        "the relay's store failed (connection); nothing was stored; retry later",
    )
    assert "postgresql://" not in details
    assert _store_errors(relay, "connection") == 1
    failures = [r.getMessage() for r in caplog.records if "store failure" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].startswith("store failure (connection): postgresql://postgres@127.0.0.1")

    # Killed again: the client's retry reaches the reconnected store.
    assert _kill_connections(pg_url) >= 1
    acks = relay.client(retry=NO_WAIT).submit(device.records()[5:])
    assert [(a.seq, a.log_index, a.duplicate) for a in acks] == [(5, 5, False)]
    assert _store_errors(relay, "connection") == 2
