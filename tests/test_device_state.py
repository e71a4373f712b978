"""The device state file written from cached fragments (hashcore.device_state): byte for
byte what ``json.dumps(state, indent=1)`` gives, after every kind of change, and each
record, receipt and note encoded once however long the chain grows (O(1) amortised per
record, where re-encoding everything on every save was O(n) per record, O(n^2) a chain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hashcore import Device, _core
from hashcore.device_trust import DeviceReceipt, LogPin
from hashcore.record import Record

ORIGIN = "relay.site-a.example/trial-state"
LOG_SEED = bytes(range(32))
LOG_KEY = _core.public_key_from_seed(LOG_SEED)


def _canonical(path: Path) -> bytes:
    """The file as ``json.dumps(..., indent=1)`` would write its content."""
    return json.dumps(json.loads(path.read_text()), indent=1).encode() + b"\n"


def _ack(device: Device, seq: int, leaves: list[bytes]) -> None:
    rec = device.records()[seq]
    entry = _core.log_entry(rec.link, 1_800_000_000_000 + seq)
    index = len(leaves)
    leaves.append(_core.sha256_leaf_hash(entry))
    sig = _core.receipt_sign(LOG_SEED, index, entry)
    device.accept_acks([(seq, index, 1_800_000_000_000 + seq, sig)])


def test_the_file_is_exactly_json_dumps_indent_1_after_every_change(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    device = Device.new(path)
    assert path.read_bytes() == _canonical(path)
    device.pin_log(LogPin(ORIGIN, LOG_KEY))
    assert path.read_bytes() == _canonical(path)
    leaves: list[bytes] = []
    for i in range(4):
        device.append(b'{"night": %d, "note": "line\\nbreak \\u00e9"}' % i)
        assert path.read_bytes() == _canonical(path)
    device.rotate_key()
    for seq in range(len(device)):
        _ack(device, seq, leaves)
        assert path.read_bytes() == _canonical(path)
    device.accept_checkpoint(
        _core.note_sign(LOG_SEED, ORIGIN, 3, _core.sha256_tree_root(leaves[:3]))
    )
    assert path.read_bytes() == _canonical(path)
    device.mark_sent(device.head.seq)
    assert path.read_bytes() == _canonical(path)
    state = json.loads(path.read_text())
    assert [r["seq"] for r in state["records"]] == list(range(6))
    assert [r["seq"] for r in state["receipts"]] == list(range(6))
    assert len(state["notes"]) == 1 and state["log"]["origin"] == ORIGIN
    loaded = Device.load(path)
    assert loaded.records() == device.records() and loaded.receipts() == device.receipts()
    assert loaded.notes() == device.notes() and loaded.sent_through == 5
    loaded.append(b"after a restart")
    assert path.read_bytes() == _canonical(path)
    assert Device.load(path).records() == loaded.records()


def test_each_record_and_receipt_is_encoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"records": 0, "receipts": 0}
    record_to_dict, receipt_to_dict = Record.to_dict, DeviceReceipt.to_dict

    def count_record(self: Record) -> dict[str, object]:
        calls["records"] += 1
        return record_to_dict(self)

    def count_receipt(self: DeviceReceipt) -> dict[str, object]:
        calls["receipts"] += 1
        return receipt_to_dict(self)

    monkeypatch.setattr(Record, "to_dict", count_record)
    monkeypatch.setattr(DeviceReceipt, "to_dict", count_receipt)
    device = Device.new(tmp_path / "device.json")
    device.pin_log(LogPin(ORIGIN, LOG_KEY))
    leaves: list[bytes] = []
    n = 120
    for i in range(n):
        device.append(b"entry %d" % i)
        _ack(device, i, leaves)
    _ack(device, n, leaves)
    # 2n + 3 saves; re-encoding the state each time would be ~n^2 / 2 = 7,200 each.
    assert calls == {"records": n + 1, "receipts": n + 1}
    assert device.sent_through == n and len(device.receipts()) == n + 1


def test_a_failed_save_of_an_acknowledgement_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "device.json"
    device = Device.new(path)
    device.pin_log(LogPin(ORIGIN, LOG_KEY))
    device.append(b"a")
    leaves: list[bytes] = []
    _ack(device, 0, leaves)
    before = path.read_bytes()

    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", full)
    with pytest.raises(OSError, match="No space left"):
        _ack(device, 1, leaves)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert device.sent_through == 0 and len(device.receipts()) == 1
    # The same acknowledgement again, now saved: counted once, as if the first never was.
    entry = _core.log_entry(device.records()[1].link, 1_800_000_000_001)
    device.accept_acks([(1, 1, 1_800_000_000_001, _core.receipt_sign(LOG_SEED, 1, entry))])
    assert device.sent_through == 1 and len(device.receipts()) == 2
    assert path.read_bytes() == _canonical(path)
