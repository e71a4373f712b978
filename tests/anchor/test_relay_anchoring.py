"""A relay that anchors on a real anvil node: receipts go pending -> final, the exported
bundle audits clean against that anvil, and a relay misconfigured for the chain refuses
to start with one line."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hashcore import Device, RelayClient, audit_bundle
from hashcore.anchor import EvmChain
from hashcore.cli.main import main
from hashcore.errors import AnchorError
from hashcore.relay.export import export_bundle
from hashcore.relay.server import RelayConfig
from relay.conftest import ThreadRelay

from .conftest import AnvilNode


def _relay(tmp_path: Path, url: str, key_file: Path, **kw: object) -> ThreadRelay:
    config = RelayConfig(
        store=str(tmp_path / "relay.db"),
        listen="127.0.0.1:0",
        plaintext=True,
        checkpoint_every=10,
        checkpoint_interval_s=3600,
        evm="url",
        evm_url=url,
        evm_key=key_file,
        confirmations=2,
        anchor_interval_s=0.2,
        **kw,  # type: ignore[arg-type]
    )
    return ThreadRelay(config).start()


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_relay_anchors_on_anvil_and_the_bundle_audits_clean(
    anvil_factory: Callable[..., AnvilNode], key_file: Path, tmp_path: Path
) -> None:
    node = anvil_factory()
    relay = _relay(tmp_path, node.url, key_file)
    try:
        op = relay.client(operator=True)
        token, _ = op.issue_token("P1")
        device = Device.new()
        client = relay.client()
        client.enroll(device, token)
        for day in range(24):
            device.append(b'{"day": %d}' % day)
        client.sync(device, batch_size=6)
        cp = op.create_checkpoint()
        assert cp.tree_size == 25
        chain = EvmChain.connect(node.url)

        def anchored() -> bool:
            return client.receipt(device.chain_id, 5).anchor is not None

        _wait(anchored, "the newest checkpoint to be anchored")
        first = client.receipt(device.chain_id, 5)
        assert first.anchor is not None and first.checkpoint.tree_size == 25
        assert (first.anchor.evm_chain_id, first.anchor.final) == (31337, False)
        assert first.anchor.contract == relay.server.contract  # type: ignore[union-attr]
        chain.mine(1)  # anvil automines only on transactions: bury the anchor one block
        _wait(lambda: bool(client.receipt(device.chain_id, 5).anchor.final), "finality")  # type: ignore[union-attr]
        final = client.receipt(device.chain_id, 5)
        assert final.anchor is not None and final.anchor.confirmations >= 2
        ledger = relay.server.ledger  # type: ignore[union-attr]
        assert final.verify(ledger.origin, ledger.log_key, device.records()[5])
        contract = relay.server.contract  # type: ignore[union-attr]
    finally:
        relay.stop()

    # The final anchor is the export's: --final-only takes exactly the anchored checkpoint.
    result = export_bundle(str(tmp_path / "relay.db"), tmp_path / "bundle", final_only=True)
    # Earlier checkpoints (every 12 records) are vouched for by the later anchor only.
    assert (result.tree_size, result.not_final) == (25, (13,))
    # The relay's policy names the chain, the contract and the anchoring account.
    policy = tmp_path / "policy.json"
    assert (
        main(
            [
                "relay",
                "policy",
                "--db",
                str(tmp_path / "relay.db"),
                "--out",
                str(policy),
                "--evm",
                "url",
                "--evm-key",
                str(key_file),
                "--confirmations",
                "2",
            ]
        )
        == 0
    )
    evm = json.loads(policy.read_text())["evm"]
    from hashcore.anchor.chain_access import read_key_file

    assert evm["chain_id"] == 31337 and evm["contract"] == contract
    assert evm["anchorer"] == read_key_file(key_file).address
    assert evm["confirmations"] == 2 and evm["from_block"] >= 1
    # The policy names the chain: the audit reads the anchorer's anchors from it.
    report = audit_bundle(tmp_path / "bundle", policy=policy, evm_url=node.url)
    assert report.clean, report
    assert report.counts["OK"] == 25
    assert [(a.tree_size, a.code) for a in report.anchors] == [(25, "ANCHOR_OK")]


def test_relay_refuses_a_wrong_chain_id(
    anvil_factory: Callable[..., AnvilNode], key_file: Path, tmp_path: Path
) -> None:
    node = anvil_factory()
    with pytest.raises(AnchorError) as exc:
        _relay(tmp_path, node.url, key_file, evm_chain_id=1)
    assert "\n" not in str(exc.value)
    assert "31337" in str(exc.value) and "1" in str(exc.value)


def test_relay_refuses_a_contract_address_without_the_contract(
    anvil_factory: Callable[..., AnvilNode], key_file: Path, tmp_path: Path
) -> None:
    node = anvil_factory()
    with pytest.raises(AnchorError) as exc:
        _relay(tmp_path, node.url, key_file, evm_contract="0x" + "11" * 20)
    assert "\n" not in str(exc.value)
    assert "0x1111111111111111111111111111111111111111" in str(exc.value)


def test_relay_cli_refuses_misconfigured_chain_with_one_line(
    anvil_factory: Callable[..., AnvilNode], key_file: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    node = anvil_factory()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hashcore.cli",
            "relay",
            "serve",
            "--db",
            str(tmp_path / "r.db"),
            "--listen",
            "127.0.0.1:0",
            "--plaintext",
            "--evm-url",
            node.url,
            "--evm-key",
            str(key_file),
            "--evm-chain-id",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("hashcore: error: ")
    assert "31337" in last


def test_client_receipt_without_anchoring_has_no_anchor(tmp_path: Path) -> None:
    relay = ThreadRelay(
        RelayConfig(store=str(tmp_path / "r.db"), listen="127.0.0.1:0", plaintext=True)
    ).start()
    try:
        op = RelayClient(relay.target, plaintext=True, operator_token=relay.operator_token)
        token, _ = op.issue_token("P")
        device = Device.new()
        RelayClient(relay.target, plaintext=True).enroll(device, token)
        op.create_checkpoint()
        assert RelayClient(relay.target, plaintext=True).receipt(device.chain_id, 0).anchor is None
    finally:
        relay.stop()
