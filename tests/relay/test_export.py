"""export_bundle: a store's attested records as a SPEC v2 section 4 bundle that audits clean,
and says what it left out."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hashcore import Device as HcDevice
from hashcore import Record, _core, audit_bundle
from hashcore._core import public_key_from_seed
from hashcore.bundle.format_v2 import RECORD_SCHEMA_V2 as RECORD_SCHEMA
from hashcore.bundle.io_v2 import read_bundle_v2
from hashcore.errors import BundleError, InvalidInputError, StoreError
from hashcore.record import Kind
from hashcore.relay.export import export_bundle
from hashcore.relay.store import (
    Anchor,
    ChainHead,
    Device,
    Store,
    StoredCheckpoint,
    StoredRecord,
    open_store,
)

from . import store_fixtures
from .store_fixtures import (
    FAR_FUTURE,
)

# The backend-parametrized fixtures, registered in this module.
pg_store_url = store_fixtures.pg_store_url
store = store_fixtures.store
store_target = store_fixtures.store_target

RELAY_SEED = bytes(range(32))
LOG_ID = public_key_from_seed(RELAY_SEED)
ORIGIN = "relay.site-a.example/trial-export"
CONTRACT = "0x" + "5a" * 20


@dataclass
class Relay:
    """Just enough of a relay to fill a store with real, verifiable data."""

    store: Store
    keys: dict[bytes, bytes] = field(default_factory=dict)  # chain_id -> key in force
    links: list[bytes] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store.set_log_id(LOG_ID)
        self.store.set_meta("origin", ORIGIN.encode())

    def row(self, rec: Record) -> StoredRecord:
        received = 1_700_000_000_000 + len(self.links)
        self.leaves.append(_core.sha256_leaf_hash(_core.log_entry(rec.link, received)))
        return StoredRecord(
            len(self.links),
            rec.chain_id,
            rec.seq,
            rec.time_ms,
            rec.kind,
            rec.prev,
            rec.commit,
            rec.beacon_size,
            rec.beacon_root,
            rec.link,
            rec.signature,
            rec.salt,
            rec.payload,
            received,
        )

    def enroll(self, device: HcDevice) -> None:
        token = os.urandom(32)
        self.store.add_token(token, "participant", 0, FAR_FUTURE)
        genesis = self.row(device.records()[0])
        key = device.genesis_public_key
        self.store.enroll(
            token, 1, genesis, Device(device.chain_id, "", key, key, 0, genesis.link, 1)
        )
        self.keys[device.chain_id] = key
        self.links.append(genesis.link)

    def append(self, records: list[Record], *, checkpoint: bool = True) -> None:
        rows, heads = [], {}
        for rec in records:
            rows.append(self.row(rec))
            self.links.append(rec.link)
            if rec.kind == Kind.ROTATION:
                assert rec.payload is not None
                self.keys[rec.chain_id] = rec.payload
            heads[rec.chain_id] = ChainHead(
                rec.chain_id, rec.seq, rec.link, self.keys[rec.chain_id]
            )
        self.store.append(rows, list(heads.values()), self.checkpoint() if checkpoint else None)

    def checkpoint(self) -> StoredCheckpoint:
        size = len(self.links)
        root = _core.sha256_tree_root(self.leaves)
        return StoredCheckpoint(size, root, _core.note_sign(RELAY_SEED, ORIGIN, size, root), 1)


def fill(store: Store) -> Relay:
    """3 devices, a key rotation, 2 checkpoints (8 and 14) and 4 unattested records."""
    relay = Relay(store)
    devices = [HcDevice.new() for _ in range(3)]
    for d in devices:
        relay.enroll(d)
    relay.append(
        [devices[0].append(b'{"sleep_h": %d}' % i) for i in range(3)]
        + [
            devices[1].append(b"x" * 200),
            devices[1].append(b"y"),
        ]
    )
    relay.append(
        [devices[0].rotate_key(), devices[0].append(b"after rotation")]
        + [devices[2].append(os.urandom(50)) for _ in range(3)]
        + [devices[0].append(b"signed by the new key")]
    )
    relay.append([devices[1].append(b"late %d" % i) for i in range(4)], checkpoint=False)
    assert store.tree_size() == 18
    assert [cp.tree_size for cp in store.list_checkpoints()] == [8, 14]
    return relay


def test_export_audits_clean(store: Store, tmp_path: Path) -> None:
    fill(store)
    calls: list[tuple[int, int]] = []
    result = export_bundle(store, tmp_path / "bundle", progress=lambda d, t: calls.append((d, t)))
    assert (result.records, result.tree_size, result.left_out) == (14, 14, 4)
    assert (result.checkpoints, result.parts, result.not_final) == (2, 1, (8, 14))
    assert (result.origin, result.log_key, result.newest_checkpoint) == (ORIGIN, LOG_ID, 14)
    assert calls[-1] == (14, 14)
    report = audit_bundle(tmp_path / "bundle")
    assert report.clean, report
    assert report.counts["OK"] == 14
    assert sum(report.counts.values()) == 14
    assert [cp.code for cp in report.checkpoints] == ["OK", "OK"]
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    exported = manifest.pop("exported_ms")
    assert isinstance(exported, int) and exported > 0
    assert manifest == {
        "format": "hashcore-bundle",
        "version": 2,
        "origin": ORIGIN,
        "log_key": LOG_ID.hex(),
    }
    part = pq.read_table(tmp_path / "bundle" / "records" / "part-00000.parquet")
    assert part.schema.remove_metadata() == RECORD_SCHEMA
    assert part.column("log_index").to_pylist() == list(range(14))


def test_export_in_parts_with_an_erasure_and_an_anchor(store: Store, tmp_path: Path) -> None:
    fill(store)
    store.erase(4, 10, "participant request")
    tx = os.urandom(32)
    store.set_anchor(8, Anchor(tx, 77, 31337, CONTRACT, True, 5))
    # By default: the whole log up to the newest checkpoint, final anchor or not.
    result = export_bundle(store, tmp_path / "b", part_rows=4)
    assert (result.parts, result.records, result.checkpoints, result.left_out) == (4, 14, 2, 4)
    assert result.not_final == (14,)
    bundle = read_bundle_v2(tmp_path / "b")
    assert bundle.checkpoints.column("tx_hash").to_pylist() == [tx, None]
    assert bundle.checkpoints.column("block_number").to_pylist() == [77, None]
    report = audit_bundle(tmp_path / "b")
    assert report.clean, report
    assert (report.counts["OK"], report.counts["OK_REDACTED"]) == (13, 1)

    # Only what has a final anchor, on request.
    final = export_bundle(store, tmp_path / "final", part_rows=4, final_only=True)
    assert (final.parts, final.records, final.checkpoints, final.left_out) == (2, 8, 1, 10)
    assert (final.not_final, final.newest_checkpoint) == ((), 14)
    files = sorted((tmp_path / "final" / "records").iterdir())
    assert [pq.read_metadata(f).num_rows for f in files] == [4, 4]
    report = audit_bundle(tmp_path / "final")
    assert report.clean, report
    assert (report.counts["OK"], report.counts["OK_REDACTED"]) == (7, 1)

    # As of a named checkpoint.
    as_of = export_bundle(store, tmp_path / "as-of", as_of=8)
    assert (as_of.records, as_of.checkpoints, as_of.not_final) == (8, 1, ())
    with pytest.raises(
        InvalidInputError,
        match=r"^--as-of 9: the store has no checkpoint of "
        r"that size \(newest: 8, 14\)$",
    ):
        export_bundle(store, tmp_path / "none", as_of=9)


def test_final_only_needs_a_final_anchor(store: Store, tmp_path: Path) -> None:
    fill(store)
    store.set_anchor(14, Anchor(os.urandom(32), None, 31337, CONTRACT, False, 5))
    with pytest.raises(InvalidInputError, match="no checkpoint of this store has a final anchor"):
        export_bundle(store, tmp_path / "b", final_only=True)
    result = export_bundle(store, tmp_path / "b")
    assert (result.records, result.checkpoints, result.not_final) == (14, 2, (8, 14))


def test_export_leaves_out_records_after_the_last_checkpoint(store: Store, tmp_path: Path) -> None:
    relay = fill(store)
    assert export_bundle(store, tmp_path / "one").left_out == 4
    store.add_checkpoint(relay.checkpoint())  # now everything is attested
    result = export_bundle(store, tmp_path / "two", part_rows=5)
    assert (result.records, result.left_out, result.checkpoints) == (18, 0, 3)
    assert audit_bundle(tmp_path / "two").clean


def test_export_from_a_path_or_url_while_the_store_is_open(
    store_target: str, tmp_path: Path
) -> None:
    with open_store(store_target) as writer:
        fill(writer)
        result = export_bundle(store_target, tmp_path / "bundle")
        assert result.records == 14
        writer.erase(3, 1, "still writable")
    assert audit_bundle(tmp_path / "bundle").clean


def test_export_without_checkpoints(store: Store, tmp_path: Path) -> None:
    relay = Relay(store)
    relay.enroll(HcDevice.new())
    result = export_bundle(store, tmp_path / "b")
    assert (result.records, result.left_out, result.parts, result.checkpoints) == (0, 1, 1, 0)
    report = audit_bundle(tmp_path / "b")
    assert report.clean and report.records == 0


def test_export_refuses_a_non_empty_directory(store: Store, tmp_path: Path) -> None:
    fill(store)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="not an empty directory"):
        export_bundle(store, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    assert export_bundle(store, out).records == 14  # an empty directory is fine
    assert sorted(p.name for p in out.parent.iterdir() if "relay.db" not in p.name) == ["out"]


def test_failed_export_leaves_nothing(store: Store, tmp_path: Path) -> None:
    fill(store)

    def boom(done: int, total: int) -> None:
        raise RuntimeError("disk on fire")

    exports = tmp_path / "exports"
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_bundle(store, exports / "bundle", progress=boom)
    assert list(exports.iterdir()) == []


def test_export_needs_a_bound_store_and_sane_arguments(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "b"
    with pytest.raises(StoreError, match=r"no log key or origin"):
        export_bundle(store, out)
    with pytest.raises(InvalidInputError, match="part_rows"):
        export_bundle(store, out, part_rows=0)
    with pytest.raises(InvalidInputError, match="exclude each other"):
        export_bundle(store, out, as_of=3, final_only=True)
    assert not out.exists()
