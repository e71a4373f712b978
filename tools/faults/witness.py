"""The fault of a witness down: three witnesses, quorum 2; one (at random) killed with
kill -9 at a random point and started again 0.5-3 s later. Ingest goes on, every
checkpoint shown to the witnesses keeps the quorum (and the newest one), the export audits
clean under a policy asking 2 of 3 but for UNWITNESSED on checkpoints no witness was shown,
and the restarted witness catches up from its last size (its answers: no 409);
**recover** is from its restart to it cosigning the newest checkpoint."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

from hashcore import RelayClient, _core
from hashcore.relay.keys import load_or_create_key

from .judge import export_and_audit, policy
from .trial import (
    BATCH,
    DEVICES,
    ORIGIN,
    RECORDS,
    Trial,
    fleet,
    free_port,
    resync,
    start_relay,
    stream,
    until,
)


class Witness:
    def __init__(self, work: Path, i: int, log_key: bytes) -> None:
        self.name = f"witness.site-{i}.example"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [
            sys.executable, "-m", "hashcore.cli", "witness", "serve", "--name", self.name,
            "--key-file", str(work / f"w{i}.key"), "--db", str(work / f"w{i}.db"),
            "--log", f"{ORIGIN}={log_key.hex()}", "--listen", f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        self.proc = self._start()
        self.key = bytes.fromhex(self._key)

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)  # fmt: skip
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        self._key = next(line.split()[1] for line in lines if line.startswith("key "))
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        return proc

    def kill9(self) -> None:
        with suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def restart(self) -> None:
        self.proc = self._start()

    def answers(self, status: int) -> int:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        pattern = r'^hashcore_witness_add_checkpoint_requests_total\{status="%d"\} (\S+)$'
        m = re.search(pattern % status, text, re.M)
        return int(float(m.group(1))) if m else 0


def fault_witness_down(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    seed, _ = load_or_create_key(work / "relay.key")
    log_key = _core.public_key_from_seed(seed)
    witnesses = [Witness(work, i, log_key) for i in range(3)]
    try:
        args: list[str] = ["--checkpoint-every", "16", "--witness-quorum", "2"]
        for w in witnesses:
            args += ["--witness", f"{w.url},{w.name},{w.key.hex()}"]
        relay = start_relay(work, db, *args)
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        down = rng.choice(witnesses)
        when = {"t": 0.0}
        stop = threading.Event()

        def kill(n: int) -> None:
            if n > at and not stop.is_set():
                # Paced while the witness is down, so that the relay signs and pushes
                # checkpoints then (the pusher looks once a second): the quorum is kept
                # by the other two, not merely by nothing happening.
                time.sleep(0.15)
            if n != at:
                return
            down.kill9()

            def later() -> None:
                time.sleep(rng.uniform(0.5, 3.0))
                down.restart()
                when["t"] = time.monotonic()
                stop.set()

            threading.Thread(target=later, daemon=True).start()

        stream(relay, devices, kill)  # ingest goes on while the witness is down
        stop.wait(10)
        resync(relay, devices, time.monotonic())
        with RelayClient(relay.target, plaintext=True,
                         operator_token=relay.operator_token) as op:  # fmt: skip
            newest = op.create_checkpoint()

            def caught_up() -> bool:
                note = op.checkpoint().note
                return bool(_core.note_witness_times(note, down.name, down.key))

            if until(caught_up, 60) and when["t"]:
                trial.recover_s = time.monotonic() - when["t"]
        conflicts = down.answers(409)
        trial.note += (
            f" {down.name} down at batch {at}; it answered {down.answers(200)} x 200, "
            f"{conflicts} x 409 after its restart; newest checkpoint {newest.tree_size};"
        )
        witness_args: list[str] = ["--witness-quorum", "2", "--no-evm"]
        for w in witnesses:
            witness_args += ["--witness", f"{w.name}={w.key.hex()}"]
        path = policy(relay, work, *witness_args)
        report = export_and_audit(trial, relay, devices, work, policy=path)
        if report is None:
            return
        # Checkpoints no witness was shown audit UNWITNESSED under a quorum policy, down
        # witness or not. The fault is judged on the others: every checkpoint a witness
        # cosigned has the quorum, and so does the newest.
        signers = _cosignatures(work / "bundle", witnesses)
        counts = {size: len(names) for size, names in signers.items()}
        short = [size for size, n in counts.items() if 0 < n < 2]
        skipped = [size for size, n in counts.items() if n == 0]
        without = [s for s, names in signers.items() if len(names) >= 2 and down.name not in names]
        newest_ok = counts.get(max(counts), 0) >= 2 if counts else False
        others = [c.code for c in report.checkpoints if c.code not in ("OK", "UNWITNESSED")] + [
            code for code, n in report.counts.items() if n and code not in ("OK",)
        ]
        trial.clean = not short and newest_ok and not others and conflicts == 0
        trial.note += (
            f" {len(counts) - len(skipped)} of {len(counts)} checkpoints shown to witnesses, "
            f"{len(short)} of them below the quorum, {len(without)} with the quorum "
            f"without {down.name};"
        )
    finally:
        for w in witnesses:
            w.kill9()


def _cosignatures(bundle: Path, witnesses: list[Witness]) -> dict[int, set[str]]:
    """tree_size -> the names of ``witnesses`` that cosigned the exported checkpoint."""
    from hashcore.bundle.io_v2 import read_bundle_v2

    out = {}
    table = read_bundle_v2(bundle).checkpoints
    for size, note in zip(table.column("tree_size").to_pylist(), table.column("note").to_pylist(),
                          strict=True):  # fmt: skip
        out[int(size)] = {
            w.name for w in witnesses if _core.note_witness_times(note, w.name, w.key)
        }
    return out
