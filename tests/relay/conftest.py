"""Real relays for the tests: in a background thread of this process (fast, inspectable),
or as a `hashcore relay serve` subprocess (for SIGTERM and kill -9)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hashcore import Device, RelayClient, _core
from hashcore.relay.background import BackgroundRelay
from hashcore.relay.client import RetryPolicy
from hashcore.relay.server import RelayConfig, RelayServer
from hashcore.relay.v2 import relay_pb2 as pb

FAST_RETRY = RetryPolicy(attempts=3, first_delay_s=0.05, max_delay_s=0.1)


@dataclass
class ThreadRelay:
    """A RelayServer running in the background (hashcore.relay.background), plus the
    handles the tests use."""

    config: RelayConfig
    background: BackgroundRelay | None = None
    clients: list[RelayClient] = field(default_factory=list)

    @property
    def server(self) -> RelayServer | None:
        return self.background.server if self.background is not None else None

    def start(self) -> ThreadRelay:
        self.background = BackgroundRelay(self.config, wait_s=30).start()
        return self

    def stop(self) -> None:
        if self.background is None:
            return
        for c in self.clients:
            c.close()
        self.clients.clear()
        self.background.stop()
        self.background = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def operator_token(self) -> str:
        assert self.server is not None
        return self.server.operator_token

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a ledger/store function on the relay's writer thread (the threading rule)."""
        assert self.background is not None and self.background.server._writer is not None
        return self.background.call(self.background.server._writer.call(fn, *args))

    def client(self, *, operator: bool = False, **kw: Any) -> RelayClient:
        kw.setdefault("retry", FAST_RETRY)
        c = RelayClient(
            self.target,
            plaintext=self.config.plaintext,
            operator_token=self.operator_token if operator else None,
            **kw,
        )
        self.clients.append(c)
        return c


@pytest.fixture
def relay_factory(tmp_path: Path) -> Iterator[Callable[..., ThreadRelay]]:
    relays: list[ThreadRelay] = []

    def make(**overrides: Any) -> ThreadRelay:
        kw: dict[str, Any] = {
            "store": str(tmp_path / "relay.db"),
            "listen": "127.0.0.1:0",
            "plaintext": True,
            "checkpoint_every": 1000,
            "checkpoint_interval_s": 3600.0,
        }
        kw.update(overrides)
        relay = ThreadRelay(RelayConfig(**kw)).start()
        relays.append(relay)
        return relay

    yield make
    for r in relays:
        r.stop()


@pytest.fixture
def relay(relay_factory: Callable[..., ThreadRelay]) -> ThreadRelay:
    return relay_factory()


def log_leaves(relay: ThreadRelay) -> list[bytes]:
    """The SPEC v2 2.1 leaf hashes of the relay's stored log, in log order."""
    ledger = relay.server.ledger  # type: ignore[union-attr]
    entries = relay.call(lambda: b"".join(ledger.store.iter_entries()))
    return [_core.sha256_leaf_hash(entries[i : i + 41]) for i in range(0, len(entries), 41)]


def forged_record(device: Device, seq: int, payload: bytes, **changes: Any) -> pb.Record:
    """A record the device's key signs at ``seq`` over ``prev`` of its own record there
    (a fork when the device holds another), with ``changes`` to the header fields."""
    original = device.records()[seq]
    fields: dict[str, Any] = {
        "chain_id": device.chain_id,
        "seq": seq,
        "time_ms": original.time_ms,
        "kind": 1,
        "prev": original.prev,
        "beacon_size": 0,
        "beacon_root": bytes(32),
    }
    fields.update(changes)
    salt = b"\x07" * 16
    commit = _core.commitment(salt, payload)
    link = _core.v2_link(
        fields["chain_id"],
        fields["seq"],
        fields["time_ms"],
        fields["kind"],
        fields["prev"],
        commit,
        fields["beacon_size"],
        fields["beacon_root"],
    )
    sig = fields.pop("signature", None) or _core.sign(device_seed(device), link)
    return pb.Record(version=2, commit=commit, salt=salt, payload=payload, signature=sig, **fields)


def enrolled_device(relay: ThreadRelay, participant: str = "P001", records: int = 0) -> Device:
    op = relay.client(operator=True)
    token, _ = op.issue_token(participant)
    device = Device.new()
    relay.client().enroll(device, token)
    for i in range(records):
        device.append(b'{"day": %d, "tst_min": %d}' % (i, 400 + i))
    return device


# ----------------------------------------------------------------------------- subprocess


@dataclass
class ProcessRelay:
    proc: subprocess.Popen[str]
    port: int
    db: str
    workdir: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def operator_token(self) -> str:
        return (self.workdir / "relay.operator-token").read_text().strip()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def start_process_relay(workdir: Path, db: str | None = None, *extra: str) -> ProcessRelay:
    db = db or str(workdir / "relay.db")
    cmd = [
        sys.executable,
        "-m",
        "hashcore.cli",
        "relay",
        "serve",
        "--db",
        db,
        "--listen",
        "127.0.0.1:0",
        "--plaintext",
        "--key-file",
        str(workdir / "relay.key"),
        "--operator-token-file",
        str(workdir / "relay.operator-token"),
        "--evm",
        "none",
        *extra,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"relay exited early ({proc.wait()}): {err}")
        m = re.search(r"listening on .*:(\d+)$", line.strip())
        if m:
            return ProcessRelay(proc, int(m.group(1)), db, workdir)
    proc.kill()
    raise RuntimeError("relay did not report its port")


# ----------------------------------------------------------------------------- forks


#: Where devices without a state file get one to have their seed read (they keep saving
#: there); removed when the test process ends.
_STATE_DIR = tempfile.TemporaryDirectory(prefix="hashcore-test-devices-")


def device_seed(device: Device) -> bytes:
    """The device's signing seed (from its state file), to forge records it could sign."""
    path = device.path or device.save(Path(_STATE_DIR.name) / f"{device.chain_id.hex()}.json")
    return bytes.fromhex(json.loads(path.read_text())["secret_seed"])


def fork_of(
    device: Device,
    seq: int,
    *,
    payload: bytes = b"a different diary entry",
    salt: bytes = b"\x07" * 16,
    time_ms: int | None = None,
) -> pb.Record:
    """Another data record at ``seq`` of ``device``, signed by its key: a fork."""
    original = device.records()[seq]
    when = original.time_ms if time_ms is None else time_ms
    rec = forged_record(device, seq, payload, time_ms=when)
    if salt != b"\x07" * 16:
        commit = _core.commitment(salt, payload)
        link = _core.v2_link(device.chain_id, seq, when, 1, original.prev, commit, 0, bytes(32))
        rec.salt, rec.commit = salt, commit
        rec.signature = _core.sign(device_seed(device), link)
    return rec
