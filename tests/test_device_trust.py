"""The device's trust in its relay (SPEC v2 1.5, 2.4): receipts verified under the pinned
log key before a record counts as acknowledged, checkpoints verified (note, witness
quorum, consistency) before they become the beacon, and nothing changed when a relay's
answer fails. The relay's answers here are made with the real primitives, as a relay (an
honest one, or one that lies) would make them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hashcore import Device, _core
from hashcore.cli.main import main
from hashcore.device_trust import LogPin
from hashcore.errors import DeviceError, RelayTrustError
from hashcore.policy import Witness

ORIGIN = "relay.site-a.example/trial-trust"
LOG_SEED = bytes(range(32))
LOG_KEY = _core.public_key_from_seed(LOG_SEED)
OTHER_SEED = bytes(range(1, 33))
WITNESS_SEEDS = [bytes([9] * 32), bytes([10] * 32)]
WITNESSES = tuple(
    Witness(f"witness-{i}.example", _core.public_key_from_seed(s))
    for i, s in enumerate(WITNESS_SEEDS)
)


class Log:
    """An honest relay's log, in memory: entries, receipts, notes, proofs."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []

    def append(self, link: bytes, received_ms: int) -> tuple[int, int, int, bytes]:
        index = len(self.leaves)
        entry = _core.log_entry(link, received_ms)
        self.leaves.append(_core.sha256_leaf_hash(entry))
        return index, index, received_ms, _core.receipt_sign(LOG_SEED, index, entry)

    def note(self, size: int, seed: bytes = LOG_SEED, origin: str = ORIGIN) -> bytes:
        return _core.note_sign(seed, origin, size, _core.sha256_tree_root(self.leaves[:size]))

    def prove(self, first: int, second: int) -> tuple[bytes, bytes, list[bytes]]:
        leaves = self.leaves[:second]
        return (
            _core.sha256_tree_root(leaves[:first]),
            _core.sha256_tree_root(leaves),
            _core.sha256_consistency_proof(leaves, first),
        )


def _device(tmp_path: Path, log: Log, records: int = 3) -> Device:
    device = Device.new(tmp_path / "device.json")
    device.pin_log(LogPin(ORIGIN, LOG_KEY))
    for i in range(records):
        device.append(b"entry %d" % i)
    for rec in device.records():
        _, index, ms, sig = log.append(rec.link, 1_800_000_000_000 + rec.seq)
        device.accept_acks([(rec.seq, index, ms, sig)])
    return device


def _state(device: Device) -> str:
    assert device.path is not None
    return device.path.read_text()


def test_receipts_count_only_once_verified(tmp_path: Path) -> None:
    log = Log()
    device = _device(tmp_path, log, records=0)
    a = device.append(b"a")
    b = device.append(b"b")
    _, ia, ms_a, sig_a = log.append(a.link, 5)
    _, ib, ms_b, sig_b = log.append(b.link, 6)
    before = _state(device)
    cases = [
        ((1, ia, ms_a, sig_a[:63]), "receipt_sig must be 64 bytes, got 63"),
        ((1, ia, ms_a + 1, sig_a), "does not verify under the pinned log key"),
        ((1, ib, ms_a, sig_a), "does not verify under the pinned log key"),
        ((1, ia, ms_a, sig_b), "does not verify under the pinned log key"),
        ((7, ia, ms_a, sig_a), "the relay acknowledged seq 7, which this device never made"),
    ]
    for ack, message in cases:
        with pytest.raises(RelayTrustError, match=message):
            # A good receipt beside a bad one: the whole answer is refused.
            device.accept_acks([(2, ib, ms_b, sig_b), ack])
        assert device.sent_through == 0 and [r.seq for r in device.receipts()] == [0]
        assert [r.seq for r in device.unsent()] == [1, 2]
        assert _state(device) == before
    forged = _core.receipt_sign(OTHER_SEED, ia, _core.log_entry(a.link, ms_a))
    with pytest.raises(RelayTrustError, match=r"\(log_index 1\) does not verify under the pinned"):
        device.accept_acks([(1, ia, ms_a, forged)])
    # Out of order: seq 2's receipt alone is kept, but nothing counts past the gap.
    device.accept_acks([(2, ib, ms_b, sig_b)])
    assert (device.sent_through, [r.seq for r in device.unsent()]) == (0, [1, 2])
    device.accept_acks([(1, ia, ms_a, sig_a)])
    assert (device.sent_through, device.unsent()) == (2, [])
    assert [(r.seq, r.log_index) for r in device.receipts()] == [(0, 0), (2, 2), (1, 1)]
    again = Device.load(tmp_path / "device.json")
    assert again.receipts() == device.receipts() and again.sent_through == 2


def test_checkpoints_become_the_beacon_only_once_verified(tmp_path: Path) -> None:
    log = Log()
    device = _device(tmp_path, log)
    first = device.accept_checkpoint(log.note(2), log.prove)
    assert device.beacon == (2, first.root)
    more = device.append(b"after the first beacon")
    assert (more.beacon_size, more.beacon_root) == (2, first.root)
    log.append(more.link, 9)
    before = _state(device)
    # The relay rewrites entry 1, below the beacon the device verified.
    evil_leaves = [log.leaves[0], _core.sha256_leaf_hash(b"rewritten"), *log.leaves[2:]]
    evil_root = _core.sha256_tree_root(evil_leaves)
    other_root = _core.sha256_tree_root(evil_leaves[:2])
    cases = [
        (log.note(4, seed=OTHER_SEED), "is not a note signed by the pinned log key"),
        (log.note(4, origin="relay.other.example/x"), "is not a note signed by the pinned"),
        (b"not a note", "is not a note signed by the pinned log key"),
        (
            _core.note_sign(LOG_SEED, ORIGIN, 2, other_root),
            "the relay's checkpoint at tree_size 2 names root .* but the checkpoint of that "
            "size this device verified names .*: the relay signed two histories",
        ),
        (
            _core.note_sign(LOG_SEED, ORIGIN, 5, evil_root),
            "the relay's checkpoint at tree_size 5 is not consistent with the checkpoint at "
            "tree_size 2 this device verified",
        ),
    ]
    for note, message in cases:
        with pytest.raises(RelayTrustError, match=message):
            device.accept_checkpoint(note, log.prove)
        assert device.beacon == (2, first.root) and device.notes() == [first.note]
        assert _state(device) == before
    newer = device.accept_checkpoint(log.note(5), log.prove)
    assert device.beacon == (5, newer.root)
    # An older checkpoint, consistent, is kept as evidence but never becomes the beacon.
    device.accept_checkpoint(log.note(1), log.prove)
    assert device.beacon == (5, newer.root)
    assert device.notes() == [log.note(1), first.note, newer.note]
    assert Device.load(tmp_path / "device.json").notes() == device.notes()


def test_a_device_with_a_policy_needs_the_witness_quorum(tmp_path: Path) -> None:
    log = Log()
    device = _device(tmp_path, log)
    device.pin_log(LogPin(ORIGIN, LOG_KEY, WITNESSES, 2))
    note = log.note(4)
    once = _core.note_cosign(note, WITNESS_SEEDS[0], WITNESSES[0].name, 1_800_000_000)
    with pytest.raises(RelayTrustError, match="has 1 valid policy witness cosignature"):
        device.accept_checkpoint(once, log.prove)
    twice = _core.note_cosign(once, WITNESS_SEEDS[1], WITNESSES[1].name, 1_800_000_001)
    assert device.accept_checkpoint(twice, log.prove).tree_size == 4
    # Another relay (key or origin) is refused outright.
    for pin in (
        LogPin(ORIGIN, _core.public_key_from_seed(OTHER_SEED)),
        LogPin("x.example/y", LOG_KEY),
    ):
        with pytest.raises(RelayTrustError, match="but this device pinned"):
            device.pin_log(pin)


def test_a_device_without_a_pin_trusts_nothing(tmp_path: Path) -> None:
    device = Device.new(tmp_path / "d.json")
    with pytest.raises(RelayTrustError, match="has pinned no relay"):
        device.accept_acks([(0, 0, 0, bytes(64))])
    with pytest.raises(RelayTrustError, match="has pinned no relay"):
        device.accept_checkpoint(b"x")


def test_a_tampered_state_file_is_refused(tmp_path: Path) -> None:
    log = Log()
    device = _device(tmp_path, log)
    device.accept_checkpoint(log.note(3), log.prove)
    path = tmp_path / "device.json"
    state = json.loads(path.read_text())
    state["receipts"][1]["received_ms"] += 1
    path.write_text(json.dumps(state))
    with pytest.raises(DeviceError, match="stored the relay's receipt for seq 1"):
        Device.load(path)
    state["receipts"][1]["received_ms"] -= 1
    state["notes"][0] = state["notes"][0].replace(ORIGIN, "relay.other.example/x")
    path.write_text(json.dumps(state))
    with pytest.raises(DeviceError, match="note 0 does not verify under the pinned log"):
        Device.load(path)


def test_export_evidence_writes_the_spec_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Log()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _device(tmp_path / "a", log)
    b = _device(tmp_path / "b", log, records=1)
    a.accept_checkpoint(log.note(4), log.prove)
    b.accept_checkpoint(log.note(4), log.prove)
    b.accept_checkpoint(log.note(6), log.prove)
    out = tmp_path / "evidence"
    code = main(["device", "export-evidence", str(a.path), str(b.path), "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"wrote {out / 'receipts.parquet'} (6 receipts)")
    receipts = pq.read_table(out / "receipts.parquet")
    assert receipts.column_names == [
        "chain_id",
        "seq",
        "link",
        "log_index",
        "received_ms",
        "receipt_sig",
    ]
    assert receipts.column("log_index").to_pylist() == [0, 1, 2, 3, 4, 5]
    assert pq.read_table(out / "notes.parquet").column("note").to_pylist() == [
        log.note(4),
        log.note(6),
    ]
    code = main(["device", "export-evidence", str(tmp_path / "nope.json"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "device state file does not exist" in err


def test_a_second_different_receipt_for_a_seq_is_kept_as_evidence(tmp_path: Path) -> None:
    log = Log()
    device = _device(tmp_path, log, records=1)
    rec = device.records()[1]
    first = device.receipts()[1]
    # The same receipt again (a resent record's ack): kept once.
    device.accept_acks([(1, first.log_index, first.received_ms, first.receipt_sig)])
    assert len(device.receipts()) == 2
    # The relay signs another position for the same record: both are kept.
    _, index, ms, sig = log.append(rec.link, 77)
    device.accept_acks([(1, index, ms, sig)])
    assert [(r.seq, r.log_index) for r in device.receipts()] == [(0, 0), (1, 1), (1, 2)]
    assert Device.load(tmp_path / "device.json").receipts() == device.receipts()
