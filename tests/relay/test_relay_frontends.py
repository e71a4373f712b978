"""Three relay frontends on one PostgreSQL log (their own hc_frontends_* database): phones
spread over them, the sequencer killed with kill -9 mid-stream and another frontend taking
over; a frontend cut off from the database that stops acknowledging instead of forking.
Every check is on the real store and the real export's audit with the phones' receipts."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
from hashcore import Device, RelayClient, RelayError, _core, audit_bundle
from hashcore.errors import InvalidInputError, StoreError
from hashcore.evidence import notes_table, receipts_table
from hashcore.relay.client import RetryPolicy
from hashcore.relay.config import RelayConfig
from hashcore.relay.export import export_bundle
from hashcore.relay.store import open_store

from .conftest import ProcessRelay
from .frontends_helpers import (
    CutProxy,
    frontends_database,
    sequencer_pid,
    start_frontend,
    start_frontends,
)

DEVICES = 12
RECORDS = 30  # per device, after the genesis


def _fleet(frontends: list[ProcessRelay]) -> list[Device]:
    """Devices enrolled round-robin over the frontends, RECORDS records each unsent."""
    op = RelayClient(
        frontends[0].target, plaintext=True, operator_token=frontends[0].operator_token
    )
    devices = []
    for i in range(DEVICES):
        token, _ = op.issue_token(f"P{i:03d}")
        device = Device.new()
        with RelayClient(frontends[i % len(frontends)].target, plaintext=True) as client:
            client.enroll(device, token)
        for day in range(RECORDS):
            device.append(b'{"p": %d, "day": %d}' % (i, day))
        devices.append(device)
    op.close()
    return devices


def _stream(target: str, devices: list[Device], acked: list[int], errors: list[str]) -> None:
    """Stream the devices' records in mixed batches of 6 and keep every receipt (as a phone
    does); a failure (the frontend died) ends the stream."""
    by_chain = {d.chain_id: d for d in devices}
    pending = sorted((r for d in devices for r in d.unsent()), key=lambda r: (r.seq, r.chain_id))
    batches = [pending[i : i + 6] for i in range(0, len(pending), 6)]
    client = RelayClient(target, plaintext=True, retry=RetryPolicy(attempts=1))
    try:
        for acks in client.stream(batches):
            for a in acks:
                by_chain[a.chain_id].accept_acks(
                    [(a.seq, a.log_index, a.received_ms, a.receipt_sig)]
                )
            acked.append(len(acks))
    except RelayError as exc:
        errors.append(exc.code)
    finally:
        client.close()


def _check_store(url: str, devices: list[Device], total: int) -> None:
    """Every receipt a phone holds is in the log at its position; no position twice."""
    receipts = {(d.chain_id, r.seq): r for d in devices for r in d.receipts()}
    assert len(receipts) == total
    with open_store(url, readonly=True) as store:
        held = store.get_records(list(receipts))
        assert {k: (r.log_index, r.entry) for k, r in held.items()} == {
            k: (r.log_index, _core.log_entry(r.link, r.received_ms)) for k, r in receipts.items()
        }
        assert store.tree_size() == total
    with psycopg.connect(url) as conn:
        count, distinct, queued = conn.execute(
            "SELECT count(*), count(DISTINCT log_index), "
            "(SELECT count(*) FROM frontend_queue) FROM records"
        ).fetchone()  # type: ignore[misc]
    assert (count, distinct, queued) == (total, total, 0)


def _audit(url: str, bundle: Path, devices: list[Device], total: int) -> None:
    result = export_bundle(url, bundle)
    assert (result.records, result.left_out) == (total, 0)
    receipts = receipts_table(r for d in devices for r in d.receipts())
    notes = notes_table(n for d in devices for n in d.notes())
    report = audit_bundle(bundle, receipts=[receipts], notes=[notes])
    assert report.clean
    assert report.counts["OK"] == report.records == total
    assert {v.code for v in report.receipts} == {"RECEIPT_OK"}
    assert sorted(v.log_index for v in report.receipts) == list(range(total))


def test_sequencer_killed_mid_stream_another_takes_over(tmp_path: Path) -> None:
    with frontends_database() as url:
        frontends = start_frontends(tmp_path, url, 3)  # the first makes the log's key
        try:
            victim_pid = sequencer_pid(url)
            victim = next(f for f in frontends if f.proc.pid == victim_pid)
            devices = _fleet(frontends)
            acked: list[int] = []
            errors: list[str] = []
            streams = [
                threading.Thread(
                    target=_stream, args=(f.target, devices[k::3], acked, errors), daemon=True
                )
                for k, f in enumerate(frontends)
            ]
            for s in streams:
                s.start()
            deadline = time.monotonic() + 30
            while sum(acked) < 60 and time.monotonic() < deadline:
                time.sleep(0.005)
            victim.kill9()  # mid-stream: batches are queued, in flight, being sequenced
            killed_at = time.monotonic()
            successor = sequencer_pid(url, not_pid=victim_pid)
            failover_s = time.monotonic() - killed_at
            for s in streams:
                s.join(60)
            assert successor in {f.proc.pid for f in frontends if f is not victim}
            assert failover_s < 5, failover_s
            # Only the killed frontend's phones saw a failure.
            assert errors in ([], ["UNAVAILABLE"]), errors
            survivors = [f for f in frontends if f is not victim]
            # Phones reconnect to any frontend and resend what they hold no receipt for.
            for i, device in enumerate(devices):
                with RelayClient(survivors[i % 2].target, plaintext=True) as client:
                    client.sync(device, batch_size=16)
                assert device.unsent() == []
            total = DEVICES * (RECORDS + 1)
            _check_store(url, devices, total)
            for f in survivors:
                assert f.terminate() == 0
            err = "".join(f.proc.stderr.read() for f in survivors if f.proc.stderr)
            assert "frontend: elected sequencer (epoch 2)" in err
            with open_store(url, readonly=True) as store:
                latest = store.latest_checkpoint()
                assert latest is not None and latest.tree_size == total
            _audit(url, tmp_path / "bundle", devices, total)
        finally:
            for f in frontends:
                if f.proc.poll() is None:
                    f.kill9()


def test_cut_off_frontend_stops_acknowledging(tmp_path: Path) -> None:
    with frontends_database() as url:
        proxy = CutProxy()
        cut_off = start_frontend(tmp_path, proxy.url(url))
        frontends = [cut_off]
        try:
            assert sequencer_pid(url) == cut_off.proc.pid  # the one to be cut sequences
            other = start_frontend(tmp_path, url)
            frontends.append(other)
            devices = _fleet(frontends)
            with RelayClient(cut_off.target, plaintext=True) as client:
                client.sync(devices[0], batch_size=10)
            proxy.cut()
            started = time.monotonic()
            d = devices[1]
            once = RetryPolicy(attempts=1)
            with (
                RelayClient(cut_off.target, plaintext=True, retry=once) as c,
                pytest.raises(RelayError) as refused,
            ):
                c.submit(d.unsent()[:5])
            assert refused.value.code == "UNAVAILABLE"
            assert time.monotonic() - started < 8
            assert d.receipts()[1:] == []  # no ack, so no receipt beyond the genesis
            # The other frontend is elected and carries on; the cut one no longer signs.
            assert sequencer_pid(url, not_pid=cut_off.proc.pid) == other.proc.pid
            with RelayClient(other.target, plaintext=True) as client:
                for device in devices[1:6]:
                    client.sync(device, batch_size=7)
                    assert device.unsent() == []
            proxy.heal()  # back on the network: a follower, acknowledging again
            deadline = time.monotonic() + 15
            while True:
                try:
                    with RelayClient(cut_off.target, plaintext=True) as client:
                        for device in devices[6:]:
                            client.sync(device, batch_size=7)
                    break
                except RelayError:
                    assert time.monotonic() < deadline, "the healed frontend never recovered"
                    time.sleep(0.2)
            total = DEVICES * (RECORDS + 1)
            with RelayClient(other.target, plaintext=True) as client:
                client.sync(devices[0], batch_size=10)
            _check_store(url, devices, total)
            for f in frontends:
                assert f.terminate() == 0
            err = cut_off.proc.stderr.read() if cut_off.proc.stderr else ""
            assert "frontend: stopped sequencing (epoch 1)" in err
            _audit(url, tmp_path / "bundle", devices, total)
        finally:
            proxy.cut()
            for f in frontends:
                if f.proc.poll() is None:
                    f.kill9()


def test_frontend_refusals(tmp_path: Path) -> None:
    """A frontend needs PostgreSQL, and the log's key; a relay serving the store alone
    and frontends exclude each other."""
    sqlite = RelayConfig(store=str(tmp_path / "x.db"), plaintext=True, frontend=True)
    with pytest.raises(InvalidInputError, match="--frontend shares one log between relays"):
        sqlite.check()
    with frontends_database() as url:
        with (
            open_store(url, exclusive=True),  # what a relay serving it alone holds
            pytest.raises(RuntimeError, match="in use by a relay serving it alone"),
        ):
            start_frontend(tmp_path, url)
        frontend = start_frontend(tmp_path, url)
        try:
            with pytest.raises(StoreError, match="in use by another relay"):
                open_store(url, exclusive=True)
            other = tmp_path / "elsewhere"
            other.mkdir()
            with pytest.raises(RuntimeError, match="no relay key, but this log exists"):
                start_frontend(other, url)
        finally:
            assert frontend.terminate() == 0


def test_fenced_sequencer_steps_down(tmp_path: Path) -> None:
    """A sequencer that still believes it holds the lock while another was elected (the
    split brain the fencing epoch is for) can't commit a round: it steps down, and once
    elected again goes on from the stored log."""
    with frontends_database() as url:
        frontend = start_frontend(tmp_path, url)
        try:
            sequencer_pid(url)
            devices = _fleet([frontend])[:2]
            with RelayClient(frontend.target, plaintext=True) as client:
                client.sync(devices[0], batch_size=10)
                with psycopg.connect(url, autocommit=True) as conn:  # "another" election
                    conn.execute("UPDATE frontend_sequencer SET epoch = epoch + 1")
                client.sync(devices[1], batch_size=10)
            assert frontend.terminate() == 0
            err = frontend.proc.stderr.read() if frontend.proc.stderr else ""
            assert (
                "frontend: stopped sequencing (epoch 1): another sequencer was elected "
                "(epoch 2)" in err
            )
            assert "frontend: elected sequencer (epoch 3)" in err
            total = DEVICES + 2 * RECORDS
            with open_store(url, readonly=True) as store:
                assert store.tree_size() == total
            # Only two devices sent their records: audit those two with their receipts.
            result = export_bundle(url, tmp_path / "bundle")
            assert (result.records, result.left_out) == (total, 0)
            receipts = receipts_table(r for d in devices for r in d.receipts())
            report = audit_bundle(tmp_path / "bundle", receipts=[receipts])
            assert report.clean
            assert {v.code for v in report.receipts} == {"RECEIPT_OK"}
        finally:
            if frontend.proc.poll() is None:
                frontend.kill9()


def test_resend_to_another_frontend_while_still_queued(tmp_path: Path) -> None:
    """A phone whose ack is slow resends its batch to another frontend while the records
    are stored but not sequenced yet (the sequencer is held up): both frontends answer
    once they are sequenced, with the same positions and receipts, the second as
    duplicates."""
    with frontends_database() as url:
        a = start_frontend(tmp_path, url)
        frontends = [a]
        try:
            sequencer_pid(url)
            b = start_frontend(tmp_path, url)
            frontends.append(b)
            device = _fleet(frontends)[0]
            batch = device.unsent()[:5]
            answers: dict[str, object] = {}

            def send(name: str, target: str) -> None:
                with RelayClient(target, plaintext=True) as client:
                    try:
                        answers[name] = client.submit(batch)
                    except RelayError as exc:
                        answers[name] = exc

            with psycopg.connect(url) as hold:  # the sequencer's next round waits on this
                hold.execute("SELECT epoch FROM frontend_sequencer FOR UPDATE")
                first = threading.Thread(target=send, args=("a", a.target))
                first.start()
                with psycopg.connect(url, autocommit=True) as look:
                    deadline = time.monotonic() + 20
                    while look.execute("SELECT count(*) FROM frontend_queue").fetchone() != (5,):
                        assert time.monotonic() < deadline, "a never queued the batch"
                        time.sleep(0.02)  # queued by a, not sequenced
                second = threading.Thread(target=send, args=("b", b.target))
                second.start()
                time.sleep(0.5)
                assert answers == {}  # nobody acknowledges what is not sequenced
                hold.rollback()
            first.join(30)
            second.join(30)
            acks_a, acks_b = answers["a"], answers["b"]
            assert isinstance(acks_a, list) and isinstance(acks_b, list), answers
            assert [x.duplicate for x in acks_a] == [False] * 5
            assert [x.duplicate for x in acks_b] == [True] * 5
            same = [(x.log_index, x.received_ms, x.receipt_sig) for x in acks_a]
            assert [(x.log_index, x.received_ms, x.receipt_sig) for x in acks_b] == same
            assert len({x.log_index for x in acks_a}) == 5
            with open_store(url, readonly=True) as store:
                assert store.tree_size() == DEVICES + 5
        finally:
            for f in frontends:
                if f.proc.poll() is None:
                    f.kill9()


def test_frozen_sequencer_is_evicted(tmp_path: Path) -> None:
    """A sequencer frozen with SIGSTOP holds the lock but stops renewing its lease: the
    other frontend ends its session and takes over; woken up, the old one finds its
    lock gone, stops sequencing and serves as a follower. The log stays one log."""
    flags = ("--sequencer-lease", "2")
    with frontends_database() as url:
        a = start_frontend(tmp_path, url, *flags)
        frontends = [a]
        try:
            sequencer_pid(url)
            b = start_frontend(tmp_path, url, *flags)
            frontends.append(b)
            devices = _fleet(frontends)[:3]
            with RelayClient(b.target, plaintext=True) as client:
                client.sync(devices[0], batch_size=10)
            os.kill(a.proc.pid, signal.SIGSTOP)
            try:
                assert sequencer_pid(url, not_pid=a.proc.pid) == b.proc.pid
                with RelayClient(b.target, plaintext=True) as client:
                    client.sync(devices[1], batch_size=10)
            finally:
                os.kill(a.proc.pid, signal.SIGCONT)
            deadline = time.monotonic() + 20
            while True:  # a, awake, rejoins as a follower
                try:
                    with RelayClient(a.target, plaintext=True) as client:
                        client.sync(devices[2], batch_size=10)
                    break
                except RelayError:
                    assert time.monotonic() < deadline, "the woken frontend never recovered"
                    time.sleep(0.2)
            assert sequencer_pid(url) == b.proc.pid
            for f in frontends:
                assert f.terminate() == 0
            err_a = a.proc.stderr.read() if a.proc.stderr else ""
            err_b = b.proc.stderr.read() if b.proc.stderr else ""
            assert "frontend: stopped sequencing (epoch 1)" in err_a
            assert "has not renewed its lease" in err_b
            total = DEVICES + 3 * RECORDS
            result = export_bundle(url, tmp_path / "bundle")
            assert (result.records, result.left_out) == (total, 0)
            receipts = receipts_table(r for d in devices for r in d.receipts())
            report = audit_bundle(tmp_path / "bundle", receipts=[receipts])
            assert report.clean
            assert len(report.receipts) == 3 * (RECORDS + 1)
            assert {v.code for v in report.receipts} == {"RECEIPT_OK"}
        finally:
            for f in frontends:
                if f.proc.poll() is None:
                    os.kill(f.proc.pid, signal.SIGCONT)
                    f.kill9()
