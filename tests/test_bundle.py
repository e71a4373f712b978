"""hashcore.bundle, hashcore.checkpoint and hashcore.sim.sample: SPEC section 3 bundles."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import load_vector
from hashcore import _core
from hashcore.audit import audit_bundle
from hashcore.bundle import Bundle, read_bundle, write_bundle
from hashcore.checkpoint import Checkpoint
from hashcore.device import Device
from hashcore.errors import (
    BundleError,
    ColumnError,
    ColumnTypeError,
    HashcoreError,
    InvalidInputError,
)
from hashcore.record import Record
from hashcore.schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA
from hashcore.sim.sample_v1 import SampleInfoV1 as SampleInfo
from hashcore.sim.sample_v1 import make_sample_v1 as make_sample

DEVICES, PER_DEVICE = 3, 7
TOTAL = DEVICES * PER_DEVICE
ZERO_COUNTS = dict.fromkeys(_core.VERDICT_CODES, 0)
RELAY_SEED = bytes(range(32))
RELAY_KEY = _core.public_key_from_seed(RELAY_SEED)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("sample") / "bundle"
    return make_sample(
        path, devices=DEVICES, records=PER_DEVICE, seed=42, checkpoint_every=5, rotate_every=3
    )


@pytest.fixture(scope="module")
def bundle(sample: SampleInfo) -> Bundle:
    return read_bundle(sample.path)


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------- make_sample


def test_sample_info(sample: SampleInfo) -> None:
    assert (sample.devices, sample.records_per_device, sample.records) == (3, 7, 21)
    assert sample.rotations == 6  # seq 3 and 6 of each device
    assert sample.checkpoints == 5  # 5, 10, 15, 20 and 21
    assert sample.seed == 42
    assert sample.log_id == _core.public_key_from_seed(sample.log_seed)
    assert sample.summary().startswith("wrote 21 records (3 devices x 7, 6 key rotations)")


def test_sample_audits_clean(sample: SampleInfo) -> None:
    report = audit_bundle(sample.path)
    assert report.clean is True
    assert report.records == TOTAL
    assert report.counts == {**ZERO_COUNTS, "OK": TOTAL}
    assert [(c.tree_size, c.code) for c in report.checkpoints] == [
        (5, "OK"),
        (10, "OK"),
        (15, "OK"),
        (20, "OK"),
        (21, "OK"),
    ]
    assert report.failures == []
    assert report.missing_log_positions == []
    assert (report.log_id_source, report.manifest_log_id_mismatch) == ("bundle", False)


def test_sample_shape(bundle: Bundle) -> None:
    t = bundle.records
    assert t.column("log_index").to_pylist() == list(range(TOTAL))
    kinds = t.column("kind").to_pylist()
    assert (kinds.count(0), kinds.count(1), kinds.count(2)) == (3, 12, 6)
    received = t.column("received_ms").to_pylist()
    assert received == sorted(received)  # the relay logs in the order it received
    by_chain: dict[bytes, list[int]] = {}
    for cid, seq in zip(t.column("chain_id").to_pylist(), t.column("seq").to_pylist(), strict=True):
        by_chain.setdefault(cid, []).append(seq)
    assert sorted(by_chain.values()) == [list(range(PER_DEVICE))] * DEVICES
    # Interleaved: the log is not simply one device after another.
    chains = t.column("chain_id").to_pylist()
    assert sum(a != b for a, b in itertools.pairwise(chains)) > DEVICES - 1
    payload = json.loads(t.filter(pc.equal(t.column("kind"), 1)).column("payload")[0].as_py())
    assert set(payload) >= {"participant", "date", "total_sleep_time_min", "sleep_efficiency"}


def test_sample_is_reproducible(sample: SampleInfo, bundle: Bundle, tmp_path: Path) -> None:
    again = make_sample(
        tmp_path / "again",
        devices=DEVICES,
        records=PER_DEVICE,
        seed=42,
        checkpoint_every=5,
        rotate_every=3,
    )
    other = read_bundle(again.path)
    assert other.records.equals(bundle.records)
    assert other.checkpoints.equals(bundle.checkpoints)
    assert again.log_id == sample.log_id
    different = make_sample(tmp_path / "other", devices=DEVICES, records=PER_DEVICE, seed=43)
    assert not read_bundle(different.path).records.equals(bundle.records)


def test_sample_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^devices must be >= 1, got 0$"):
        make_sample(tmp_path / "x", devices=0, records=1)
    with pytest.raises(InvalidInputError, match=r"^records must be 1\.\.2000000, got 0$"):
        make_sample(tmp_path / "x", devices=1, records=0)
    with pytest.raises(InvalidInputError, match=r"^checkpoint_every must be >= 1, got 0$"):
        make_sample(tmp_path / "x", devices=1, records=1, checkpoint_every=0)
    assert not (tmp_path / "x").exists()


def test_sample_genesis_only_and_parts(tmp_path: Path) -> None:
    info = make_sample(tmp_path / "b", devices=4, records=1, seed=1, part_rows=3)
    b = read_bundle(info.path)
    assert b.record_files == ["records/part-00000.parquet", "records/part-00001.parquet"]
    report = audit_bundle(info.path)
    assert report.counts == {**ZERO_COUNTS, "OK": 4}
    assert [(c.tree_size, c.code) for c in report.checkpoints] == [(4, "OK")]


# --------------------------------------------------------------------------- write / read


def test_manifest_exact(sample: SampleInfo, bundle: Bundle) -> None:
    manifest = json.loads((sample.path / "manifest.json").read_text())
    assert manifest == {
        "format": "hashcore-bundle",
        "version": 1,
        "log_id": sample.log_id.hex(),
        "evm": None,
    }
    assert (bundle.manifest, bundle.log_id, bundle.evm) == (manifest, sample.log_id, None)
    assert sorted(p.name for p in sample.path.iterdir()) == [
        "checkpoints.parquet",
        "manifest.json",
        "records.parquet",
    ]


def test_exact_arrow_types(sample: SampleInfo, bundle: Bundle) -> None:
    assert bundle.records.schema.remove_metadata() == RECORD_SCHEMA
    assert bundle.checkpoints.schema.remove_metadata() == CHECKPOINT_SCHEMA
    # Required (non-null) columns are REQUIRED in the Parquet file itself.
    pschema = pq.ParquetFile(sample.path / "records.parquet").schema
    repetition = {pschema.column(i).name: pschema.column(i).max_definition_level for i in range(12)}
    assert repetition == {
        f.name: (1 if f.name in ("salt", "payload") else 0) for f in RECORD_SCHEMA
    }


def test_round_trip(bundle: Bundle, tmp_path: Path) -> None:
    evm = {"chain_id": 11155111, "contract": "0x" + "ab" * 20, "confirmations": 12}
    out = write_bundle(
        tmp_path / "rt", bundle.records, bundle.checkpoints, log_id=bundle.log_id, evm=evm
    )
    again = read_bundle(out)
    assert again.records.equals(bundle.records)
    assert again.checkpoints.equals(bundle.checkpoints)
    assert again.records.schema.remove_metadata() == RECORD_SCHEMA
    assert (again.log_id, again.evm) == (bundle.log_id, evm)
    assert again.record_files == ["records.parquet"]


def test_round_trip_parts(bundle: Bundle, tmp_path: Path) -> None:
    out = write_bundle(
        tmp_path / "parts", bundle.records, bundle.checkpoints, log_id=bundle.log_id, part_rows=4
    )
    again = read_bundle(out)
    assert again.record_files == [f"records/part-0000{i}.parquet" for i in range(6)]
    assert [pq.read_metadata(out / f).num_rows for f in again.record_files] == [4, 4, 4, 4, 4, 1]
    assert not (out / "records.parquet").exists()
    assert again.records.equals(bundle.records)
    assert audit_bundle(out).counts == {**ZERO_COUNTS, "OK": TOTAL}


def test_records_file_and_parts_both_read(bundle: Bundle, tmp_path: Path) -> None:
    out = write_bundle(
        tmp_path / "b", bundle.records.slice(0, 15), bundle.checkpoints, log_id=bundle.log_id
    )
    (out / "records").mkdir()
    pq.write_table(bundle.records.slice(15, 6), out / "records" / "part-00000.parquet")
    again = read_bundle(out)
    assert again.record_files == ["records.parquet", "records/part-00000.parquet"]
    assert again.records.equals(bundle.records)
    assert audit_bundle(out).clean is True


def test_parts_with_different_types_are_combined(bundle: Bundle, tmp_path: Path) -> None:
    out = _copy_bundle_with_parts(bundle, tmp_path)
    # A second writer stored chain_id as plain binary and seq as int64.
    tail = bundle.records.slice(15, 6)
    tail = tail.set_column(1, "chain_id", tail.column("chain_id").cast(pa.binary()))
    tail = tail.set_column(2, "seq", tail.column("seq").cast(pa.int64()))
    pq.write_table(tail, out / "records" / "part-00001.parquet")
    again = read_bundle(out)
    assert again.records.num_rows == TOTAL
    assert again.records.schema.field("chain_id").type == pa.large_binary()
    assert again.records.schema.field("seq").type == pa.uint64()
    assert audit_bundle(out).counts == {**ZERO_COUNTS, "OK": TOTAL}


def _copy_bundle_with_parts(bundle: Bundle, tmp_path: Path) -> Path:
    out = write_bundle(
        tmp_path / "b",
        bundle.records.slice(0, 15),
        bundle.checkpoints,
        log_id=bundle.log_id,
        part_rows=15,
    )
    return out


def test_write_from_records_and_checkpoints(tmp_path: Path) -> None:
    """Device records (protocol v2, the live path) + a relay's checkpoint notes make a
    clean v2 bundle."""
    from hashcore.bundle.format_v2 import RECORD_SCHEMA_V2
    from hashcore.bundle.io_v2 import write_bundle_v2

    devs = [Device.new(clock=lambda: 1_800_000_000_000) for _ in range(2)]
    for dev in devs:
        dev.append(b"a")
        dev.rotate_key()
        dev.append(b"b")
    logged: list[Record] = []
    for seq in range(4):  # round robin, like two phones syncing
        for dev in devs:
            logged.append(dev.records()[seq].with_log_position(len(logged), 1_800_000_000_500))
    leaves = [_core.sha256_leaf_hash(_core.log_entry(r.link, 1_800_000_000_500)) for r in logged]
    origin = "relay.test.example/bundle"
    roots = {n: _core.sha256_tree_root(leaves[:n]) for n in (3, len(leaves))}
    cps = pa.table(
        {
            "tree_size": pa.array(list(roots), pa.uint64()),
            "root": pa.array(list(roots.values()), pa.binary(32)),
            "note": [_core.note_sign(RELAY_SEED, origin, n, r) for n, r in roots.items()],
        }
    )
    records = pa.Table.from_pylist(
        [{f: getattr(r, f) for f in RECORD_SCHEMA_V2.names} for r in logged],
        schema=RECORD_SCHEMA_V2,
    )
    out = write_bundle_v2(tmp_path / "b", records, cps, origin=origin, log_key=RELAY_KEY)
    report = audit_bundle(out)
    assert report.counts["OK"] == 8
    assert [(c.tree_size, c.code) for c in report.checkpoints] == [(3, "OK"), (8, "OK")]
    assert report.clean


def test_write_checkpoints_from_mappings(bundle: Bundle, tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = bundle.checkpoints.to_pylist()
    rows[0]["tx_hash"], rows[0]["block_number"] = b"\x07" * 32, 123
    out = write_bundle(tmp_path / "b", bundle.records, rows, log_id=bundle.log_id)
    cps = read_bundle(out).checkpoints
    assert cps.column("tx_hash").to_pylist() == [b"\x07" * 32, None, None, None, None]
    assert cps.column("block_number").to_pylist() == [123, None, None, None, None]


def test_write_without_checkpoints(bundle: Bundle, tmp_path: Path) -> None:
    out = write_bundle(tmp_path / "b", bundle.records, None, log_id=bundle.log_id)
    b = read_bundle(out)
    assert b.checkpoints.num_rows == 0
    assert b.checkpoints.schema.remove_metadata() == CHECKPOINT_SCHEMA
    report = audit_bundle(out)
    assert report.counts == {**ZERO_COUNTS, "NOT_LOGGED": TOTAL}
    assert report.clean is False


def test_write_refuses_non_empty_dir(bundle: Bundle, sample: SampleInfo) -> None:
    before = sorted(p.name for p in sample.path.iterdir())
    with pytest.raises(BundleError, match="exists and is not an empty directory"):
        write_bundle(sample.path, bundle.records, bundle.checkpoints, log_id=bundle.log_id)
    assert sorted(p.name for p in sample.path.iterdir()) == before


def test_write_column_errors(bundle: Bundle, tmp_path: Path) -> None:
    recs = bundle.records
    with pytest.raises(ColumnError, match=r"^records table has no column 'seq'$"):
        write_bundle(tmp_path / "a", recs.drop_columns(["seq"]), None, log_id=bundle.log_id)
    nulls = recs.set_column(2, "seq", pa.array([None] * TOTAL, pa.uint64()))
    with pytest.raises(ColumnError, match=r"^records column 'seq' has 21 null value\(s\)"):
        write_bundle(tmp_path / "a", nulls, None, log_id=bundle.log_id)
    short = recs.set_column(1, "chain_id", pa.array([b"short"] * TOTAL, pa.binary()))
    with pytest.raises(ColumnError, match=r"^records column 'chain_id' cannot be written as"):
        write_bundle(tmp_path / "a", short, None, log_id=bundle.log_id)
    text = recs.set_column(2, "seq", pa.array(["x"] * TOTAL))
    with pytest.raises(HashcoreError, match=r"records column 'seq'"):
        write_bundle(tmp_path / "a", text, None, log_id=bundle.log_id)
    extra = recs.append_column("note", pa.array(["x"] * TOTAL))
    with pytest.raises(ColumnError, match=r"column\(s\) not in SPEC section 3: \['note'\]"):
        write_bundle(tmp_path / "a", extra, None, log_id=bundle.log_id)
    unlogged = [Record.from_dict({**r, "log_index": None}) for r in _dicts(recs)]
    with pytest.raises(
        ColumnError, match=r"^record 0 \(chain [0-9a-f]{32} seq 0\) has no log_index"
    ):
        write_bundle(tmp_path / "a", unlogged, None, log_id=bundle.log_id)
    with pytest.raises(ColumnTypeError, match="record 0 is a str, not a Record"):
        write_bundle(tmp_path / "a", ["x"], None, log_id=bundle.log_id)
    with pytest.raises(InvalidInputError, match="log_id must be 32 bytes, got 3"):
        write_bundle(tmp_path / "a", recs, None, log_id=b"abc")
    with pytest.raises(InvalidInputError, match=r"^evm\.contract must be '0x' and 40 hex digits"):
        bad_evm = {"chain_id": 1, "contract": "0x12", "confirmations": 1}
        write_bundle(tmp_path / "a", recs, None, log_id=bundle.log_id, evm=bad_evm)
    with pytest.raises(InvalidInputError, match=r"^part_rows must be a positive integer, got 0$"):
        write_bundle(tmp_path / "a", recs, None, log_id=bundle.log_id, part_rows=0)
    assert not (tmp_path / "a").exists()


def _dicts(table: pa.Table) -> list[dict[str, Any]]:
    return [
        {k: (v.hex() if isinstance(v, bytes) else v) for k, v in row.items()}
        for row in table.to_pylist()
    ]


# --------------------------------------------------------------------------- unreadable


def _set_manifest(path: Path, **changes: Any) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "hashcore-bundl"}, "format is 'hashcore-bundl', expected 'hashcore-bundle'"),
        ({"version": 2}, "version is 2, expected 1"),
        ({"version": True}, "version is True, expected 1"),
        ({"version": "1"}, "version is '1', expected 1"),
        ({"log_id": "00" * 31}, "log_id must be 64 hex digits, got '" + "00" * 31 + "'"),
        ({"evm": {"chain_id": 1}}, "evm.confirmations must be a non-negative integer, got None"),
    ],
)
def test_bad_manifest(
    sample: SampleInfo, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = _copy(sample.path, tmp_path)
    _set_manifest(path, **changes)
    with pytest.raises(BundleError) as err:
        read_bundle(path)
    assert str(err.value) == f"{path / 'manifest.json'}: {message}"


def test_missing_manifest(sample: SampleInfo, tmp_path: Path) -> None:
    path = _copy(sample.path, tmp_path)
    (path / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest\.json: missing; not a hashcore bundle$"):
        read_bundle(path)


def test_manifest_not_json(sample: SampleInfo, tmp_path: Path) -> None:
    path = _copy(sample.path, tmp_path)
    (path / "manifest.json").write_text("{format: hashcore-bundle")
    with pytest.raises(BundleError, match=r"manifest\.json: not valid JSON: "):
        read_bundle(path)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"nothing: not a directory \(a bundle is a directory\)$"):
        read_bundle(tmp_path / "nothing")


@pytest.mark.parametrize("name", ["records.parquet", "checkpoints.parquet"])
def test_corrupt_parquet_names_the_file(sample: SampleInfo, tmp_path: Path, name: str) -> None:
    path = _copy(sample.path, tmp_path)
    (path / name).write_bytes(b"\x00garbage, not parquet\xff" * 10)
    with pytest.raises(BundleError) as err:
        read_bundle(path)
    assert str(err.value).startswith(f"{path / name}: unreadable Parquet: ")


def test_truncated_part_names_the_file(bundle: Bundle, tmp_path: Path) -> None:
    out = write_bundle(
        tmp_path / "b", bundle.records, bundle.checkpoints, log_id=bundle.log_id, part_rows=10
    )
    part = out / "records" / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-20])
    with pytest.raises(BundleError) as err:
        read_bundle(out)
    assert str(err.value).startswith(f"{part}: unreadable Parquet: ")


def test_missing_files(sample: SampleInfo, tmp_path: Path) -> None:
    path = _copy(sample.path, tmp_path)
    (path / "checkpoints.parquet").unlink()
    with pytest.raises(BundleError) as err:
        read_bundle(path)
    assert str(err.value) == f"{path / 'checkpoints.parquet'}: missing"
    (path / "records.parquet").unlink()
    with pytest.raises(BundleError, match=r"no records\.parquet and no records/\*\.parquet$"):
        read_bundle(path)


def test_missing_column_names_the_file(bundle: Bundle, sample: SampleInfo, tmp_path: Path) -> None:
    path = _copy(sample.path, tmp_path)
    pq.write_table(bundle.records.drop_columns(["commit"]), path / "records.parquet")
    with pytest.raises(BundleError) as err:
        read_bundle(path)
    assert str(err.value) == f"{path / 'records.parquet'}: no column 'commit' (SPEC section 3)"


# --------------------------------------------------------------------------- tampering


def test_one_byte_payload_edit_is_one_bad_commit(bundle: Bundle, tmp_path: Path) -> None:
    recs = bundle.records
    row = next(i for i, k in enumerate(recs.column("kind").to_pylist()) if k == 1 and i >= 10)
    payloads = recs.column("payload").to_pylist()
    edited = bytearray(payloads[row])
    edited[5] ^= 0x01
    payloads[row] = bytes(edited)
    tampered = recs.set_column(10, "payload", pa.array(payloads, pa.binary()))
    out = write_bundle(tmp_path / "t", tampered, bundle.checkpoints, log_id=bundle.log_id)

    report = audit_bundle(out)
    assert report.clean is False
    assert report.counts == {**ZERO_COUNTS, "OK": TOTAL - 1, "BAD_COMMIT": 1}
    assert [(f.log_index, f.chain_id, f.seq, f.code) for f in report.failures] == [
        (
            recs.column("log_index")[row].as_py(),
            recs.column("chain_id")[row].as_py(),
            recs.column("seq")[row].as_py(),
            "BAD_COMMIT",
        )
    ]
    assert report.failures[0].log_index == row  # the sample's rows are in log order
    assert [c.code for c in report.checkpoints] == ["OK"] * 5  # links untouched


def test_erased_payload_is_ok_redacted(bundle: Bundle, tmp_path: Path) -> None:
    recs = bundle.records
    rows = [i for i, k in enumerate(recs.column("kind").to_pylist()) if k == 1][:2]
    mask = np.zeros(TOTAL, dtype=bool)
    mask[rows] = True
    erase = pa.array(mask)
    for name in ("salt", "payload"):
        i = recs.column_names.index(name)
        recs = recs.set_column(
            i, name, pc.if_else(erase, pa.scalar(None, pa.binary()), recs.column(name))
        )
    out = write_bundle(tmp_path / "e", recs, bundle.checkpoints, log_id=bundle.log_id)
    report = audit_bundle(out)
    assert report.counts == {**ZERO_COUNTS, "OK": TOTAL - 2, "OK_REDACTED": 2}
    assert report.clean is True
    assert [report.verdict(r) for r in rows] == ["OK_REDACTED", "OK_REDACTED"]


def test_trusted_log_id(sample: SampleInfo) -> None:
    report = audit_bundle(sample.path, log_id=sample.log_id.hex())
    assert (report.clean, report.log_id_source, report.manifest_log_id_mismatch) == (
        True,
        "trusted",
        False,
    )
    assert report.counts == {**ZERO_COUNTS, "OK": TOTAL}


def test_manifest_log_id_differs_from_trusted(sample: SampleInfo) -> None:
    report = audit_bundle(sample.path, log_id=RELAY_KEY)
    assert (report.clean, report.log_id_source, report.manifest_log_id_mismatch) == (
        False,
        "trusted",
        True,
    )
    # The relay's checkpoints don't verify under the trusted key, so nothing is attested.
    assert [c.code for c in report.checkpoints] == ["BAD_CHECKPOINT_SIG"] * 5
    assert report.counts == {**ZERO_COUNTS, "NOT_LOGGED": TOTAL}
    assert report.to_json()["manifest_log_id_mismatch"] is True


def test_manifest_swapped_to_attacker_key_is_caught_only_with_trust(
    bundle: Bundle, sample: SampleInfo, tmp_path: Path
) -> None:
    """A relay re-signing with a new key fools a bundle-only audit, not a trusted one."""
    links = bundle.records.column("link").to_pylist()
    forged = [Checkpoint.sign(RELAY_SEED, TOTAL, _core.merkle_root(links))]
    out = write_bundle(tmp_path / "f", bundle.records, forged, log_id=RELAY_KEY)
    assert audit_bundle(out).clean is True
    assert audit_bundle(out).log_id_source == "bundle"
    trusted = audit_bundle(out, log_id=sample.log_id)
    assert (trusted.clean, trusted.manifest_log_id_mismatch) == (False, True)
    assert [c.code for c in trusted.checkpoints] == ["BAD_CHECKPOINT_SIG"]


def test_audit_bad_trusted_log_id(sample: SampleInfo) -> None:
    with pytest.raises(InvalidInputError, match="log_id must be 32 bytes, got 2"):
        audit_bundle(sample.path, log_id=b"ab")


# --------------------------------------------------------------------------- Checkpoint


def test_checkpoint_sign_verify() -> None:
    root = _core.merkle_root([bytes(32)])
    cp = Checkpoint.sign(RELAY_SEED, 1, root)
    assert cp.signature == _core.sign_checkpoint(RELAY_SEED, 1, root)
    assert cp.digest(RELAY_KEY) == _core.checkpoint_digest(RELAY_KEY, 1, root)
    assert cp.verify(RELAY_KEY) is True
    assert Checkpoint(2, root, cp.signature).verify(RELAY_KEY) is False
    assert cp.verify(_core.public_key_from_seed(bytes(32))) is False
    assert cp.verify(bytes.fromhex("01" + "00" * 31)) is False  # small-order log_id
    assert Checkpoint.from_dict(cp.to_dict()) == cp
    assert cp.to_dict() == {
        "tree_size": 1,
        "root": root.hex(),
        "signature": cp.signature.hex(),
        "tx_hash": None,
        "block_number": None,
    }


def test_checkpoint_vectors() -> None:
    d = load_vector("checkpoint.json")
    seed = bytes.fromhex(d["log_sk_seed"])
    log_id = bytes.fromhex(d["log_id"])
    verdicts = []
    for c in d["cases"]:
        cp = Checkpoint(c["tree_size"], bytes.fromhex(c["root"]), bytes.fromhex(c["signature"]))
        verdicts.append(cp.verify(log_id))
        if c["valid"]:
            assert cp.digest(log_id).hex() == c["digest"]
            assert Checkpoint.sign(seed, cp.tree_size, cp.root) == cp
    assert verdicts == [True] * 5 + [False] * 3
    assert verdicts == [c["valid"] for c in d["cases"]]


def test_checkpoint_field_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"^root must be 32 bytes, got 31$"):
        Checkpoint(1, bytes(31), bytes(64))
    with pytest.raises(InvalidInputError, match=r"^signature must be 64 bytes, got 63$"):
        Checkpoint(1, bytes(32), bytes(63))
    with pytest.raises(InvalidInputError, match=r"^tx_hash must be 32 bytes, got 1$"):
        Checkpoint(1, bytes(32), bytes(64), tx_hash=b"x")
    with pytest.raises(
        InvalidInputError, match=r"^tree_size must be in 0\.\.18446744073709551615, got -1$"
    ):
        Checkpoint(-1, bytes(32), bytes(64))
    with pytest.raises(InvalidInputError, match=r"^log_id must be 32 bytes, got 0$"):
        Checkpoint(1, bytes(32), bytes(64)).verify(b"")
