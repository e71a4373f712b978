"""What a relay checks before it serves (issue 15): no plaintext beyond loopback, a store
no other user can read, one relay per store, and a PostgreSQL relay's explicit key dir."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hashcore import Device, RelayClient
from hashcore.errors import InvalidInputError, StoreError
from hashcore.relay.server import RelayConfig, RelayServer
from hashcore.relay.store import SqliteStore

from . import store_fixtures
from .conftest import ThreadRelay, enrolled_device, start_process_relay

pg_store_url = store_fixtures.pg_store_url


def hashcore(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashcore.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hashcore: error: "), out.stderr
    return lines[0].removeprefix("hashcore: error: ")


# ------------------------------------------------------------------ 15: plaintext remote


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.7:7443", "relay.example:1"])
def test_plaintext_beyond_loopback_is_refused(tmp_path: Path, listen: str) -> None:
    db = tmp_path / "relay.db"
    out = hashcore(
        "relay", "serve", "--db", str(db), "--listen", listen, "--plaintext", "--evm", "none"
    )
    assert one_error_line(out) == (
        f"--plaintext on {listen} would serve unencrypted beyond this host: listen on "
        "127.0.0.1 or ::1, use TLS, or add --allow-insecure-remote"
    )
    assert list(tmp_path.iterdir()) == []  # refused before any key or store was made


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "127.8.9.10:0", "[::1]:0", "localhost:0"])
def test_plaintext_on_loopback_is_allowed(tmp_path: Path, listen: str) -> None:
    RelayServer(RelayConfig(store=str(tmp_path / "r.db"), listen=listen, plaintext=True))


def test_allow_insecure_remote_lifts_the_refusal(tmp_path: Path) -> None:
    config = RelayConfig(store=str(tmp_path / "r.db"), listen="0.0.0.0:7443", plaintext=True)
    with pytest.raises(InvalidInputError):
        config.check()
    config.allow_insecure_remote = True
    config.check()


# ------------------------------------------------------------------ 7: private files


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_wal_shm_key_and_token_are_0600(tmp_path: Path, umask_022: None) -> None:
    relay = ThreadRelay(
        RelayConfig(store=str(tmp_path / "relay.db"), listen="127.0.0.1:0", plaintext=True)
    ).start()
    try:
        enrolled_device(relay, "P1", records=3)
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == [
            "relay.db",
            "relay.db-shm",
            "relay.db-wal",
            "relay.db.lock",
            "relay.key",
            "relay.operator-token",
        ]
        assert {n: mode(tmp_path / n) for n in names} == dict.fromkeys(names, 0o600)
    finally:
        relay.stop()
    assert mode(tmp_path / "relay.db") == 0o600


def test_an_existing_world_readable_store_is_made_private(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "old.db"
    sqlite3.connect(db).close()  # what an older relay left: 0644
    assert mode(db) == 0o644
    SqliteStore(db).close()
    assert mode(db) == 0o600
    assert f"{db} was readable by others (mode 644): now 600" in caplog.text


def test_a_world_writable_store_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(StoreError) as exc:
        SqliteStore(shared / "relay.db")
    assert str(exc.value) == (
        f"{shared}: the store's directory is writable by anyone (mode 777): others could "
        "replace the store; chmod o-w it or put the store elsewhere"
    )
    assert list(shared.iterdir()) == []


def test_a_group_writable_store_directory_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    group = tmp_path / "group"
    group.mkdir()
    group.chmod(0o770)
    SqliteStore(group / "relay.db").close()
    assert (
        f"{group}: the store's directory is group-writable (mode 770): the group can "
        "replace the store"
    ) in caplog.text


# ------------------------------------------------------------------ 9: one relay per store


def test_a_second_relay_on_the_same_sqlite_store_refuses_to_start(tmp_path: Path) -> None:
    first = start_process_relay(tmp_path)
    try:
        db = tmp_path / "relay.db"
        out = hashcore(
            "relay", "serve", "--db", str(db), "--listen", "127.0.0.1:0", "--plaintext",
            "--evm", "none",
        )  # fmt: skip
        assert one_error_line(out) == (
            f"{db}: the store is in use by another relay (it holds {db}.lock); one relay per store"
        )
        # The operator's tools still work beside the running relay.
        token = hashcore("relay", "token", "--db", str(db), "--participant", "P7")
        assert token.returncode == 0, token.stderr
        device = Device.new()
        RelayClient(first.target, plaintext=True).enroll(device, token.stdout.strip())
    finally:
        assert first.terminate() == 0
    # Once the first relay is gone the store is free again, even after a kill -9.
    second = start_process_relay(tmp_path)
    second.kill9()
    third = start_process_relay(tmp_path)
    assert third.terminate() == 0


def test_a_second_relay_on_the_same_postgres_store_refuses_to_start(
    pg_store_url: str, tmp_path: Path
) -> None:
    first = start_process_relay(tmp_path, pg_store_url)
    try:
        out = hashcore(
            "relay", "serve", "--db", pg_store_url, "--listen", "127.0.0.1:0", "--plaintext",
            "--evm", "none", "--key-file", str(tmp_path / "other.key"),
        )  # fmt: skip
        assert one_error_line(out) == (
            "postgresql://postgres@127.0.0.1:5432/test: the store is in use by another relay "
            "(it holds the store's advisory lock); one relay per store"
        )
    finally:
        assert first.terminate() == 0
