"""hashcore.device: the device SDK (SPEC section 1) and its crash-safe state file."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from hashcore import _core
from hashcore.device import STATE_FORMAT, Device
from hashcore.errors import DeviceError, InvalidInputError
from hashcore.record import ZERO_LINK, Kind

T0 = 1_795_392_000_000


def _clock(start: int = T0, step: int = 1000) -> Callable[[], int]:
    ticks: Iterator[int] = iter(range(start, 2**62, step))
    return lambda: next(ticks)


def _state(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps(state))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Device, Path]:
    """A device with genesis, two data records, a rotation and one more data record."""
    path = tmp_path / "device.json"
    dev = Device.new(path, clock=_clock())
    dev.append(b'{"night":1}')
    dev.append(b'{"night":2}')
    dev.rotate_key()
    dev.append(b'{"night":3}')
    return dev, path


def test_genesis() -> None:
    dev = Device.new(clock=_clock())
    [g] = dev.records()
    pk = dev.public_key
    assert dev.genesis_public_key == pk
    assert dev.chain_id == _core.chain_id_for_key(pk)
    assert (g.chain_id, g.seq, g.time_ms, g.kind, g.prev) == (
        dev.chain_id,
        0,
        T0,
        Kind.GENESIS,
        ZERO_LINK,
    )
    assert g.payload == pk
    assert g.salt is not None
    assert len(g.salt) == 16
    assert g.commit == _core.commitment(g.salt, pk)
    assert g.link == _core.v2_link_of_header(g.header)
    assert (g.beacon_size, g.beacon_root) == (0, bytes(32))
    assert g.verify(pk) is True
    assert (dev.seq, dev.head, dev.path, dev.sent_through) == (1, g, None, -1)


def test_append_chains_and_signs() -> None:
    dev = Device.new(clock=_clock())
    r1 = dev.append(b"slept 7 h")
    r2 = dev.append(bytearray(b""))
    assert (r1.seq, r1.kind, r1.time_ms, r1.payload) == (1, Kind.DATA, T0 + 1000, b"slept 7 h")
    assert (r2.seq, r2.time_ms, r2.payload) == (2, T0 + 2000, b"")
    assert r1.prev == dev.records()[0].link
    assert r2.prev == r1.link
    assert r1.salt != r2.salt  # fresh salt per record
    assert r1.verify(dev.public_key) is True
    assert r2.verify(dev.public_key) is True
    assert dev.seq == 3
    assert dev.records() == [dev.records()[0], r1, r2]


def test_append_rejects_non_bytes() -> None:
    dev = Device.new(clock=_clock())
    with pytest.raises(InvalidInputError, match=r"^payload must be bytes, got str$"):
        dev.append("slept 7 h")  # type: ignore[arg-type]
    assert len(dev) == 1


def test_rotation_signed_by_old_key() -> None:
    dev = Device.new(clock=_clock())
    old = dev.public_key
    rot = dev.rotate_key()
    new = dev.public_key
    assert new != old
    assert (rot.kind, rot.seq, rot.payload) == (Kind.ROTATION, 1, new)
    assert _core.check_public_key(new) == "valid"
    assert rot.verify(old) is True
    assert rot.verify(new) is False
    after = dev.append(b"x")
    assert after.verify(new) is True
    assert after.verify(old) is False
    # The chain keeps the name its genesis key gave it.
    assert dev.genesis_public_key == old
    assert after.chain_id == dev.chain_id == _core.chain_id_for_key(old)


def test_save_load_round_trip(saved: tuple[Device, Path]) -> None:
    dev, path = saved
    loaded = Device.load(path, clock=_clock(T0 + 10_000))
    assert loaded.records() == dev.records()
    assert len(loaded) == 5
    assert loaded.public_key == dev.public_key
    assert loaded.genesis_public_key == dev.genesis_public_key
    assert loaded.chain_id == dev.chain_id
    assert loaded.path == path
    nxt = loaded.append(b'{"night":4}')
    assert (nxt.seq, nxt.prev, nxt.time_ms) == (5, dev.head.link, T0 + 10_000)
    assert nxt.verify(dev.public_key) is True
    # The append was saved automatically.
    assert Device.load(path).records() == [*dev.records(), nxt]


def test_state_file_contents_and_mode(saved: tuple[Device, Path]) -> None:
    dev, path = saved
    state = _state(path)
    assert sorted(state) == [
        "chain_id",
        "format",
        "genesis_public_key",
        "log",
        "notes",
        "receipts",
        "records",
        "secret_seed",
        "sent_through",
        "version",
    ]
    assert (state["format"], state["version"], state["sent_through"]) == (STATE_FORMAT, 2, -1)
    assert (state["log"], state["receipts"], state["notes"]) == (None, [], [])
    assert state["chain_id"] == dev.chain_id.hex()
    assert state["genesis_public_key"] == dev.genesis_public_key.hex()
    seed = bytes.fromhex(state["secret_seed"])
    assert bytes(nacl.signing.SigningKey(seed).verify_key) == dev.public_key
    assert state["records"] == [r.to_dict() for r in dev.records()]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Nothing but the state file is left in the directory (no temp files).
    assert [p.name for p in path.parent.iterdir()] == ["device.json"]


def test_save_to_new_path(tmp_path: Path) -> None:
    dev = Device.new(clock=_clock())
    dev.append(b"a")
    with pytest.raises(InvalidInputError, match="needs a path"):
        dev.save()
    target = tmp_path / "state.json"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        assert dev.save(target) == target
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert dev.path == target
    dev.append(b"b")  # now saved automatically
    assert Device.load(target).records() == dev.records()


def test_failed_save_changes_nothing(
    saved: tuple[Device, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    dev, path = saved
    before_disk = path.read_bytes()
    before = dev.records()
    key = dev.public_key

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        dev.append(b"lost")
    with pytest.raises(OSError, match="No space left"):
        dev.rotate_key()
    monkeypatch.undo()
    # Memory never runs ahead of disk, and no temp file is left behind.
    assert path.read_bytes() == before_disk
    assert dev.records() == before
    assert dev.public_key == key
    assert [p.name for p in path.parent.iterdir()] == ["device.json"]
    assert dev.append(b"ok").seq == 5


def test_new_refuses_existing_file(saved: tuple[Device, Path]) -> None:
    _, path = saved
    before = path.read_bytes()
    with pytest.raises(DeviceError, match="already exists; not overwriting"):
        Device.new(path)
    assert path.read_bytes() == before


def test_load_missing(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"nope\.json: device state file does not exist$"):
        Device.load(tmp_path / "nope.json")


def test_load_not_json(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b"\x00{garbage")
    with pytest.raises(DeviceError, match="device state is not valid JSON"):
        Device.load(path)


def _tamper(saved: tuple[Device, Path], change: Callable[[dict[str, Any]], None]) -> str:
    _, path = saved
    original = path.read_bytes()
    state = _state(path)
    change(state)
    _write_state(path, state)
    with pytest.raises(DeviceError) as err:
        Device.load(path)
    path.write_bytes(original)  # so one test can try several edits, one at a time
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    return message[len(f"{path}: ") :]


def test_load_wrong_format(saved: tuple[Device, Path]) -> None:
    msg = _tamper(saved, lambda s: s.update(format="something-else"))
    assert msg == "format is 'something-else', expected 'hashcore-device-state'"


def test_load_wrong_version(saved: tuple[Device, Path]) -> None:
    assert _tamper(saved, lambda s: s.update(version=1)) == "version is 1, expected 2"


def test_load_not_an_object(saved: tuple[Device, Path]) -> None:
    _, path = saved
    path.write_text("[1, 2]")
    with pytest.raises(DeviceError, match=r"device state must be a JSON object$"):
        Device.load(path)


def test_load_tampered_payload(saved: tuple[Device, Path]) -> None:
    def edit(s: dict[str, Any]) -> None:
        s["records"][2]["payload"] = b'{"night":9}'.hex()

    assert _tamper(saved, edit) == (
        "record 2 (seq 2): does not verify (link, commitment or signature under the key "
        "in force is wrong)"
    )


def test_load_missing_record(saved: tuple[Device, Path]) -> None:
    msg = _tamper(saved, lambda s: s["records"].pop(1))
    assert msg == "record 1 (seq 2): expected seq 1; the chain must be seq 0, 1, 2, ..."


def test_load_record_signed_by_wrong_key(saved: tuple[Device, Path]) -> None:
    # Re-sign record 4 (after the rotation) with a stranger's key: link stays valid.
    stranger = nacl.signing.SigningKey.generate()

    def edit(s: dict[str, Any]) -> None:
        link = bytes.fromhex(s["records"][4]["link"])
        s["records"][4]["signature"] = stranger.sign(link).signature.hex()

    assert _tamper(saved, edit).startswith("record 4 (seq 4): does not verify")


def test_load_wrong_secret(saved: tuple[Device, Path]) -> None:
    msg = _tamper(saved, lambda s: s.update(secret_seed="11" * 32))
    assert msg == "secret_seed does not match the public key in force after the last record"


def test_load_old_secret_after_rotation(saved: tuple[Device, Path]) -> None:
    # Keeping the genesis key after a rotation is inconsistent state, not a valid device.
    dev, path = saved
    state = _state(path)
    loaded_before = Device.load(path)
    assert loaded_before.public_key != dev.genesis_public_key
    state["records"] = state["records"][:3]  # cut before the rotation
    _write_state(path, state)
    with pytest.raises(DeviceError, match="secret_seed does not match"):
        Device.load(path)


def test_load_bad_fields(saved: tuple[Device, Path]) -> None:
    assert _tamper(saved, lambda s: s.update(chain_id="00" * 16)) == (
        "chain_id is not derived from genesis_public_key"
    )
    assert _tamper(saved, lambda s: s.pop("secret_seed")) == (
        "field 'secret_seed' is missing or not a string"
    )
    assert _tamper(saved, lambda s: s.update(genesis_public_key="ab")) == (
        "field 'genesis_public_key' must be 32 bytes, got 1"
    )
    assert _tamper(saved, lambda s: s.update(sent_through=9)) == (
        "sent_through must be an integer in -1..4"
    )


def test_load_bad_record_field(saved: tuple[Device, Path]) -> None:
    def edit(s: dict[str, Any]) -> None:
        s["records"][3]["link"] = "00"

    assert _tamper(saved, edit) == "record 3: link must be 32 bytes, got 1"


def test_load_empty_chain(saved: tuple[Device, Path]) -> None:
    msg = _tamper(saved, lambda s: s.update(records=[]))
    assert msg == "the chain has no records (a device always has its genesis)"


def test_clock_must_return_int() -> None:
    with pytest.raises(InvalidInputError, match=r"^clock must return int milliseconds, got 1\.5$"):
        Device.new(clock=lambda: 1.5)  # type: ignore[arg-type,return-value]


def test_unwritable_path(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "device.json"
    with pytest.raises(DeviceError, match=r"device\.json: cannot write device state: "):
        Device.new(target)
    dev = Device.new()
    with pytest.raises(DeviceError, match=r"device\.json: cannot write device state: "):
        dev.save(target)
    assert dev.path is None
    assert not target.parent.exists()
