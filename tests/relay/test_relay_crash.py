"""Kill -9 the relay while clients stream, at several points: after restart every
acknowledged record is where its ack said, the log rebuilds to the same roots, and the
exported bundle audits clean. SIGTERM stops cleanly with a final checkpoint."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hashcore import Device, RelayClient, RelayError, audit_bundle, merkle
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


def _stream_until_killed(
    relay: ProcessRelay, devices: list[Device], kill_after: int
) -> dict[tuple[bytes, int], int]:
    """Stream mixed-device batches of 8; kill -9 the relay after `kill_after` acks while
    the next batches are in flight. Returns every acknowledged (chain, seq) -> log_index."""
    acked: dict[tuple[bytes, int], int] = {}
    pending = [r for d in devices for r in d.unsent()]
    # Interleave devices the way a relay sees a fleet: round-robin by seq.
    pending.sort(key=lambda r: (r.seq, r.chain_id))
    batches = [pending[i : i + 8] for i in range(0, len(pending), 8)]
    client = RelayClient(relay.target, plaintext=True, retry=RetryPolicy(attempts=1))
    killed = threading.Event()
    try:
        for n, acks in enumerate(client.stream(batches)):
            for a in acks:
                acked[(a.chain_id, a.seq)] = a.log_index
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


@pytest.mark.parametrize("kill_after", [1, 9, 37])
def test_kill9_loses_no_acknowledged_record(tmp_path: Path, kill_after: int) -> None:
    relay = start_process_relay(tmp_path, None, "--checkpoint-every", "64")
    devices = _fleet(relay)
    acked = _stream_until_killed(relay, devices, kill_after)
    assert len(acked) == kill_after * 8

    # Straight from the store, before any restart: every ack is durable, at its position.
    with open_store(str(tmp_path / "relay.db")) as store:
        held = store.get_records(list(acked))
        assert {k: r.log_index for k, r in held.items()} == acked
        size = store.tree_size()
        links = b"".join(store.iter_links())
        checkpoints = store.list_checkpoints()
    assert size >= len(acked) + DEVICES
    for cp in checkpoints:  # every checkpoint signed before the crash still rebuilds
        assert merkle.root(links[: 32 * cp.tree_size]) == cp.root

    # Restart: the relay rebuilds its log (it refuses to start if a root doesn't match)...
    relay = start_process_relay(tmp_path, None, "--checkpoint-every", "64")
    client = RelayClient(relay.target, plaintext=True)
    _, to_root, _ = client.consistency_proof(0, size)
    assert to_root == merkle.root(links)
    # ...and the phones resend what they never got an ack for: nothing enters twice.
    for device in devices:
        for seq in range(1, RECORDS + 1):
            if (device.chain_id, seq) in acked:
                device.mark_sent(seq)
        client.sync(device, batch_size=16)
    op = RelayClient(relay.target, plaintext=True, operator_token=relay.operator_token)
    final = op.create_checkpoint()
    total = DEVICES * (RECORDS + 1)
    assert final.tree_size == total
    op.close()
    client.close()
    assert relay.terminate() == 0

    export_bundle(str(tmp_path / "relay.db"), tmp_path / "bundle")
    report = audit_bundle(tmp_path / "bundle")
    assert report.clean
    assert report.counts["OK"] == total
    assert report.records == total


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
