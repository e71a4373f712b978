"""The default relay (``--evm embedded``: an anvil child with its chain beside the store)
restarts after anchoring: after SIGTERM, after kill -9, and when the chain's saved state
lags the store or is gone (issue 15 #1). Real `hashcore relay serve` processes, a real
anvil, and the chain read back over JSON-RPC."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hashcore import Device, RelayClient
from hashcore.anchor import EvmChain
from hashcore.relay.client import Receipt

from .conftest import REPO

RECORDS_PER_ROUND = 10


@dataclass
class Relay:
    proc: subprocess.Popen[str]
    port: int
    log: Path
    workdir: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text()

    def _search(self, pattern: str) -> str:
        m = re.findall(pattern, self.text())
        assert m, f"{pattern!r} not in the relay's log:\n{self.text()}"
        return str(m[-1])

    @property
    def contract(self) -> str:
        return self._search(r"EVM anchoring to (0x[0-9a-fA-F]{40})")

    @property
    def anvil_pid(self) -> int:
        return int(self._search(r"embedded chain is anvil pid (\d+)"))

    @property
    def chain_url(self) -> str:
        return self._search(r"anvil pid \d+ on (http://127\.0\.0\.1:\d+)")

    @property
    def log_id(self) -> bytes:
        return bytes.fromhex(self._search(r"relay ([0-9a-f]{64}) serving on"))

    def operator(self) -> RelayClient:
        token = (self.workdir / "relay.operator-token").read_text().strip()
        return RelayClient(self.target, plaintext=True, operator_token=token)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)


def start(workdir: Path) -> Relay:
    log = workdir / f"relay-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("HASHCORE_ANVIL", str(_anvil()))
    with log.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hashcore.cli",
                "relay",
                "serve",
                "--db",
                str(workdir / "relay.db"),
                "--listen",
                "127.0.0.1:0",
                "--plaintext",
                "--checkpoint-every",
                "100000",
                "--checkpoint-interval",
                "3600",
                "--anchor-interval",
                "0.2",
                "--confirmations",
                "2",
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"listening on .*:(\d+)$", line.strip())
    if not m:
        raise AssertionError(f"relay exited ({proc.wait()}): {log.read_text()}")
    return Relay(proc, int(m.group(1)), log, workdir)


def _anvil() -> Path:
    from .conftest import _anvil_binary

    return _anvil_binary()


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (exited, not yet reaped by init) is gone too.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def add_round(relay: Relay, device: Device) -> int:
    """RECORDS_PER_ROUND more records and a checkpoint over them; the new tree size."""
    for _ in range(RECORDS_PER_ROUND):
        device.append(b"{}")
    client = RelayClient(relay.target, plaintext=True)
    client.sync(device)
    client.close()
    op = relay.operator()
    size = op.create_checkpoint().tree_size
    op.close()
    return int(size)


def final_receipt(relay: Relay, device: Device, seq: int, tree_size: int) -> Receipt:
    """The receipt of ``seq`` once its checkpoint (``tree_size``) is anchored and final."""
    client = RelayClient(relay.target, plaintext=True)

    def final() -> bool:
        r = client.receipt(device.chain_id, seq)
        return r.checkpoint.tree_size == tree_size and r.anchor is not None and r.anchor.final

    wait_for(final, f"tree_size {tree_size} anchored and final")
    receipt = client.receipt(device.chain_id, seq)
    client.close()
    return receipt


def on_chain(relay: Relay) -> tuple[str | None, int]:
    """(first sender, latest anchored tree size) of the relay's log on its chain."""
    return EvmChain.connect(relay.chain_url).anchor_state(relay.contract, relay.log_id)


def enroll(relay: Relay) -> Device:
    op = relay.operator()
    token, _ = op.issue_token("P1")
    op.close()
    device = Device.new()
    client = RelayClient(relay.target, plaintext=True)
    client.enroll(device, token)
    client.close()
    return device


def assert_anchored(relay: Relay, device: Device, tree_size: int, contract: str) -> None:
    receipt = final_receipt(relay, device, tree_size - 1, tree_size)
    assert receipt.anchor is not None and receipt.anchor.contract == contract
    chain = EvmChain.connect(relay.chain_url)
    mined = chain.receipt(receipt.anchor.tx_hash)
    assert mined is not None and mined.status == 1  # the tx the receipt names is on chain
    assert [e.tree_size for e in mined.events] == [tree_size]
    assert on_chain(relay)[1] == tree_size


def test_the_default_relay_restarts_after_anchoring(tmp_path: Path) -> None:
    """The defect as an operator meets it, through the relay's API only."""
    relay = start(tmp_path)
    device = enroll(relay)
    size = add_round(relay, device)
    anchored = final_receipt(relay, device, size - 1, size).anchor
    assert anchored is not None
    for stop in ("kill9", "terminate"):
        getattr(relay, stop)()
        relay = start(tmp_path)  # before the fix: exit 2, "no contract at 0x... on embedded"
        again = final_receipt(relay, device, size - 1, size).anchor
        assert again is not None
        assert (again.contract, again.tx_hash, again.final) == (
            anchored.contract,
            anchored.tx_hash,
            True,
        )
    assert relay.terminate() == 0


def test_the_embedded_chain_survives_kill9_and_sigterm(tmp_path: Path) -> None:
    relay = start(tmp_path)
    contract = relay.contract
    device = enroll(relay)
    size = add_round(relay, device)
    assert size == 1 + RECORDS_PER_ROUND
    assert_anchored(relay, device, size, contract)

    # kill -9: anvil gets SIGTERM from the kernel (PR_SET_PDEATHSIG), dumps and exits.
    anvil = relay.anvil_pid
    relay.kill9()
    wait_for(lambda: gone(anvil), "the embedded anvil to exit after its relay")
    relay = start(tmp_path)
    assert "(loaded from relay.evm-state.json.prev)" in relay.text()
    assert relay.contract == contract  # the same contract, found again, not redeployed
    assert "deployed the anchor contract" not in relay.text()
    assert on_chain(relay)[1] == size  # the anchor made before the kill is still there
    size = add_round(relay, device)
    assert size == 1 + 2 * RECORDS_PER_ROUND
    assert_anchored(relay, device, size, contract)  # the anchored size continues

    # SIGTERM: the relay stops anvil, which dumps its state.
    anvil = relay.anvil_pid
    assert relay.terminate() == 0
    assert gone(anvil)
    relay = start(tmp_path)
    assert relay.contract == contract
    assert on_chain(relay)[1] == size
    size = add_round(relay, device)
    assert_anchored(relay, device, size, contract)
    assert relay.terminate() == 0


def test_a_chain_that_lags_the_store_is_anchored_again(tmp_path: Path) -> None:
    relay = start(tmp_path)
    contract = relay.contract
    device = enroll(relay)
    first = add_round(relay, device)
    assert_anchored(relay, device, first, contract)
    assert relay.terminate() == 0
    state = tmp_path / "relay.evm-state.json"
    shutil.copy(state, tmp_path / "saved-state.json")  # the chain holding anchor `first`

    relay = start(tmp_path)
    second = add_round(relay, device)
    assert_anchored(relay, device, second, contract)
    assert relay.terminate() == 0

    # The chain's state lags the store (anvil killed before it dumped): the anchor of
    # `second` is not on it. The relay starts, notices, and anchors `second` again.
    shutil.copy(tmp_path / "saved-state.json", state)
    relay = start(tmp_path)
    assert relay.contract == contract
    assert_anchored(relay, device, second, contract)
    assert "no longer holds this relay's newest final anchor" in relay.text()
    assert relay.terminate() == 0

    # The state is gone altogether (the contract with it): a new contract (the embedded
    # account's first deployment again), the old anchors forgotten, the newest anchored.
    for leftover in tmp_path.glob("relay.evm-state.json*"):
        if not leftover.name.endswith((".lock", ".log")):
            leftover.unlink()
    relay = start(tmp_path)
    assert (
        f"holds no contract at {contract}: its state lags the store; forgetting the 2 "
        "anchors made on it and deploying a new contract"
    ) in relay.text()
    assert relay.contract == contract
    assert_anchored(relay, device, second, contract)
    assert on_chain(relay)[1] == second
    assert relay.terminate() == 0


def test_a_torn_state_falls_back_to_the_previous_start(tmp_path: Path) -> None:
    relay = start(tmp_path)
    contract = relay.contract
    device = enroll(relay)
    size = add_round(relay, device)
    assert_anchored(relay, device, size, contract)
    assert relay.terminate() == 0
    relay = start(tmp_path)  # this start's .prev holds the anchor of `size`
    assert relay.terminate() == 0
    state = tmp_path / "relay.evm-state.json"
    state.write_bytes(state.read_bytes()[:100])  # a dump torn by a crash
    relay = start(tmp_path)
    assert "relay.evm-state.json is damaged (torn by a crash?)" in relay.text()
    assert relay.contract == contract
    assert on_chain(relay)[1] == size
    assert relay.terminate() == 0


def test_no_anvil_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "HASHCORE_ANVIL": str(tmp_path / "no-anvil")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hashcore.cli",
            "relay",
            "serve",
            "--db",
            str(tmp_path / "relay.db"),
            "--listen",
            "127.0.0.1:0",
            "--plaintext",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert (
        last == f"hashcore: error: HASHCORE_ANVIL={tmp_path / 'no-anvil'} is not an executable file"
    )
