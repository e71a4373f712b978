"""Kill -9 the relay while clients stream, at several points; SIGTERM it. The issue's
done-when: the store left behind, exported and audited with the phones' receipts, is
either clean and complete or names exactly the receipts it does not cover yet; after a
restart and a graceful stop it is clean and complete."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hashcore import Device, RelayClient, RelayError, _core, audit_bundle
from hashcore.evidence import notes_table, receipts_table
from hashcore.relay.client import RetryPolicy
from hashcore.relay.export import export_bundle
from hashcore.relay.store import open_store

from .conftest import ProcessRelay, start_process_relay

DEVICES = 12
RECORDS = 40  # per device, after the genesis


def _fleet(relay: ProcessRelay) -> list[Device]:
    op = RelayClient(relay.target, plaintext=True, operator_token=relay.operator_token)
    client = RelayClient(relay.target, plaintext=True)
    devices = []
    for i in range(DEVICES):
        token, _ = op.issue_token(f"P{i:03d}")
        device = Device.new()
        client.enroll(device, token)
        for day in range(RECORDS):
            device.append(b'{"p": %d, "day": %d, "tst_min": %d}' % (i, day, 380 + day))
        devices.append(device)
    op.close()
    client.close()
    return devices


def _stream_until_killed(relay: ProcessRelay, devices: list[Device], kill_after: int) -> int:
    """Stream mixed-device batches of 8; kill -9 the relay after `kill_after` acks while
    the next batches are in flight. Each device verifies and keeps its receipts (as a
    phone does); returns how many records were acknowledged."""
    by_chain = {d.chain_id: d for d in devices}
    pending = [r for d in devices for r in d.unsent()]
    # Interleave devices the way a relay sees a fleet: round-robin by seq.
    pending.sort(key=lambda r: (r.seq, r.chain_id))
    batches = [pending[i : i + 8] for i in range(0, len(pending), 8)]
    client = RelayClient(relay.target, plaintext=True, retry=RetryPolicy(attempts=1))
    killed = threading.Event()
    acked = 0
    try:
        for n, acks in enumerate(client.stream(batches)):
            for a in acks:
                by_chain[a.chain_id].accept_acks(
                    [(a.seq, a.log_index, a.received_ms, a.receipt_sig)]
                )
            acked += len(acks)
            if n + 1 == kill_after:
                relay.kill9()
                killed.set()
    except RelayError as exc:
        assert killed.is_set(), f"the stream failed before the kill: {exc}"
    finally:
        client.close()
    if not killed.is_set():
        relay.kill9()
    return acked


def _audit(bundle: Path, devices: list[Device]) -> tuple[object, dict[str, set[int]]]:
    receipts = receipts_table(r for d in devices for r in d.receipts())
    notes = notes_table(n for d in devices for n in d.notes())
    report = audit_bundle(bundle, receipts=[receipts], notes=[notes])
    codes: dict[str, set[int]] = {}
    for v in report.receipts:  # type: ignore[union-attr]
        assert v.log_index is not None
        codes.setdefault(v.code, set()).add(v.log_index)
    return report, codes


@pytest.mark.parametrize("kill_after", [1, 9, 37])
def test_kill9_loses_no_acknowledged_record(tmp_path: Path, kill_after: int) -> None:
    relay = start_process_relay(tmp_path, None, "--checkpoint-every", "64")
    devices = _fleet(relay)
    acked = _stream_until_killed(relay, devices, kill_after)
    assert acked == kill_after * 8
    receipts = {(d.chain_id, r.seq): r for d in devices for r in d.receipts()}
    assert len(receipts) == DEVICES + acked

    # Straight from the store, before any restart: every receipt is durable, at its position.
    with open_store(str(tmp_path / "relay.db")) as store:
        held = store.get_records(list(receipts))
        assert {k: (r.log_index, r.entry) for k, r in held.items()} == {
            k: (r.log_index, _core.log_entry(r.link, r.received_ms)) for k, r in receipts.items()
        }
        size = store.tree_size()
        entries = b"".join(store.iter_entries())
        checkpoints = store.list_checkpoints()
    leaves = [_core.sha256_leaf_hash(entries[i : i + 41]) for i in range(0, len(entries), 41)]
    assert size >= len(receipts)
    for cp in checkpoints:  # every checkpoint signed before the crash still rebuilds
        assert _core.sha256_tree_root(leaves[: cp.tree_size]) == cp.root
    covered = max((cp.tree_size for cp in checkpoints), default=0)

    # The store as the crash left it, exported and audited with the phones' receipts:
    # clean, and exactly the receipts past the newest checkpoint are named as not covered.
    result = export_bundle(str(tmp_path / "relay.db"), tmp_path / "crashed")
    assert (result.tree_size, result.left_out) == (covered, size - covered)
    report, codes = _audit(tmp_path / "crashed", devices)
    assert report.clean  # type: ignore[attr-defined]
    assert codes.get("RECEIPT_OK", set()) == {r.log_index for r in receipts.values()} & set(
        range(covered)
    )
    assert codes.get("RECEIPT_PENDING", set()) == {
        r.log_index for r in receipts.values() if r.log_index >= covered
    }
    assert set(codes) <= {"RECEIPT_OK", "RECEIPT_PENDING"}

    # Restart: the relay rebuilds its log (it refuses to start if a root doesn't match)...
    relay = start_process_relay(tmp_path, None, "--checkpoint-every", "64")
    client = RelayClient(relay.target, plaintext=True)
    _, to_root, _ = client.consistency_proof(0, size)
    assert to_root == _core.sha256_tree_root(leaves)
    # ...and the phones resend what they hold no receipt for: nothing enters twice.
    for device in devices:
        client.sync(device, batch_size=16)
        assert device.unsent() == []
    client.close()
    total = DEVICES * (RECORDS + 1)
    assert relay.terminate() == 0  # the graceful stop signs the final checkpoint
    err = relay.proc.stderr.read() if relay.proc.stderr else ""
    assert f"final checkpoint at tree_size {total}" in err

    result = export_bundle(str(tmp_path / "relay.db"), tmp_path / "bundle")
    assert (result.records, result.left_out) == (total, 0)
    report, codes = _audit(tmp_path / "bundle", devices)
    assert report.clean  # type: ignore[attr-defined]
    assert report.counts["OK"] == report.records == total  # type: ignore[attr-defined]
    assert codes == {"RECEIPT_OK": set(range(total))}


def test_sigterm_finishes_and_checkpoints(tmp_path: Path) -> None:
    relay = start_process_relay(tmp_path, None, "--checkpoint-every", "100000")
    devices = _fleet(relay)
    client = RelayClient(relay.target, plaintext=True)
    for d in devices[:6]:
        client.sync(d)
    client.close()
    assert relay.terminate() == 0
    err = relay.proc.stderr.read() if relay.proc.stderr else ""
    expected = DEVICES + 6 * RECORDS
    assert f"final checkpoint at tree_size {expected}" in err
    with open_store(str(tmp_path / "relay.db")) as store:
        latest = store.latest_checkpoint()
        assert latest is not None and latest.tree_size == expected
    result = export_bundle(str(tmp_path / "relay.db"), tmp_path / "bundle")
    assert (result.records, result.left_out) == (expected, 0)
    report, codes = _audit(tmp_path / "bundle", devices)
    assert report.clean  # type: ignore[attr-defined]
    assert codes == {"RECEIPT_OK": set(range(expected))}


def test_sigterm_before_the_anchor_is_final(tmp_path: Path) -> None:
    """The relay anchors its final checkpoint on SIGTERM but can't wait for 1000 blocks:
    it says so, and the export is still the whole log, complete and clean with the phones'
    receipts; only --final-only (nothing is final) is refused, with one line."""
    relay = start_process_relay(
        tmp_path,
        None,
        "--checkpoint-every",
        "100000",
        "--evm",
        "embedded",
        "--confirmations",
        "1000",
        "--anchor-interval",
        "3600",
        "--stop-anchor-wait",
        "0.2",
    )
    devices = _fleet(relay)[:3]
    client = RelayClient(relay.target, plaintext=True)
    for d in devices:
        client.sync(d)
    client.close()
    assert relay.terminate() == 0
    err = relay.proc.stderr.read() if relay.proc.stderr else ""
    expected = DEVICES + 3 * RECORDS
    assert f"final checkpoint at tree_size {expected}" in err
    assert f"the final checkpoint at tree_size {expected} is anchored but NOT FINAL" in err
    with open_store(str(tmp_path / "relay.db")) as store:
        latest = store.latest_checkpoint()
        assert latest is not None and latest.tree_size == expected
        assert latest.anchor is not None and latest.anchor.final is False

    code, out, err = _cli_export(tmp_path / "bundle", tmp_path)
    assert code == 0
    assert out.startswith(f"exported {tmp_path / 'bundle'}: origin=hashcore-relay/")
    assert f"records={expected}, tree_size={expected}, checkpoints=1" in out
    assert err.splitlines() == [
        f"hashcore: WARNING: 1 exported checkpoint(s) have no final anchor: tree_size {expected}"
    ]
    # The three phones that synced hand in their receipts (the other nine, none).
    report, codes = _audit(tmp_path / "bundle", devices)
    assert report.clean  # type: ignore[attr-defined]
    assert report.records == expected  # type: ignore[attr-defined]
    assert codes["RECEIPT_OK"] == {r.log_index for d in devices for r in d.receipts()}
    code, out, err = _cli_export(tmp_path / "final", tmp_path, "--final-only")
    assert (code, out) == (2, "")
    assert err == (
        "hashcore: error: --final-only: no checkpoint of this store has a final anchor yet\n"
    )


def _cli_export(out: Path, workdir: Path, *extra: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hashcore.cli",
            "relay",
            "export",
            "--db",
            str(workdir / "relay.db"),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_sigterm_waits_for_the_final_anchor(tmp_path: Path) -> None:
    """With a reachable finality (2 blocks; the embedded chain buries a new anchor), the
    graceful stop waits for it: the store's newest checkpoint has a final anchor, and
    --final-only exports all of it."""
    relay = start_process_relay(
        tmp_path,
        None,
        "--checkpoint-every",
        "100000",
        "--evm",
        "embedded",
        "--confirmations",
        "2",
        "--anchor-interval",
        "3600",
        "--stop-anchor-wait",
        "60",
    )
    devices = _fleet(relay)[:2]
    client = RelayClient(relay.target, plaintext=True)
    for d in devices:
        client.sync(d)
    client.close()
    assert relay.terminate() == 0
    err = relay.proc.stderr.read() if relay.proc.stderr else ""
    expected = DEVICES + 2 * RECORDS
    assert f"final checkpoint at tree_size {expected} is anchored and final" in err
    code, out, err = _cli_export(tmp_path / "bundle", tmp_path, "--final-only")
    assert (code, err) == (0, "")
    assert f"records={expected}, tree_size={expected}, checkpoints=1" in out
    report, codes = _audit(tmp_path / "bundle", devices)
    assert report.clean  # type: ignore[attr-defined]
    assert codes == {"RECEIPT_OK": {r.log_index for d in devices for r in d.receipts()}}
