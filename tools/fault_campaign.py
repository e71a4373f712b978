"""The fault campaign (issue 15): faults injected into real relays, and what they cost.

    .venv/bin/python tools/fault_campaign.py [--trials 100] [--faults ingest,export,...]
        [--backends sqlite,postgres] [--seed N] [--json FILE]

Every trial starts a real ``hashcore relay serve`` process on a fresh store (a SQLite file,
or a PostgreSQL database of its own on the machine's server), enrolls a small fleet of
devices that keep their receipts as phones do, injects one fault at a random point, lets
the fleet recover (restart, resync), stops the relay gracefully, exports the store and
audits the export with the devices' receipts. It counts, per fault:

- **lost**: acknowledged records (a receipt the device verified) that the final audit
  does not find at their promised position (RECEIPT_WITHHELD, RECEIPT_CONTRADICTED or
  not RECEIPT_OK after the graceful stop): the goal is 0;
- **dup**: records stored at two positions (a (chain, seq) pair on two rows), goal 0;
- **unclean**: final audits that are not clean;
- **recover**: seconds from the restart of what was killed to the first acknowledgement.

Faults:

- ``ingest``: kill -9 of the relay after a random number of acknowledged batches while
  the next ones are in flight;
- ``checkpoint``: kill -9 at a random moment while the relay signs a checkpoint after
  every group (``--checkpoint-every 1``) and operators ask for more;
- ``export``: kill -9 of ``hashcore relay export`` at a random moment; the half-written
  directory must be refused or audit clean (never read as a smaller "clean" log), and a
  new export must audit clean;
- ``pg-restart``: the PostgreSQL server restarted mid-stream (a private cluster this
  script starts with the machine's ``initdb`` / ``pg_ctl``: the shared server is never
  restarted); the relay answers UNAVAILABLE meanwhile and the clients retry;
- ``evm-stop``: the EVM node (anvil, with its state file) stopped mid-stream and started
  again; ingest must not stop, and anchoring resumes;
- ``disk-full``, ``evm-reorg``, ``witness-down``: a full disk (tmpfs), the EVM node reorged,
  a witness killed and restarted (``tools/fault_campaign_more.py`` says how each is judged).

It prints one table and, with ``--json``, writes the per-trial results. Exit 0 when no
acknowledged record was lost or stored twice, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hashcore import Device, RelayClient, RelayError, audit_bundle
from hashcore.audit.v2_report import AuditReportV2
from hashcore.errors import BundleError, HashcoreError
from hashcore.evidence import notes_table, receipts_table
from hashcore.relay.client import RetryPolicy

DEVICES = 6
RECORDS = 24  # per device after the genesis
BATCH = 6
FAULTS = (
    "ingest", "checkpoint", "export", "pg-restart", "evm-stop",
    "disk-full", "evm-reorg", "witness-down",
)  # fmt: skip
PG_BIN = Path("/usr/lib/postgresql")


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
        "relay.faults.example/campaign",
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


def judge(trial: Trial, relay: Relay, devices: list[Device], out: Path) -> None:
    """Stop gracefully (a final checkpoint), export, audit with the receipts."""
    code = relay.terminate()
    if code != 0:
        trial.note += f" relay exit {code};"
    bundle = out / "bundle"
    exporter = [
        sys.executable,
        "-m",
        "hashcore.cli",
        "relay",
        "export",
        "--db",
        relay.db,
        "--out",
        str(bundle),
    ]
    done = subprocess.run(exporter, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        trial.note += f" export failed: {done.stderr.strip()[-200:]};"
        trial.lost = trial.acked
        return
    receipts = [r for d in devices for r in d.receipts()]
    trial.acked = len(receipts)
    report = audit_bundle(
        bundle,
        receipts=[receipts_table(receipts)],
        notes=[notes_table(n for d in devices for n in d.notes())],
    )
    assert isinstance(report, AuditReportV2)
    ok = sum(1 for v in report.receipts if v.code == "RECEIPT_OK")
    trial.lost = trial.acked - ok
    keys = [
        (f.chain_id, f.seq) for f in report.failures if f.code in ("FORK", "DUPLICATE_LOG_INDEX")
    ]
    trial.dup = len(keys)
    trial.clean = bool(report.clean)


# ----------------------------------------------------------------------------- faults


def fault_ingest(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    relay = start_relay(work, db, "--checkpoint-every", str(rng.choice([8, 32, 64])))
    devices = fleet(relay, rng)
    kill_after = rng.randrange(1, DEVICES * RECORDS // BATCH)
    killed = {"at": 0.0}

    def maybe_kill(n: int) -> None:
        if n == kill_after:
            relay.kill9()
            killed["at"] = time.monotonic()

    stream(relay, devices, maybe_kill)
    if not killed["at"]:
        relay.kill9()
        killed["at"] = time.monotonic()
    relay = restart(relay)
    trial.recover_s = resync(relay, devices, killed["at"])
    judge(trial, relay, devices, work)


def fault_checkpoint(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    relay = start_relay(work, db, "--checkpoint-every", "1", "--checkpoint-interval", "1")
    devices = fleet(relay, rng)
    stop = threading.Event()

    def operator() -> None:
        with RelayClient(
            relay.target,
            plaintext=True,
            operator_token=relay.operator_token,
            retry=RetryPolicy(attempts=1),
        ) as op:
            while not stop.is_set():
                with suppress(RelayError):
                    op.create_checkpoint()

    worker = threading.Thread(target=operator, daemon=True)
    worker.start()
    timer = threading.Timer(rng.uniform(0.05, 1.5), relay.kill9)
    timer.start()
    stream(relay, devices, lambda n: None)
    timer.join()
    killed = time.monotonic()
    stop.set()
    worker.join(30)
    relay = restart(relay)
    trial.recover_s = resync(relay, devices, killed)
    judge(trial, relay, devices, work)


def fault_export(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    relay = start_relay(work, db, "--checkpoint-every", "16")
    devices = fleet(relay, rng)
    stream(relay, devices, lambda n: None)
    relay.terminate()
    half = work / "half"
    exporter = [
        sys.executable,
        "-m",
        "hashcore.cli",
        "relay",
        "export",
        "--db",
        db,
        "--out",
        str(half),
    ]
    proc = subprocess.Popen(exporter, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill while it writes: once the bundle directory appears, within a few milliseconds
    # (the store is small, so the write window is short); a quarter of the trials earlier.
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0.0, 1.0))
    else:
        deadline = time.monotonic() + 30
        while not half.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.03))
    with suppress(ProcessLookupError):
        proc.send_signal(signal.SIGKILL)
    finished = proc.wait(60) == 0
    if half.exists():
        try:
            report = audit_bundle(
                half, receipts=[receipts_table(r for d in devices for r in d.receipts())]
            )
            assert isinstance(report, AuditReportV2)
            codes = {v.code for v in report.receipts}
            if report.clean and codes != {"RECEIPT_OK"}:
                trial.note += " half export audits clean but leaves receipts out;"
                trial.lost = sum(v.code != "RECEIPT_OK" for v in report.receipts)
            state = "clean" if report.clean else "not clean"
            trial.note += f" half export readable ({state}), " + (
                "finished;" if finished else "killed;"
            )
        except (BundleError, HashcoreError):
            trial.note += " half export refused;"
    else:
        trial.note += " nothing written;"
    started = time.monotonic()
    relay = restart(relay)
    trial.recover_s = resync(relay, devices, started)
    lost_before = trial.lost
    judge(trial, relay, devices, work)
    trial.lost += lost_before


@contextmanager
def private_postgres(work: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A PostgreSQL cluster of this trial's own (initdb in ``work``), so that restarting it
    never touches the machine's shared server; yields its URL and a restart function."""
    versions = sorted(PG_BIN.glob("*/bin/pg_ctl"))
    if not versions:
        raise RuntimeError("no pg_ctl under /usr/lib/postgresql")
    bin_dir = versions[-1].parent
    data = work / "pgdata"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(work, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    ctl = [
        *run_as,
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(work / "pg.log"),
        "-w",
        "-o",
        f"-p {port} -k {work} -c listen_addresses=127.0.0.1",
    ]
    subprocess.run([*ctl, "start"], check=True, capture_output=True)

    def restart_server() -> None:
        subprocess.run([*ctl, "-m", "fast", "restart"], check=True, capture_output=True)

    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", restart_server
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)


def fault_pg_restart(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    with private_postgres(work) as (url, restart_pg):
        relay = start_relay(work, url, "--checkpoint-every", "32")
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        when = {"t": 0.0}

        def maybe_restart(n: int) -> None:
            if n == at:
                when["t"] = time.monotonic()
                restart_pg()

        stream(relay, devices, maybe_restart)
        trial.recover_s = resync(relay, devices, when["t"] or time.monotonic())
        judge(trial, relay, devices, work)


def fault_evm_stop(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    anvil = shutil.which("anvil") or str(Path("node_modules/.bin/anvil").resolve())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = work / "anvil-state.json"
    node_cmd = [anvil, "--port", str(port), "--state", str(state), "--block-time", "1", "--silent"]

    def start_node() -> subprocess.Popen[bytes]:
        # Its own process group: npm's anvil is a node wrapper around the binary, and a
        # signal to the wrapper alone would leave the node running.
        node = subprocess.Popen(
            node_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return node
            time.sleep(0.1)
        raise RuntimeError("anvil did not start")

    node = start_node()
    key = work / "evm.key"
    # anvil's first well-known development account (not a secret).
    key.write_text("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n")
    key.chmod(0o600)
    evm = (
        "--evm-url",
        f"http://127.0.0.1:{port}",
        "--evm-key",
        str(key),
        "--confirmations",
        "1",
        "--anchor-interval",
        "1",
    )
    relay = start_relay(work, db, "--checkpoint-every", "16", evm=evm)
    try:
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        when = {"t": 0.0}

        def maybe_stop(n: int) -> None:
            nonlocal node
            if n == at:
                when["t"] = time.monotonic()
                os.killpg(node.pid, signal.SIGTERM)  # anvil writes its state on SIGTERM
                node.wait(30)
                time.sleep(rng.uniform(0.5, 3.0))
                node = start_node()

        stream(relay, devices, maybe_stop)
        trial.recover_s = resync(relay, devices, when["t"] or time.monotonic())
        judge(trial, relay, devices, work)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.wait(30)


RUN: dict[str, Callable[[Trial, random.Random, Path, str], None]] = {
    "ingest": fault_ingest,
    "checkpoint": fault_checkpoint,
    "export": fault_export,
    "pg-restart": fault_pg_restart,
    "evm-stop": fault_evm_stop,
}
#: Faults that run on one store only (pg-restart brings its own cluster).
ONE_BACKEND = {"pg-restart": "postgres"}


def _more_faults() -> None:
    """Disk full, EVM reorg and witness down live in fault_campaign_more.py."""
    import fault_campaign_more as more

    RUN.update(more.RUN)
    ONE_BACKEND.update(more.BACKEND)


@contextmanager
def backend_db(backend: str, work: Path, name: str) -> Iterator[str]:
    if backend == "sqlite":
        yield str(work / "relay.db")
        return
    import psycopg

    admin = "postgresql://127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(faults: list[str], backends: list[str], trials: int, seed: int) -> list[Trial]:
    results = []
    for fault in faults:
        # pg-restart brings its own cluster; evm-stop and export are about other parts.
        for backend in [ONE_BACKEND[fault]] if fault in ONE_BACKEND else backends:
            for i in range(trials):
                rng = random.Random(f"{seed}/{fault}/{backend}/{i}")
                trial = Trial(fault, backend, i)
                with tempfile.TemporaryDirectory(prefix="hashcore-fault-") as tmp:
                    work = Path(tmp)
                    name = f"hc_fault_{os.getpid()}_{fault.replace('-', '_')}_{i}"
                    try:
                        with backend_db(backend, work, name) as db:
                            RUN[fault](trial, rng, work, db)
                    except Exception as exc:
                        trial.note += f" trial failed: {type(exc).__name__}: {str(exc)[:200]};"
                        trial.lost = max(trial.lost, trial.acked)
                results.append(trial)
                print(
                    f"{fault:>11} {backend:>8} #{i:<3} acked {trial.acked:4} lost {trial.lost} "
                    f"dup {trial.dup} clean {trial.clean} "
                    f"recover {trial.recover_s or 0:.2f}s{trial.note}",
                    flush=True,
                )
    return results


def table(results: list[Trial]) -> str:
    rows = [
        "| fault | store | trials | acknowledged | lost | stored twice | unclean "
        "| recover p50 / max (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[Trial]] = {}
    for t in results:
        groups.setdefault((t.fault, t.backend), []).append(t)
    for (fault, backend), ts in groups.items():
        rec = sorted(t.recover_s for t in ts if t.recover_s is not None)
        p50 = f"{rec[len(rec) // 2]:.2f} / {rec[-1]:.2f}" if rec else "-"
        rows.append(
            f"| {fault} | {backend} | {len(ts)} | {sum(t.acked for t in ts)} | "
            f"{sum(t.lost for t in ts)} | {sum(t.dup for t in ts)} | "
            f"{sum(not t.clean for t in ts)} | {p50} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="trials per fault and store")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown or args.trials < 1:
        parser.error(f"unknown faults {unknown}" if unknown else "--trials must be >= 1")
    _more_faults()
    results = run(faults, [b for b in args.backends.split(",") if b], args.trials, args.seed)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in results], indent=1))
    return 0 if all(t.lost == 0 and t.dup == 0 for t in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
