"""One trial's parts: the result record, a real ``hashcore relay serve`` process, a fleet
of devices that keep their receipts as phones do, and the streams that feed it.

Every fault module builds on these; nothing here knows of a particular fault.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from hashcore import Device, RelayClient, RelayError
from hashcore.relay.client import RetryPolicy

DEVICES = 6
RECORDS = 24  # per device after the genesis
BATCH = 6
ORIGIN = "relay.faults.example/campaign"
#: anvil's first well-known development account (not a secret) and its address.
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@dataclass
class Trial:
    fault: str
    backend: str
    trial: int
    acked: int = 0
    lost: int = 0
    dup: int = 0
    clean: bool = False
    recover_s: float | None = None
    note: str = ""


@dataclass
class Relay:
    proc: subprocess.Popen[str]
    port: int
    workdir: Path
    db: str
    args: tuple[str, ...] = field(default=())

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def operator_token(self) -> str:
        return (self.workdir / "relay.operator-token").read_text().strip()

    def kill9(self) -> None:
        with suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def until(cond: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def start_relay(
    workdir: Path, db: str, *extra: str, evm: tuple[str, ...] = ("--evm", "none")
) -> Relay:
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
        "--origin",
        ORIGIN,
        "--key-dir",
        str(workdir),
        "--stop-anchor-wait",
        "5",
        *evm,
        *extra,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(
                f"relay exited ({proc.wait()}): {proc.stderr.read() if proc.stderr else ''}"
            )
        if m := re.search(r"listening on .*:(\d+)$", line.strip()):
            # Keep draining stdout so the relay never blocks on a full pipe.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # type: ignore[union-attr]
            return Relay(proc, int(m.group(1)), workdir, db, tuple(extra))
    proc.kill()
    raise RuntimeError("relay did not report its port")


def restart(relay: Relay, evm: tuple[str, ...] = ("--evm", "none")) -> Relay:
    return start_relay(relay.workdir, relay.db, *relay.args, evm=evm)


def fleet(relay: Relay, rng: random.Random) -> list[Device]:
    with RelayClient(relay.target, plaintext=True, operator_token=relay.operator_token) as op:
        tokens = [op.issue_token(f"P{i:03d}")[0] for i in range(DEVICES)]
    devices = []
    with RelayClient(relay.target, plaintext=True) as client:
        for i, token in enumerate(tokens):
            device = Device.new()
            client.enroll(device, token)
            for day in range(RECORDS):
                device.append(b'{"p":%d,"day":%d,"tst":%d}' % (i, day, rng.randrange(200, 600)))
            devices.append(device)
    return devices


def stream(relay: Relay, devices: list[Device], on_batch: Callable[[int], None]) -> int:
    """Streams every unsent record in mixed-device batches; each device verifies and keeps
    its receipts. ``on_batch(n)`` runs after the n-th acknowledged batch (it may kill the
    relay). Returns how many records were acknowledged; a broken stream just ends."""
    by_chain = {d.chain_id: d for d in devices}
    pending = sorted((r for d in devices for r in d.unsent()), key=lambda r: (r.seq, r.chain_id))
    batches = [pending[i : i + BATCH] for i in range(0, len(pending), BATCH)]
    acked = 0
    once = RetryPolicy(attempts=1)
    with RelayClient(relay.target, plaintext=True, retry=once) as client, suppress(RelayError):
        for n, acks in enumerate(client.stream(batches), start=1):
            for a in acks:
                by_chain[a.chain_id].accept_acks(
                    [(a.seq, a.log_index, a.received_ms, a.receipt_sig)]
                )
            acked += len(acks)
            on_batch(n)
    return acked


def resync(relay: Relay, devices: list[Device], started: float) -> float:
    """Every device sends what it has not had acknowledged (retrying while the relay comes
    back); returns the seconds from ``started`` to the first acknowledgement."""
    first: float | None = None
    retry = RetryPolicy(attempts=30, first_delay_s=0.2, max_delay_s=2.0)
    with RelayClient(relay.target, plaintext=True, retry=retry) as client:
        for device in devices:
            client.sync(device, batch_size=BATCH)
            first = first or time.monotonic()
    return (first or time.monotonic()) - started
