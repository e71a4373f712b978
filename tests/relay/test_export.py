"""export_bundle: a store's attested records as a SPEC section 3 bundle that audits clean."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hashcore import Checkpoint, Record, audit_bundle, merkle, read_bundle
from hashcore import Device as HcDevice
from hashcore._core import public_key_from_seed
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
from hashcore.schema import RECORD_SCHEMA

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
CONTRACT = "0x" + "5a" * 20


@dataclass
class Relay:
    """Just enough of a relay to fill a store with real, verifiable data."""

    store: Store
    keys: dict[bytes, bytes] = field(default_factory=dict)  # chain_id -> key in force
    links: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store.set_log_id(LOG_ID)

    def row(self, rec: Record) -> StoredRecord:
        return StoredRecord(
            len(self.links),
            rec.chain_id,
            rec.seq,
            rec.time_ms,
            rec.kind,
            rec.prev,
            rec.commit,
            rec.link,
            rec.signature,
            rec.salt,
            rec.payload,
            1_700_000_000_000,
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
        cp = Checkpoint.sign(RELAY_SEED, size, merkle.root(self.links))
        return StoredCheckpoint(size, cp.root, cp.signature, 1)


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
    assert (result.checkpoints, result.parts, result.evm) == (2, 1, None)
    assert calls[-1] == (14, 14)
    report = audit_bundle(tmp_path / "bundle", log_id=LOG_ID)
    assert report.clean, report
    assert report.records == 14
    assert report.counts["OK"] == 14
    assert sum(report.counts.values()) == 14
    assert [cp.code for cp in report.checkpoints] == ["OK", "OK"]
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest == {
        "format": "hashcore-bundle",
        "version": 1,
        "log_id": LOG_ID.hex(),
        "evm": None,
    }
    part = pq.read_table(tmp_path / "bundle" / "records" / "part-00000.parquet")
    assert part.schema.remove_metadata() == RECORD_SCHEMA
    assert part.column("log_index").to_pylist() == list(range(14))


def test_export_in_parts_with_an_erasure_and_an_anchor(store: Store, tmp_path: Path) -> None:
    fill(store)
    store.erase(4, 10, "participant request")
    tx = os.urandom(32)
    store.set_anchor(8, Anchor(tx, 77, 31337, CONTRACT, True, 5))
    # With a final anchor, only anchored checkpoints go out (an unanchored one would be
    # NOT_ANCHORED for an auditor who checks the chain), and the records they cover.
    result = export_bundle(store, tmp_path / "b", part_rows=4, confirmations=3)
    assert (result.parts, result.records, result.checkpoints, result.left_out) == (2, 8, 1, 10)
    assert result.evm == {"chain_id": 31337, "contract": CONTRACT, "confirmations": 3}
    bundle = read_bundle(tmp_path / "b")
    assert bundle.record_files == [f"records/part-0000{i}.parquet" for i in range(2)]
    assert [pq.read_metadata(tmp_path / "b" / f).num_rows for f in bundle.record_files] == [4, 4]
    assert bundle.evm == result.evm
    assert bundle.checkpoints.column("tx_hash").to_pylist() == [tx]
    assert bundle.checkpoints.column("block_number").to_pylist() == [77]
    report = audit_bundle(tmp_path / "b", log_id=LOG_ID)
    assert report.clean, report
    assert (report.counts["OK"], report.counts["OK_REDACTED"]) == (7, 1)

    # Everything signed, anchored or not, on request.
    every = export_bundle(store, tmp_path / "all", part_rows=4, anchored_only=False)
    assert (every.parts, every.records, every.checkpoints) == (4, 14, 2)
    bundle = read_bundle(tmp_path / "all")
    assert [pq.read_metadata(tmp_path / "all" / f).num_rows for f in bundle.record_files] == [
        4,
        4,
        4,
        2,
    ]
    assert bundle.checkpoints.column("tx_hash").to_pylist() == [tx, None]
    assert bundle.checkpoints.column("block_number").to_pylist() == [77, None]
    report = audit_bundle(tmp_path / "all", log_id=LOG_ID)
    assert report.clean, report
    assert (report.counts["OK"], report.counts["OK_REDACTED"]) == (13, 1)


def test_export_ignores_pending_anchors(store: Store, tmp_path: Path) -> None:
    fill(store)
    store.set_anchor(14, Anchor(os.urandom(32), None, 31337, CONTRACT, False, 5))
    result = export_bundle(store, tmp_path / "b")
    assert (result.records, result.checkpoints) == (14, 2)
    assert result.evm == {"chain_id": 31337, "contract": CONTRACT, "confirmations": 1}


def test_export_leaves_out_records_after_the_last_checkpoint(store: Store, tmp_path: Path) -> None:
    relay = fill(store)
    assert export_bundle(store, tmp_path / "one").left_out == 4
    store.add_checkpoint(relay.checkpoint())  # now everything is attested
    result = export_bundle(store, tmp_path / "two", part_rows=5)
    assert (result.records, result.left_out, result.checkpoints) == (18, 0, 3)
    assert audit_bundle(tmp_path / "two", log_id=LOG_ID).clean


def test_export_from_a_path_or_url_while_the_store_is_open(
    store_target: str, tmp_path: Path
) -> None:
    with open_store(store_target) as writer:
        fill(writer)
        result = export_bundle(store_target, tmp_path / "bundle")
        assert result.records == 14
        writer.erase(3, 1, "still writable")
    assert audit_bundle(tmp_path / "bundle", log_id=LOG_ID).clean


def test_export_without_checkpoints(store: Store, tmp_path: Path) -> None:
    relay = Relay(store)
    relay.enroll(HcDevice.new())
    result = export_bundle(store, tmp_path / "b")
    assert (result.records, result.left_out, result.parts, result.checkpoints) == (0, 1, 1, 0)
    report = audit_bundle(tmp_path / "b", log_id=LOG_ID)
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
    with pytest.raises(StoreError, match="no log_id"):
        export_bundle(store, out)
    with pytest.raises(InvalidInputError, match="part_rows"):
        export_bundle(store, out, part_rows=0)
    with pytest.raises(InvalidInputError, match="confirmations"):
        export_bundle(store, out, confirmations=-1)
    assert not out.exists()
