"""hashcore.sim.sample (protocol v2): synthetic bundles that audit clean under their policy
with their evidence, whose beacons name the checkpoints the phones had seen, reproducibly."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import hashcore
import pyarrow.parquet as pq
import pytest
from hashcore import _core
from hashcore.audit import AuditReportV2
from hashcore.bundle import read_bundle_v2
from hashcore.cli import main
from hashcore.errors import BundleError, InvalidInputError
from hashcore.policy import load_policy
from hashcore.sim.sample import SampleInfo, make_sample
from hashcore.sim.sample_keys import load_sample_keys
from hashcore.sim.sha256_log import Sha256Log, leaf_hash

DEVICES, PER_DEVICE, EVERY = 4, 9, 6
TOTAL = DEVICES * PER_DEVICE  # 36: checkpoints at 6, 12, ..., 36


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, written out here (not the code under test)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    root = tmp_path_factory.mktemp("sample")
    return make_sample(
        root / "bundle",
        devices=DEVICES,
        records=PER_DEVICE,
        seed=42,
        checkpoint_every=EVERY,
        rotate_every=4,
        witnesses=3,
        policy_path=root / "policy.json",
        keys_path=root / "keys.json",
    )


def test_sample_info(sample: SampleInfo) -> None:
    assert (sample.devices, sample.records_per_device, sample.records) == (4, 9, 36)
    assert sample.rotations == 8  # seq 4 and 8 of each device
    assert sample.checkpoint_sizes == [6, 12, 18, 24, 30, 36]
    assert sample.log_key == _core.public_key_from_seed(sample.log_seed)
    assert sample.origin == "sample.hashcore.example/seed-42"
    assert sample.summary().startswith(
        "wrote 36 records (4 devices x 9, 8 key rotations) and 6 checkpoints, 3 witnesses "
        "(quorum 2) to "
    )


def test_sample_audits_clean_under_its_policy(sample: SampleInfo) -> None:
    report = hashcore.audit_bundle(sample.path, policy=sample.policy_file, strict_time=True)
    assert isinstance(report, AuditReportV2)
    assert report.clean is True and report.log_identity_source == "policy"
    assert report.counts["OK"] == TOTAL
    assert [(c.tree_size, c.code) for c in report.checkpoints] == [
        (s, "OK") for s in sample.checkpoint_sizes
    ]
    assert {r.code for r in report.receipts} == {"RECEIPT_OK"} and len(report.receipts) == TOTAL
    assert {n.code for n in report.evidence_notes} == {"OK"}
    assert report.time_findings == [] and report.incomplete is False


def test_beacons_name_the_checkpoints_the_phones_saw(sample: SampleInfo) -> None:
    rows = read_bundle_v2(sample.path).records.to_pylist()
    rows.sort(key=lambda r: r["log_index"])
    leaves = [leaf_hash(_core.log_entry(r["link"], r["received_ms"])) for r in rows]
    by_chain: dict[bytes, list[dict[str, object]]] = {}
    for r in rows:
        b = r["beacon_size"]
        assert b == 0 or b in sample.checkpoint_sizes
        assert b <= r["log_index"]  # a record can't have seen a log that held it
        assert r["beacon_root"] == (_mth(leaves[:b]) if b else bytes(32))
        by_chain.setdefault(r["chain_id"], []).append(r)
    for chain in by_chain.values():
        chain.sort(key=lambda r: r["seq"])  # type: ignore[arg-type, return-value]
        beacons = [r["beacon_size"] for r in chain]
        assert beacons == sorted(beacons)  # type: ignore[type-var]  # never go back
        assert beacons[0] == 0  # a genesis has seen no checkpoint
    assert max(r["beacon_size"] for r in rows) > 0  # they do advance


def test_notes_and_policy(sample: SampleInfo) -> None:
    policy = load_policy(sample.policy_file)  # type: ignore[arg-type]
    assert (policy.origin, policy.log_key) == (sample.origin, sample.log_key)
    assert policy.witness_quorum == 2 and len(policy.witnesses) == 3
    cps = read_bundle_v2(sample.path).checkpoints.to_pylist()
    for cp in cps:
        size, root = _core.note_verify(cp["note"], sample.origin, sample.log_key)
        assert (size, root) == (cp["tree_size"], cp["root"])
        for w in policy.witnesses:
            assert len(_core.note_witness_times(cp["note"], w.name, w.key)) == 1
    notes = read_bundle_v2(sample.path).notes.column("note").to_pylist()
    assert set(notes) <= {cp["note"] for cp in cps}
    assert cps[-1]["note"] in notes  # every phone checks in after the last checkpoint
    keys = load_sample_keys(sample.keys_file)  # type: ignore[arg-type]
    assert keys.log_key == sample.log_key and len(keys.device_seeds) == DEVICES
    assert json.loads(Path(sample.policy_file).read_text()) == sample.policy  # type: ignore[arg-type]


def test_sample_is_reproducible(sample: SampleInfo, tmp_path: Path) -> None:
    again = make_sample(
        tmp_path / "again",
        devices=DEVICES,
        records=PER_DEVICE,
        seed=42,
        checkpoint_every=EVERY,
        rotate_every=4,
        witnesses=3,
    )
    a, b = read_bundle_v2(sample.path), read_bundle_v2(again.path)
    assert a.records.equals(b.records) and a.checkpoints.equals(b.checkpoints)
    assert a.receipts.equals(b.receipts) and a.notes.equals(b.notes)
    assert a.manifest.raw == b.manifest.raw
    other = make_sample(tmp_path / "other", devices=DEVICES, records=PER_DEVICE, seed=43)
    assert not read_bundle_v2(other.path).records.equals(a.records)


def test_evidence_outside_the_bundle_or_none(tmp_path: Path) -> None:
    info = make_sample(
        tmp_path / "b", devices=3, records=5, seed=1, evidence_dir=tmp_path / "phones"
    )
    bundle = read_bundle_v2(info.path)
    assert bundle.receipts.num_rows == 0 and bundle.notes.num_rows == 0
    assert info.receipts_file == tmp_path / "phones" / "receipts.parquet"
    assert pq.read_table(info.receipts_file).num_rows == 15
    report = hashcore.audit_bundle(
        info.path,
        receipts=[info.receipts_file],
        notes=[info.notes_file],  # type: ignore[list-item]
    )
    assert isinstance(report, AuditReportV2) and report.clean
    assert len(report.receipts) == 15 and report.log_identity_source == "bundle"
    bare = make_sample(tmp_path / "bare", devices=2, records=3, seed=1, evidence=False)
    assert bare.receipts_file is None
    assert not (bare.path / "receipts.parquet").exists()


def test_genesis_only_and_parts(tmp_path: Path) -> None:
    info = make_sample(tmp_path / "b", devices=4, records=1, seed=1, part_rows=3)
    b = read_bundle_v2(info.path)
    assert b.record_files == ["records/part-00000.parquet", "records/part-00001.parquet"]
    report = hashcore.audit_bundle(info.path)
    assert isinstance(report, AuditReportV2)
    assert report.counts["OK"] == 4 and report.clean
    assert [(c.tree_size, c.code) for c in report.checkpoints] == [(4, "OK")]


def test_sha256_log_matches_the_rfc_tree() -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(70)]
    for cut in ([70], [1, 69], [3, 5, 62], [8, 8, 16, 38], [7] * 10):
        log = Sha256Log()
        done = 0
        for n in cut:
            log.extend(b"".join(leaves[done : done + n]))
            done += n
            assert log.size == done
            assert log.root() == _mth(leaves[:done]) == _core.sha256_tree_root(leaves[:done])
    assert Sha256Log().root() == hashlib.sha256(b"").digest()
    with pytest.raises(ValueError):
        Sha256Log().extend(b"x")


def test_argument_errors(tmp_path: Path, sample: SampleInfo) -> None:
    with pytest.raises(InvalidInputError, match=r"^devices must be >= 1, got 0$"):
        make_sample(tmp_path / "x", devices=0, records=1)
    with pytest.raises(InvalidInputError, match=r"^records must be 1\.\.2000000, got 0$"):
        make_sample(tmp_path / "x", devices=1, records=0)
    with pytest.raises(InvalidInputError, match=r"^witness_quorum must be 0\.\.1, got 2$"):
        make_sample(tmp_path / "x", devices=1, records=1, witnesses=1, witness_quorum=2)
    with pytest.raises(InvalidInputError, match="origin must be a key name"):
        make_sample(tmp_path / "x", devices=1, records=1, origin="has space")
    assert not (tmp_path / "x").exists()
    with pytest.raises(BundleError, match="not overwriting"):
        make_sample(sample.path, devices=1, records=1)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["make-sample", str(tmp_path / "b"), "--devices", "3", "--records", "2", "--seed", "1"]
    argv += ["--witnesses", "2", "--policy", str(tmp_path / "p.json")]
    argv += ["--evidence-dir", str(tmp_path / "ev"), "--keys", str(tmp_path / "k.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1] == f"policy: {tmp_path / 'p.json'}"
    assert out[0].startswith(
        "wrote 6 records (3 devices x 2, 0 key rotations) and 1 checkpoints, 2 witnesses "
        f"(quorum 2) to {tmp_path / 'b'} in "
    )
    assert (
        main(
            [
                "audit",
                str(tmp_path / "b"),
                "--policy",
                str(tmp_path / "p.json"),
                "--receipts",
                str(tmp_path / "ev" / "receipts.parquet"),
                "--notes",
                str(tmp_path / "ev" / "notes.parquet"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["make-sample", str(tmp_path / "b"), "--devices", "1", "--records", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert main(["make-sample", str(tmp_path / "c"), "--devices", "1", "--records", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"policy: {tmp_path / 'c.policy.json'}"
    assert load_policy(tmp_path / "c.policy.json").witness_quorum == 0
    assert err == [
        f"hashcore: error: {tmp_path / 'b'}: exists and is not an empty directory; not overwriting"
    ]
    assert list(itertools.islice((tmp_path / "ev").iterdir(), 3))
