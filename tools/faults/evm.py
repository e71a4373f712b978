"""EVM node faults: anvil stopped mid-stream and started again from its state file, and
anvil reorged mid-stream (``anvil_reorg``), in half the trials with an anchor of a wrong
root forged in the new branch.

``evm-reorg`` is judged so: anchors in the removed blocks must be sent again (anchors are
final at 3 confirmations), and the audit under the relay's policy with the node must say
``ANCHOR_OK`` or ``ANCHOR_UNCONFIRMED`` for every anchor, and ``ANCHOR_CONTRADICTED``
exactly for the forged anchor (right after the reorg, by the anchoring account: a wrong
root at the size acknowledged so far, which the contract takes when it is larger than the
newest anchor left); **clean** is "the audit's verdicts are exactly those expected";
**recover** is from the reorg to the relay's anchors being final again up to the whole log.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from contextlib import suppress
from pathlib import Path
from typing import Any

from hashcore import _core
from hashcore.relay.keys import load_key

from .judge import export_and_audit, judge, policy
from .trial import (
    ANVIL_ACCOUNT,
    ANVIL_KEY,
    BATCH,
    DEVICES,
    RECORDS,
    Trial,
    fleet,
    free_port,
    resync,
    start_relay,
    stream,
    until,
    wait_port,
)

#: The anchor contract the relay deploys first thing on a fresh anvil: the CREATE address
#: of ANVIL_ACCOUNT's nonce 0.
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _anvil() -> str:
    return shutil.which("anvil") or str(Path("node_modules/.bin/anvil").resolve())


def _key_file(work: Path) -> Path:
    key = work / "evm.key"
    key.write_text(ANVIL_KEY + "\n")  # anvil's first development account (no secret)
    key.chmod(0o600)
    return key


# ----------------------------------------------------------------------------- EVM stop


def fault_evm_stop(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    port = free_port()
    state = work / "anvil-state.json"
    node_cmd = [_anvil(), "--port", str(port), "--state", str(state), "--block-time", "1",
                "--silent"]  # fmt: skip

    def start_node() -> subprocess.Popen[bytes]:
        # Its own process group: npm's anvil is a node wrapper around the binary, and a
        # signal to the wrapper alone would leave the node running.
        node = subprocess.Popen(
            node_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_port(port, "anvil")
        return node

    node = start_node()
    key = _key_file(work)
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


def fault_evm_reorg(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = subprocess.Popen(
        [_anvil(), "--port", str(port), "--block-time", "1", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_port(port, "anvil")
        key = _key_file(work)
        metrics = free_port()
        evm = ("--evm-url", url, "--evm-key", str(key), "--confirmations", "3",
               "--anchor-interval", "1")  # fmt: skip
        relay = start_relay(
            work, db, "--checkpoint-every", "16", "--metrics", f"127.0.0.1:{metrics}", evm=evm
        )
        log_id = _core.public_key_from_seed(load_key(work / "relay.key"))
        # The contract's deployment buried deeper than any reorg here (as on a real chain,
        # where it is long buried): a reorg is about anchors, not a lost contract.
        deployed = int(_rpc(url, "eth_blockNumber", []), 16)
        until(lambda: int(_rpc(url, "eth_blockNumber", []), 16) >= deployed + 4, 30)
        devices = fleet(relay, rng)
        at = rng.randrange(4, DEVICES * RECORDS // BATCH)
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
            size = DEVICES + n * BATCH  # acknowledged: at most the log's final size
            if forge and _forge_anchor(url, log_id, size):
                seen["forged"] = size
            elif forge:
                seen["refused"] = size  # not larger than the newest anchor left

        stream(relay, devices, reorg)
        resync(relay, devices, time.monotonic())
        size = sum(len(d) for d in devices)  # every record, genesis included
        # Recovered: the relay's anchors are final again up to the whole log.
        if until(lambda: _final_size(metrics) >= size, 60):
            trial.recover_s = time.monotonic() - (seen["t"] or time.monotonic())
        path = policy(relay, work, "--evm", "url", "--evm-key", str(key), "--confirmations", "3")
        # `relay policy` starts evm.from_block at the store's oldest anchor; an anchor the
        # account made before it (the forged one) would be out of the audit's sight, so
        # the trial's auditor reads the contract's whole history (its deployment is block 1).
        data = json.loads(path.read_text())
        data["evm"]["from_block"] = 0
        path.write_text(json.dumps(data))
        report = export_and_audit(trial, relay, devices, work, policy=path, evm_url=url)
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
