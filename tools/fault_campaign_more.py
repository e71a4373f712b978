"""The fault campaign's faults of a full disk, a reorged EVM node and a witness down
(issue 15; run by ``tools/fault_campaign.py``, which holds the rest, the table and the
command line). Each trial runs real processes, as the others do:

- ``disk-full``: the SQLite store on a small tmpfs (root only) that a filler file takes
  every free byte of at a random point mid-stream: the relay refuses batches with
  RESOURCE_EXHAUSTED (nothing acknowledged is lost), the filler is removed after 0.3-1.5 s,
  the devices resync; **recover** is from the space coming back to the first ack;
- ``evm-reorg``: anvil (1 s blocks) reorged by ``anvil_reorg`` 1-3 blocks deep mid-stream
  (anchors are final at 3 confirmations): anchors in the removed blocks must be sent
  again, and the audit under the relay's policy with the node must say ``ANCHOR_OK`` or
  ``ANCHOR_UNCONFIRMED`` for every anchor, and ``ANCHOR_CONTRADICTED`` exactly for the
  anchor the trial forges in the new branch in half the trials (right after the reorg,
  by the anchoring account: a wrong root at the size acknowledged so far, which the
  contract takes when it is larger than the newest anchor left); **clean** is "the
  audit's verdicts are exactly those expected"; **recover** is from the reorg to the
  relay's anchors being final again up to the whole log;
- ``witness-down``: three witnesses, quorum 2; one (at random) killed with kill -9 at a
  random point and started again 0.5-3 s later: ingest goes on, every checkpoint shown to
  the witnesses keeps the quorum (and the newest one), the export audits clean under a
  policy asking 2 of 3 but for UNWITNESSED on checkpoints no witness was shown (the pusher
  sends the newest checkpoint only), and the restarted witness catches up from its last
  size (its answers: no 409); **recover** is from its restart to it cosigning the newest
  checkpoint.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import fault_campaign as fc
from hashcore import _core, audit_bundle
from hashcore.audit.v2_report import AuditReportV2
from hashcore.evidence import notes_table, receipts_table
from hashcore.relay.keys import load_key, load_or_create_key

ORIGIN = "relay.faults.example/campaign"
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
#: The anchor contract the relay deploys first thing on a fresh anvil: the CREATE address
#: of ANVIL_ACCOUNT's nonce 0.
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def _until(cond: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def _export_and_audit(
    trial: fc.Trial, relay: fc.Relay, devices: list[Any], work: Path, **audit: Any
) -> AuditReportV2 | None:
    """fc.judge's graceful stop, export and receipt count, under a policy and node."""
    code = relay.terminate()
    if code != 0:
        trial.note += f" relay exit {code};"
    bundle = work / "bundle"
    done = subprocess.run(
        [sys.executable, "-m", "hashcore.cli", "relay", "export", "--db", relay.db,
         "--out", str(bundle)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        trial.note += f" export failed: {done.stderr.strip()[-200:]};"
        trial.lost = trial.acked
        return None
    receipts = [r for d in devices for r in d.receipts()]
    trial.acked = len(receipts)
    report = audit_bundle(
        bundle,
        receipts=[receipts_table(receipts)],
        notes=[notes_table(n for d in devices for n in d.notes())],
        **audit,
    )
    assert isinstance(report, AuditReportV2)
    trial.lost = trial.acked - sum(1 for v in report.receipts if v.code == "RECEIPT_OK")
    trial.dup = sum(1 for f in report.failures if f.code in ("FORK", "DUPLICATE_LOG_INDEX"))
    if not report.clean:  # say why, in the trial's note
        found = [f"checkpoint {c.tree_size} {c.code}" for c in report.checkpoints if c.code != "OK"]
        found += [f"anchor {a.tree_size} {a.code}" for a in report.anchors]
        found += [f"{code} x{n}" for code, n in report.counts.items() if n and code != "OK"]
        trial.note += f" audit: {', '.join(found[:8]) or 'not clean'};"
    return report


def _policy(relay: fc.Relay, work: Path, *extra: str) -> Path:
    out = work / "policy.json"
    subprocess.run(
        [sys.executable, "-m", "hashcore.cli", "relay", "policy", "--db", relay.db,
         "--out", str(out), *extra],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return out


# ----------------------------------------------------------------------------- disk full


def fault_disk_full(trial: fc.Trial, rng: random.Random, work: Path, db: str) -> None:
    disk = work / "disk"
    disk.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(disk)], check=True
    )
    try:
        relay = fc.start_relay(work, str(disk / "relay.db"), "--checkpoint-every", "16")
        devices = fc.fleet(relay, rng)
        at = rng.randrange(1, fc.DEVICES * fc.RECORDS // fc.BATCH)
        filler = disk / "filler"

        def fill(n: int) -> None:
            if n != at:
                return
            with open(filler, "wb", buffering=0) as fh:
                while True:
                    try:
                        fh.write(b"\0" * 65536)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
            os.sync()

        fc.stream(relay, devices, fill)  # ends at the first refused batch
        refused = sum(len(d.unsent()) for d in devices)
        time.sleep(rng.uniform(0.3, 1.5))
        filler.unlink(missing_ok=True)
        trial.recover_s = fc.resync(relay, devices, time.monotonic())
        trial.note += f" {refused} records refused while full;"
        report = _export_and_audit(trial, relay, devices, work)
        trial.clean = report is not None and bool(report.clean)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# ----------------------------------------------------------------------------- EVM reorg


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.loads(resp.read())
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def _final_size(metrics_port: int) -> int:
    """The relay's metric of the tree size its anchors are final up to."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^hashcore_relay_anchored_tree_size (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else 0


def _anchored_in(url: str, first_block: int) -> list[int]:
    """Tree sizes of the anchor contract's Anchored events from ``first_block`` on."""
    logs = _rpc(url, "eth_getLogs", [{"address": CONTRACT, "fromBlock": hex(first_block),
                                      "toBlock": "latest"}])  # fmt: skip
    return [int(log["topics"][2], 16) for log in logs]


def _forge_anchor(url: str, log_id: bytes, size: int) -> bool:
    """An anchor of a random root at ``size`` by the anchoring account (the relay showing
    the chain another history); True when it was mined (the contract refuses a size not
    larger than the last anchor's)."""
    from hashcore.anchor.contract import encode_anchor_call

    call = encode_anchor_call(log_id, size, os.urandom(32))
    tx = _rpc(url, "eth_sendTransaction", [{
        "from": ANVIL_ACCOUNT, "to": CONTRACT, "data": "0x" + call.hex(), "gas": hex(200_000),
    }])  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        receipt = _rpc(url, "eth_getTransactionReceipt", [tx])
        if receipt is not None:
            return int(receipt["status"], 16) == 1
        time.sleep(0.2)
    return False


def fault_evm_reorg(trial: fc.Trial, rng: random.Random, work: Path, db: str) -> None:
    anvil = shutil.which("anvil") or str(Path("node_modules/.bin/anvil").resolve())
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    node = subprocess.Popen(
        [anvil, "--port", str(port), "--block-time", "1", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_port(port, "anvil")
        key = work / "evm.key"
        key.write_text(ANVIL_KEY + "\n")  # anvil's first development account (no secret)
        key.chmod(0o600)
        metrics = _free_port()
        evm = ("--evm-url", url, "--evm-key", str(key), "--confirmations", "3",
               "--anchor-interval", "1")  # fmt: skip
        relay = fc.start_relay(
            work, db, "--checkpoint-every", "16", "--metrics", f"127.0.0.1:{metrics}", evm=evm
        )
        log_id = _core.public_key_from_seed(load_key(work / "relay.key"))
        # The contract's deployment buried deeper than any reorg here (as on a real chain,
        # where it is long buried): a reorg is about anchors, not a lost contract.
        deployed = int(_rpc(url, "eth_blockNumber", []), 16)
        _until(lambda: int(_rpc(url, "eth_blockNumber", []), 16) >= deployed + 4, 30)
        devices = fc.fleet(relay, rng)
        at = rng.randrange(4, fc.DEVICES * fc.RECORDS // fc.BATCH)
        depth = rng.randint(1, 3)
        forge = rng.random() < 0.5
        seen: dict[str, Any] = {"t": 0.0, "removed": [], "forged": None, "refused": None}

        def reorg(n: int) -> None:
            if n != at:
                return
            time.sleep(1.5)  # an anchor or two mined in the blocks about to go
            head = int(_rpc(url, "eth_blockNumber", []), 16)
            seen["removed"] = _anchored_in(url, head - depth + 1)
            _rpc(url, "anvil_reorg", [depth, []])
            seen["t"] = time.monotonic()
            size = fc.DEVICES + n * fc.BATCH  # acknowledged: at most the log's final size
            if forge and _forge_anchor(url, log_id, size):
                seen["forged"] = size
            elif forge:
                seen["refused"] = size  # not larger than the newest anchor left

        fc.stream(relay, devices, reorg)
        fc.resync(relay, devices, time.monotonic())
        size = sum(len(d) for d in devices)  # every record, genesis included
        # Recovered: the relay's anchors are final again up to the whole log.
        if _until(lambda: _final_size(metrics) >= size, 60):
            trial.recover_s = time.monotonic() - (seen["t"] or time.monotonic())
        policy = _policy(relay, work, "--evm", "url", "--evm-key", str(key), "--confirmations", "3")
        # `relay policy` starts evm.from_block at the store's oldest anchor; an anchor the
        # account made before it (the forged one) would be out of the audit's sight, so
        # the trial's auditor reads the contract's whole history (its deployment is block 1).
        data = json.loads(policy.read_text())
        data["evm"]["from_block"] = 0
        policy.write_text(json.dumps(data))
        report = _export_and_audit(trial, relay, devices, work, policy=policy, evm_url=url)
        if report is None:
            return
        forged = seen["forged"]
        codes = [(a.tree_size, a.code) for a in report.anchors]
        contradicted = {s for s, c in codes if c == "ANCHOR_CONTRADICTED"}
        allowed = {"ANCHOR_OK", "ANCHOR_UNCONFIRMED", "ANCHOR_CONTRADICTED"}
        trial.clean = (
            contradicted == ({forged} if forged is not None else set())
            and all(c in allowed for _, c in codes)
            and bool(report.clean) == (forged is None)
        )
        refused = (
            f", a forgery at {seen['refused']} refused by the contract" if seen["refused"] else ""
        )
        trial.note += (
            f" reorg depth {depth} removed anchors {seen['removed']}; "
            f"{len(codes)} anchors on chain"
            f"{f', one forged at {forged}' if forged is not None else ''}"
            f"{refused};"
        )
    finally:
        with suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.wait(30)


# ----------------------------------------------------------------------------- witness down


class Witness:
    def __init__(self, work: Path, i: int, log_key: bytes) -> None:
        self.name = f"witness.site-{i}.example"
        self.port = _free_port()
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


def fault_witness_down(trial: fc.Trial, rng: random.Random, work: Path, db: str) -> None:
    seed, _ = load_or_create_key(work / "relay.key")
    log_key = _core.public_key_from_seed(seed)
    witnesses = [Witness(work, i, log_key) for i in range(3)]
    try:
        args: list[str] = ["--checkpoint-every", "16", "--witness-quorum", "2"]
        for w in witnesses:
            args += ["--witness", f"{w.url},{w.name},{w.key.hex()}"]
        relay = fc.start_relay(work, db, *args)
        devices = fc.fleet(relay, rng)
        at = rng.randrange(1, fc.DEVICES * fc.RECORDS // fc.BATCH)
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

        fc.stream(relay, devices, kill)  # ingest goes on while the witness is down
        stop.wait(10)
        fc.resync(relay, devices, time.monotonic())
        from hashcore import RelayClient

        with RelayClient(relay.target, plaintext=True,
                         operator_token=relay.operator_token) as op:  # fmt: skip
            newest = op.create_checkpoint()

            def caught_up() -> bool:
                note = op.checkpoint().note
                return bool(_core.note_witness_times(note, down.name, down.key))

            if _until(caught_up, 60) and when["t"]:
                trial.recover_s = time.monotonic() - when["t"]
        conflicts = down.answers(409)
        trial.note += (
            f" {down.name} down at batch {at}; it answered {down.answers(200)} x 200, "
            f"{conflicts} x 409 after its restart; newest checkpoint {newest.tree_size};"
        )
        witness_args: list[str] = ["--witness-quorum", "2", "--no-evm"]
        for w in witnesses:
            witness_args += ["--witness", f"{w.name}={w.key.hex()}"]
        policy = _policy(relay, work, *witness_args)
        report = _export_and_audit(trial, relay, devices, work, policy=policy)
        if report is None:
            return
        # The pusher sends each witness the newest checkpoint, so checkpoints signed
        # faster than that are never shown to any witness (UNWITNESSED under a quorum
        # policy, down witness or not). The fault is judged on the others: every
        # checkpoint a witness cosigned has the quorum, and so does the newest.
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


RUN = {
    "disk-full": fault_disk_full,
    "evm-reorg": fault_evm_reorg,
    "witness-down": fault_witness_down,
}
#: The one store each of these faults runs on (the fault is about another part).
BACKEND = {"disk-full": "sqlite", "evm-reorg": "sqlite", "witness-down": "sqlite"}
