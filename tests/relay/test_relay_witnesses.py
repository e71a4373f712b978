"""A relay with three real witnesses (``hashcore witness serve`` processes on loopback),
quorum 2: every checkpoint's stored note gains their cosignatures, GetCheckpoint serves
them, ingest goes on with a witness stopped, and the export audits clean under a policy
that asks for 2 of 3 (SPEC v2 2.3, 5.2 UNWITNESSED)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hashcore import Device, _core, audit_bundle
from hashcore.evidence import notes_table, receipts_table
from hashcore.relay.export import export_bundle
from hashcore.relay.keys import load_or_create_key
from hashcore.witness.pusher import WitnessEndpoint

from .conftest import ThreadRelay

ORIGIN = "relay.site-a.example/trial-witnessed"


class Witness:
    def __init__(self, tmp: Path, i: int, log_key: bytes) -> None:
        self.name = f"witness.site-{i}.example"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hashcore.cli", "witness", "serve", "--name", self.name,
             "--key-file", str(tmp / f"w{i}.key"), "--db", str(tmp / f"w{i}.db"),
             "--log", f"{ORIGIN}={log_key.hex()}", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first.startswith("hashcore witness listening on 127.0.0.1:"), first
        self.url = "http://127.0.0.1:" + first.rsplit(":", 1)[1].strip()
        lines = dict(self.proc.stdout.readline().strip().partition(" ")[::2] for _ in range(3))
        self.key = bytes.fromhex(lines["key"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[tuple[bytes, list[Witness]]]:
    seed, _ = load_or_create_key(tmp_path / "relay.key")
    log_key = _core.public_key_from_seed(seed)
    ws = [Witness(tmp_path, i, log_key) for i in range(3)]
    yield log_key, ws
    for w in ws:
        w.stop()


def _cosigned_by(note: bytes, ws: list[Witness]) -> list[str]:
    return [w.name for w in ws if _core.note_witness_times(note, w.name, w.key)]


def _until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_checkpoints_reach_the_quorum_and_the_export_audits_witnessed(
    relay_factory: Callable[..., ThreadRelay],
    witnesses: tuple[bytes, list[Witness]],
    tmp_path: Path,
) -> None:
    log_key, ws = witnesses
    relay = relay_factory(
        key_file=tmp_path / "relay.key",
        origin=ORIGIN,
        witnesses=tuple(WitnessEndpoint(w.url, w.name, w.key) for w in ws),
        witness_quorum=2,
    )
    op, phones = relay.client(operator=True), relay.client()
    devices = []
    for i in range(4):
        d = Device.new()
        phones.enroll(d, op.issue_token(f"P{i}")[0])
        devices.append(d)

    def day(n: int) -> int:
        for d in devices:
            d.append(b'{"day": %d}' % n)
            phones.sync(d)
        return op.create_checkpoint().tree_size

    size = day(1)
    _until(lambda: len(_cosigned_by(phones.checkpoint().note, ws)) == 3, "3 cosignatures")
    assert _core.note_verify(phones.checkpoint().note, ORIGIN, log_key)[0] == size

    ws[2].stop()  # one witness down: ingest goes on, the other two keep the quorum
    size = day(2)
    _until(lambda: phones.checkpoint().tree_size == size, "the new checkpoint")
    _until(lambda: len(_cosigned_by(phones.checkpoint().note, ws)) == 2, "2 cosignatures")
    assert _cosigned_by(phones.checkpoint().note, ws) == [ws[0].name, ws[1].name]
    for d in devices:
        phones.refresh_beacon(d)
    relay.stop()

    export_bundle(relay.config.store, tmp_path / "bundle")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "format": "hashcore-policy", "version": 2, "origin": ORIGIN, "log_key": log_key.hex(),
        "witnesses": [{"name": w.name, "key": w.key.hex()} for w in ws], "witness_quorum": 2,
        "evm": None, "max_merge_delay_ms": 86_400_000, "max_clock_skew_ms": 300_000,
    }))  # fmt: skip
    report = audit_bundle(
        tmp_path / "bundle",
        policy=policy,
        receipts=[receipts_table(r for d in devices for r in d.receipts())],
        notes=[notes_table(n for d in devices for n in d.notes())],
    )
    assert report.clean, report
    codes = [c.code for c in report.checkpoints]  # type: ignore[union-attr]
    # The final checkpoint of the stop covers the same log as day 2's: no new one.
    assert codes == ["OK", "OK"], codes


def _answers(w: Witness, status: int) -> float:
    """How many add-checkpoint requests the witness answered with ``status``."""
    with urllib.request.urlopen(w.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    prefix = f'hashcore_witness_add_checkpoint_requests_total{{status="{status}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def test_a_forked_relay_is_refused_by_the_witnesses_and_audits_unwitnessed(
    relay_factory: Callable[..., ThreadRelay],
    witnesses: tuple[bytes, list[Witness]],
    tmp_path: Path,
) -> None:
    """A second relay with the same key and origin, on a store of its own, shows the
    witnesses a smaller tree and then another root at the size they cosigned: they answer
    409 and 422 and cosign nothing of it, and its export audits UNWITNESSED under the
    policy while the honest relay's audits clean."""
    log_key, ws = witnesses
    ends = tuple(WitnessEndpoint(w.url, w.name, w.key) for w in ws)

    def run(relay: ThreadRelay, phones_n: int, records: int) -> list[Device]:
        op, phones = relay.client(operator=True), relay.client()
        devices = []
        for i in range(phones_n):
            d = Device.new()
            phones.enroll(d, op.issue_token(f"P{i}")[0])
            devices.append(d)
        for d in devices[:records]:
            d.append(b'{"day": 1}')
            phones.sync(d)
        return devices

    honest = relay_factory(
        key_file=tmp_path / "relay.key", origin=ORIGIN, witnesses=ends, witness_quorum=2
    )
    run(honest, 4, 4)
    size = honest.client(operator=True).create_checkpoint().tree_size
    assert size == 8
    _until(lambda: len(_cosigned_by(honest.client().checkpoint().note, ws)) == 3, "cosigned")
    honest.stop()

    fork_dir = tmp_path / "fork"
    fork_dir.mkdir()
    shutil.copy(tmp_path / "relay.key", fork_dir / "relay.key")  # the key, not its binding
    forked = relay_factory(
        store=str(fork_dir / "relay.db"),
        key_file=fork_dir / "relay.key",
        origin=ORIGIN,
        witnesses=ends,
        witness_quorum=2,
    )
    op = forked.client(operator=True)
    run(forked, 2, 0)
    assert op.create_checkpoint().tree_size == 2  # a smaller tree: 409 names 8, refused
    _until(lambda: all(_answers(w, 409) >= 1 for w in ws), "409 from every witness")
    run(forked, 4, 2)  # 2 + 4 genesis + 2 records: the same size, another root
    assert op.create_checkpoint().tree_size == 8
    _until(lambda: all(_answers(w, 422) >= 1 for w in ws), "422 from every witness")
    forked.stop()
    assert all(_answers(w, 200) == 1 for w in ws)  # the honest checkpoint only

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "format": "hashcore-policy", "version": 2, "origin": ORIGIN, "log_key": log_key.hex(),
        "witnesses": [{"name": w.name, "key": w.key.hex()} for w in ws], "witness_quorum": 2,
        "evm": None, "max_merge_delay_ms": 86_400_000, "max_clock_skew_ms": 300_000,
    }))  # fmt: skip
    export_bundle(honest.config.store, tmp_path / "honest")
    assert audit_bundle(tmp_path / "honest", policy=policy).clean
    export_bundle(forked.config.store, tmp_path / "forked")
    report = audit_bundle(tmp_path / "forked", policy=policy)
    assert not report.clean
    codes = [(c.tree_size, c.code) for c in report.checkpoints]  # type: ignore[union-attr]
    assert codes == [(2, "UNWITNESSED"), (8, "UNWITNESSED")], codes
