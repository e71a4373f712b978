"""Relay frontends that anchor (issue 12) on a real anvil and the machine's PostgreSQL: only
the sequencer anchors; killed with kill -9, the next one goes on from the stored anchors
(nothing anchored twice, no transaction wasted) and anchors the newer checkpoints; a
SIGTERM'd sequencer anchors its final checkpoint, a frontend that does not sequence
anchors nothing when it stops; the export audits clean under a policy naming the
anchoring account, with the phones' receipts and one ANCHOR_OK per anchor on chain."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hashcore import RelayClient, audit_bundle
from hashcore.anchor import EvmChain
from hashcore.anchor.anchorer_status import AnchorConfigError
from hashcore.anchor.chain_access import read_key_file
from hashcore.cli.main import main
from hashcore.errors import InvalidInputError
from hashcore.evidence import notes_table, receipts_table
from hashcore.relay.config import RelayConfig
from hashcore.relay.frontend_anchoring import shared_contract
from hashcore.relay.store import Store, open_store
from relay.conftest import ProcessRelay
from relay.frontends_helpers import (
    frontends_database,
    sequencer_pid,
    start_frontends,
)
from relay.test_relay_frontends import DEVICES, RECORDS, _check_store, _fleet, _stream

from .conftest import ANVIL_KEY_1, AnvilNode

EMBEDDED_REFUSAL = (
    "--frontend: an embedded chain (--evm embedded, the default) belongs to one relay "
    "process; frontends anchor on a node they all reach: --evm-url URL --evm-key FILE "
    "(the same key file on every frontend), or --evm none"
)


def _evm_flags(url: str, key_file: Path) -> list[str]:
    return [
        "--evm",
        "url",
        "--evm-url",
        url,
        "--evm-key",
        str(key_file),
        "--confirmations",
        "1",
        "--anchor-interval",
        "0.2",
        "--stop-anchor-wait",
        "10",
        # A checkpoint every 32 records, none from the timer (the final one is the
        # stop's): anchors follow the records, and the final checkpoint is a new one.
        "--checkpoint-every",
        "32",
        "--checkpoint-interval",
        "3600",
    ]


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _err(frontend: ProcessRelay) -> str:
    return frontend.proc.stderr.read() if frontend.proc.stderr else ""


def _anchored(store: Store) -> dict[int, int]:
    """tree_size -> created_ms of the checkpoints anchored in a block."""
    return {
        cp.tree_size: cp.created_ms
        for cp in store.list_checkpoints()
        if cp.anchor is not None and cp.anchor.block_number is not None
    }


def _newest_anchored(store: Store) -> bool:
    latest = store.latest_checkpoint()
    return latest is not None and latest.tree_size in _anchored(store)


def test_the_sequencer_anchors_and_its_successor_goes_on(
    anvil_factory: Callable[..., AnvilNode], key_file: Path, tmp_path: Path
) -> None:
    node = anvil_factory()
    chain = EvmChain.connect(node.url, key_file)  # the anchoring account, to read its nonce
    with frontends_database("anchor_") as url:
        # The first frontend makes the log's key and deploys the contract; the others
        # find both (the key file, the contract recorded in the store).
        frontends = start_frontends(tmp_path, url, 3, *_evm_flags(node.url, key_file))
        first, survivors = frontends[0], frontends[1:]
        try:
            store = open_store(url, readonly=True)
            # Records through every frontend; the sequencer anchors as they come.
            devices = _fleet(frontends)
            for i, device in enumerate(devices[:6]):
                with RelayClient(frontends[i % 3].target, plaintext=True) as client:
                    client.sync(device, batch_size=10)
            _wait(lambda: _newest_anchored(store), "the sequencer to anchor")
            before = _anchored(store)
            assert before and max(before) >= 32

            # kill -9 the sequencer while phones stream to the other two.
            acked: list[int] = []
            errors: list[str] = []
            streams = [
                threading.Thread(
                    target=_stream, args=(f.target, devices[6 + 3 * k : 9 + 3 * k], acked, errors)
                )
                for k, f in enumerate(survivors)
            ]
            for s in streams:
                s.start()
            _wait(lambda: sum(acked) >= 12, "the streams to start")
            killed_ms = time.time_ns() // 1_000_000
            first.kill9()
            killed_at = time.monotonic()
            successor = sequencer_pid(url, not_pid=first.proc.pid)
            elected_ms = (time.monotonic() - killed_at) * 1000
            # The first anchor of a checkpoint the new sequencer signed.
            _wait(
                lambda: any(ms > killed_ms for ms in _anchored(store).values()),
                "the new sequencer's first anchor",
            )
            failover_ms = (time.monotonic() - killed_at) * 1000
            print(
                f"\nanchoring fail-over: kill -9 -> new sequencer {elected_ms:.0f} ms, "
                f"-> its first anchor {failover_ms:.0f} ms"
            )
            for s in streams:
                s.join(60)
            assert errors == [] and all(d.unsent() == [] for d in devices)
            sequencer = next(f for f in survivors if f.proc.pid == successor)
            idle = next(f for f in survivors if f is not sequencer)
            _wait(lambda: _newest_anchored(store), "the new sequencer to anchor")

            # The frontend that does not sequence stops: it anchors nothing. Then the
            # sequencer: it signs a final checkpoint and anchors it (a new one: a record
            # is added if the newest checkpoint covers the whole log).
            total = DEVICES * (RECORDS + 1)
            latest = store.latest_checkpoint()
            if latest is not None and latest.tree_size == total:
                devices[0].append(b'{"late": 1}')
                with RelayClient(idle.target, plaintext=True) as client:
                    client.sync(devices[0])
                total += 1
            sent = chain.nonce("latest")
            assert idle.terminate() == 0
            idle_err = _err(idle)
            assert "anchored and final" not in idle_err and "NOT FINAL" not in idle_err
            assert chain.nonce("latest") == sent
            latest = store.latest_checkpoint()
            assert latest is not None and latest.tree_size < total
            assert sequencer.terminate() == 0
            stopped = _err(sequencer)
            assert f"final checkpoint at tree_size {total} is anchored and final" in stopped
            after = _anchored(store)
            assert set(before) <= set(after) and max(after) == total
            store.close()
            _check_store(url, devices, total)
            bundle, policy = tmp_path / "bundle", tmp_path / "policy.json"
            assert main(["relay", "export", "--db", url, "--out", str(bundle)]) == 0
            args = ["relay", "policy", "--db", url, "--out", str(policy), "--evm", "url"]
            assert main([*args, "--evm-key", str(key_file), "--confirmations", "1"]) == 0
        finally:
            for f in frontends:
                if f.proc.poll() is None:
                    f.kill9()
    assert json.loads(policy.read_text())["evm"]["anchorer"] == read_key_file(key_file).address
    report = audit_bundle(
        bundle,
        policy=policy,
        evm_url=node.url,
        receipts=[receipts_table(r for d in devices for r in d.receipts())],
        notes=[notes_table(n for d in devices for n in d.notes())],
    )
    assert report.clean, report
    assert report.counts["OK"] == report.records == total
    assert sorted(v.log_index for v in report.receipts) == list(range(total))
    assert {v.code for v in report.receipts} == {"RECEIPT_OK"}
    # One ANCHOR_OK per checkpoint the store says is anchored, each on chain once, and
    # every transaction the account sent is the deployment or one of those anchors: the
    # fail-over neither anchored a checkpoint again nor sent one that reverted.
    assert [(a.tree_size, a.code) for a in report.anchors] == [
        (n, "ANCHOR_OK") for n in sorted(after)
    ]
    assert chain.nonce("latest") == 1 + len(after)


def test_frontends_refuse_an_embedded_chain(tmp_path: Path) -> None:
    config = RelayConfig(
        store="postgresql://postgres@127.0.0.1:5432/unused",
        key_dir=tmp_path,
        plaintext=True,
        frontend=True,
        evm="embedded",
    )
    with pytest.raises(InvalidInputError) as exc:
        config.check()
    assert str(exc.value) == EMBEDDED_REFUSAL
    # On the command line, --evm embedded is the default: refused before anything opens.
    serve = [sys.executable, "-m", "hashcore.cli", "relay", "serve", "--frontend"]
    proc = subprocess.run(
        [*serve, "--db", config.store, "--key-dir", str(tmp_path), "--plaintext"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == f"hashcore: error: {EMBEDDED_REFUSAL}\n"
    assert list(tmp_path.iterdir()) == []
    # An external chain is allowed (the same --evm-key on every frontend).
    config.evm, config.evm_url, config.evm_key = "url", "http://127.0.0.1:8545", tmp_path / "k"
    config.check()


def test_the_log_has_one_contract_and_one_account(
    anvil_factory: Callable[..., AnvilNode], key_file: Path, tmp_path: Path
) -> None:
    """What frontends record in the store: the first deploys, the next ones find it; another
    contract or account is refused with one line; a contract the chain lost is replaced."""
    node = anvil_factory()
    chain = EvmChain.connect(node.url, key_file)
    other_key = tmp_path / "other.key"
    other_key.write_text(ANVIL_KEY_1 + "\n")
    other_key.chmod(0o600)
    with frontends_database("anchor_") as url:
        open_store(url).close()  # the schema
        contract = shared_contract(url, chain, None, None)
        assert chain.code_at(contract) and chain.nonce("latest") == 1  # deployed once
        assert shared_contract(url, chain, None, None) == contract
        assert shared_contract(url, chain, contract.lower(), None) == contract
        assert chain.nonce("latest") == 1
        elsewhere = "0x" + "11" * 20
        with pytest.raises(AnchorConfigError) as exc:
            shared_contract(url, chain, elsewhere, None)
        assert str(exc.value) == (
            f"--evm-contract {elsewhere}: the frontends of this log anchor to {contract} on "
            "chain id 31337; give that one (or none)"
        )
        theirs = EvmChain.connect(node.url, other_key)
        with pytest.raises(AnchorConfigError) as exc:
            shared_contract(url, theirs, None, None)
        assert str(exc.value) == (
            f"--evm-key: this log anchors on {contract} (chain id 31337) from "
            f"{chain.address}, and this frontend's key is {theirs.address}: every frontend "
            "uses the same account (copy its key file)"
        )
        # The node restarts empty: the recorded contract is gone. An --evm-contract with
        # no code is refused (and not recorded); without one, a new deployment.
        node.stop()
        node.start()
        with pytest.raises(AnchorConfigError) as exc:
            shared_contract(url, chain, elsewhere, None)
        assert str(exc.value) == f"no contract at --evm-contract {elsewhere} on chain id 31337"
        again = shared_contract(url, chain, None, contract)
        assert chain.code_at(again) and chain.nonce("latest") == 1
        assert shared_contract(url, chain, None, None) == again
