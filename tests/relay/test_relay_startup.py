"""What a relay checks before it serves (issue 15): no plaintext beyond loopback, a store
no other user can read, one relay per store, and a PostgreSQL relay's explicit key dir."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hashcore import Device, RelayClient
from hashcore.errors import InvalidInputError, StoreError
from hashcore.relay.ledger import Limits
from hashcore.relay.server import RelayConfig, RelayServer
from hashcore.relay.store import SqliteStore, open_store
from hashcore.relay.store.postgres import describe_url

from . import store_fixtures
from .conftest import ThreadRelay, enrolled_device, start_process_relay
from .store_fixtures import PG_ADMIN_URL

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
            "relay.key.store-id",
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


# ------------------------------------------------------------------ 8: PostgreSQL key dir


@pytest.fixture
def two_pg_databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases (dropped afterwards)."""
    names = [f"hc_keys_{secrets.token_hex(5)}" for _ in range(2)]
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    with admin:
        for name in names:
            admin.execute(f"CREATE DATABASE {name}")
        try:
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            yield f"{base}/{names[0]}", f"{base}/{names[1]}"
        finally:
            for name in names:
                admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def serve_args(db: str, *extra: str) -> list[str]:
    return ["relay", "serve", "--db", db, "--listen", "127.0.0.1:0", "--plaintext",
            "--evm", "none", *extra]  # fmt: skip


def test_a_postgres_relay_needs_an_explicit_key_dir(
    two_pg_databases: tuple[str, str], tmp_path: Path
) -> None:
    out = hashcore(*serve_args(two_pg_databases[0]), cwd=tmp_path)
    assert one_error_line(out) == (
        "a postgresql:// store needs --key-dir DIR: where this relay's key and operator "
        "token live (one directory per store; never shared by two relays)"
    )
    assert list(tmp_path.iterdir()) == []  # nothing left in the working directory


def test_one_key_dir_serves_one_postgres_store(
    two_pg_databases: tuple[str, str], tmp_path: Path
) -> None:
    db1, db2 = two_pg_databases
    keys = tmp_path / "keys"
    first = start_relay(tmp_path, db1, "--key-dir", str(keys))
    log_id_1 = first.log_id
    assert first.terminate() == 0
    assert sorted(p.name for p in keys.iterdir()) == [
        "relay.key",
        "relay.key.store-id",
        "relay.operator-token",
    ]
    assert mode(keys) == 0o700
    bound = json.loads((keys / "relay.key.store-id").read_text())
    assert bound["store"] == describe_url(db1)

    # The second database with the first one's key dir: refused, naming both stores.
    out = hashcore(*serve_args(db2, "--key-dir", str(keys)))
    with open_store(db2) as store2:
        id2 = store2.store_id().hex()
        assert store2.get_log_id() is None  # the refused relay bound nothing to db2
    assert one_error_line(out) == (
        f"{keys / 'relay.key'}: this relay key already serves another store "
        f"({describe_url(db1)}, store id {bound['store_id']}); {describe_url(db2)} "
        f"(store id {id2}) needs a key of its own: give it its own --key-dir"
    )

    # Each store with its own key dir: two relays, two log_ids; the first restarts fine.
    second = start_relay(tmp_path, db2, "--key-dir", str(tmp_path / "keys2"))
    again = start_relay(tmp_path, db1, "--key-dir", str(keys))
    try:
        assert second.log_id != log_id_1
        assert again.log_id == log_id_1
    finally:
        assert second.terminate() == 0
        assert again.terminate() == 0


def test_a_sqlite_relay_key_refuses_another_store(tmp_path: Path) -> None:
    key = tmp_path / "shared.key"
    first = start_relay(tmp_path, str(tmp_path / "a.db"), "--key-file", str(key))
    assert first.terminate() == 0
    out = hashcore(*serve_args(str(tmp_path / "b.db"), "--key-file", str(key)))
    assert "this relay key already serves another store" in one_error_line(out)
    assert str(tmp_path / "a.db") in one_error_line(out)


@dataclass
class Served:
    proc: subprocess.Popen[str]
    log_id: str

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def start_relay(cwd: Path, db: str, *extra: str) -> Served:
    """`hashcore relay serve` in ``cwd``; its log_id from the start-up log line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hashcore.cli", *serve_args(db, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise AssertionError(f"relay exited ({proc.wait()}): {proc.stderr.read()}")
    while (err := proc.stderr.readline()) and " serving on " not in err:
        pass
    m = re.search(r"relay ([0-9a-f]{64}) serving on", err)
    assert m, err
    return Served(proc, m.group(1))


# ------------------------------------------------------------------ 16: what --help says


def test_serve_help_shows_every_default_and_the_file_names() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hashcore.cli", "relay", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "1000"},
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())  # the description is wrapped even so
    limits, config = Limits(), RelayConfig(store="x.db")
    for fragment in [
        f"records per batch; more: RESOURCE_EXHAUSTED (default {limits.max_records_per_batch})",
        f"bytes per record payload; more: RESOURCE_EXHAUSTED (default {limits.max_payload_bytes})",
        f"bytes per gRPC message, both ways (default {config.max_message_bytes} = 8 MiB)",
        f"sign a checkpoint every N records (default {config.checkpoint_every})",
        "where relay.key, relay.operator-token (and relay.evm-state.json) live; required "
        "with a postgresql:// --db",
        "Phones pin the origin and log key (the public key of relay.key, its 'log_id' field;",
        "Every acknowledgement carries a signed receipt; checkpoints are C2SP signed notes.",
        "default: the name the store already has, else hashcore-relay/<first 16 hex digits "
        "of the log key>",
        f"wait this long for the final checkpoint's anchor to be final (default "
        f"{config.stop_anchor_wait_s:g})",
        "GetCheckpoint(0) is the newest checkpoint, GetCheckpoint(N) the one of exactly "
        "tree size N (NOT_FOUND if none).",
        "Consistency-proof roots are unsigned: check them against signed checkpoints.",
    ]:
        assert fragment in text, fragment


def test_docs_relay_md_states_the_real_defaults() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "relay.md").read_text()
    limits, config = Limits(), RelayConfig(store="x.db")
    for row in [
        f"| `--max-batch-records N` | {limits.max_records_per_batch} records per batch |",
        f"| `--max-payload-bytes N` | {limits.max_payload_bytes} bytes per record payload |",
        f"| `--max-message-bytes N` | {config.max_message_bytes} (8 MiB) per gRPC message",
        f"| `--checkpoint-every N` | {config.checkpoint_every} records |",
        f"| `--confirmations N` | {config.confirmations} blocks |",
        "| `relay.key` | the relay's Ed25519 key",
        "| `relay.operator-token` | the operator bearer token",
        "**Every acknowledgement is a signed receipt.**",
        "## The log's origin",
        "**`GetCheckpoint(0)` is the newest checkpoint; `GetCheckpoint(n)` is the checkpoint of",
        "**Consistency-proof roots are not signed.**",
        "## Which key a phone pins",
    ]:
        assert row in doc, row
