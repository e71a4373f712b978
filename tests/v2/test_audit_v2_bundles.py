"""SPEC v2 section 5 through the Python API and the CLI: every bundle of
tests/vectors/chain.json written as a real Parquet bundle directory (manifest, records,
checkpoints, receipts, notes; its policy file when it has one) and audited by
``hashcore.audit_bundle`` and by ``hashcore audit``, compared with ``expected`` key by key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import hashcore
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hashcore.audit import AuditReportV2
from hashcore.bundle import read_bundle_v2
from hashcore.bundle.format_v2 import CHECKPOINT_SCHEMA_V2, RECEIPT_SCHEMA, RECORD_SCHEMA_V2
from hashcore.cli import main

from .chain_bundles import (
    as_expected,
    chain_bundles,
    expected_subset,
    rows_table,
    write_chain_bundle,
)

CASES = chain_bundles()
BY_NAME = {c["case"]: c for c in CASES}
#: Audited through the console script in a subprocess (each start imports pyarrow: a
#: sample; every case goes through the same ``main`` in-process below).
SUBPROCESS_CASES = (
    "clean",
    "clean_without_policy",
    "backdated_record",
    "truncate_tail_withheld",
    "split_view_beacon",
    "junk_evidence_notes",
    "rogue_relay_key",
    "edge_deadline_inclusive",
)
#: The JSON keys of a v2 report: v1's, then the ones v2 adds.
V1_KEYS = {
    "clean",
    "records",
    "counts",
    "failures",
    "checkpoints",
    "missing_log_positions",
    "chains",
    "anchors_checked",
}
V2_KEYS = {
    "receipts",
    "evidence_notes",
    "time_findings",
    "anchors",
    "manifest_origin_matches",
    "manifest_log_key_matches",
    "log_identity_source",
}


def test_there_are_59_bundles() -> None:
    assert len(CASES) == 59
    assert len(BY_NAME) == 59


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_audit_bundle_agrees_with_expected(case: dict[str, Any], tmp_path: Path) -> None:
    bundle, policy = write_chain_bundle(case, tmp_path)
    report = hashcore.audit_bundle(bundle, policy=policy)
    assert isinstance(report, AuditReportV2)
    assert as_expected(report, case) == expected_subset(case)
    strict = hashcore.audit_bundle(bundle, policy=policy, strict_time=True)
    assert isinstance(strict, AuditReportV2)
    assert strict.clean is case["expected"]["clean_with_strict_time"]
    assert report.clean is case["expected"]["clean"]


def _cli_args(bundle: Path, policy: Path | None, out: Path, *extra: str) -> list[str]:
    args = ["audit", str(bundle), "--json", str(out), *extra]
    return args + (["--policy", str(policy)] if policy is not None else [])


def _check_json(report: dict[str, Any], case: dict[str, Any]) -> None:
    """The ``--json`` report against ``expected``: every verdict, finding and flag."""
    want = case["expected"]
    assert set(report) == V1_KEYS | V2_KEYS
    records = case["records"]
    verdicts = [v["verdict"] for v in want["record_verdicts"]]
    assert report["records"] == len(records)
    assert {k: v for k, v in report["counts"].items() if v} == {
        code: verdicts.count(code) for code in set(verdicts)
    }
    failing = sorted(
        (r["log_index"], r["chain_id"], r["seq"], v)
        for r, v in zip(records, verdicts, strict=True)
        if v not in ("OK", "OK_REDACTED")
    )
    got = sorted((f["log_index"], f["chain_id"], f["seq"], f["code"]) for f in report["failures"])
    assert got == failing
    assert [(c["tree_size"], c["root"], c["code"]) for c in report["checkpoints"]] == [
        (c["tree_size"], c["root"], c["verdict"]) for c in want["checkpoint_verdicts"]
    ]
    assert [(r["log_index"], r["chain_id"], r["seq"], r["code"]) for r in report["receipts"]] == [
        (r["log_index"], r["chain_id"], r["seq"], v["verdict"])
        for r, v in zip(case["receipts"], want["receipt_verdicts"], strict=True)
    ]
    assert report["evidence_notes"] == [
        {"tree_size": n["tree_size"], "code": n["verdict"]} for n in want["note_verdicts"]
    ]
    by_index = {r["log_index"]: r for r in records}
    assert report["time_findings"] == [
        {
            "code": t["code"],
            "log_index": t["log_index"],
            "chain_id": by_index[t["log_index"]]["chain_id"],
            "seq": by_index[t["log_index"]]["seq"],
            "time_ms": t["time_ms"],
            "lower": t["lower"],
            "upper": t["upper"],
            "upper_witnessed": t["upper_witnessed"],
        }
        for t in want["time_findings"]
    ]
    assert report["missing_log_positions"] == want["missing_log_positions"]
    assert report["clean"] is want["clean"]
    assert report["manifest_origin_matches"] is want["manifest_origin_matches"]
    assert report["manifest_log_key_matches"] is want["manifest_log_key_matches"]
    assert report["log_identity_source"] == want["log_id_source"]
    assert report["anchors"] == [] and report["anchors_checked"] is False


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_cli_agrees_with_expected(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, policy = write_chain_bundle(case, tmp_path)
    out = tmp_path / "report.json"
    code = main(_cli_args(bundle, policy, out))
    assert code == (0 if case["expected"]["clean"] else 1)
    _check_json(json.loads(out.read_text()), case)
    strict = main(_cli_args(bundle, policy, tmp_path / "strict.json", "--strict-time"))
    assert strict == (0 if case["expected"]["clean_with_strict_time"] else 1)
    assert capsys.readouterr().err == ""


def _script() -> str:
    found = Path(sys.executable).parent / "hashcore"
    if not found.exists():
        pytest.fail(f"the hashcore console script is not installed beside {sys.executable}")
    return str(found)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_console_script_agrees_with_expected(name: str, tmp_path: Path) -> None:
    case = BY_NAME[name]
    bundle, policy = write_chain_bundle(case, tmp_path)
    out = tmp_path / "report.json"
    run = subprocess.run(
        [_script(), *_cli_args(bundle, policy, out)], capture_output=True, text=True, check=False
    )
    assert run.returncode == (0 if case["expected"]["clean"] else 1), run.stderr
    assert run.stderr == ""
    assert run.stdout.rstrip().endswith(
        "audit: CLEAN" if case["expected"]["clean"] else "audit: NOT CLEAN"
    )
    _check_json(json.loads(out.read_text()), case)


def _split_evidence(case: dict[str, Any], tmp_path: Path) -> tuple[Path, Path | None, Path, Path]:
    """The case's bundle without receipts.parquet / notes.parquet, and those two files
    elsewhere, as a participant or a site would hand them in."""
    bundle, policy = write_chain_bundle(case, tmp_path)
    receipts = tmp_path / "phone-receipts.parquet"
    notes = tmp_path / "phone-notes.parquet"
    (bundle / "receipts.parquet").rename(receipts)
    (bundle / "notes.parquet").rename(notes)
    return bundle, policy, receipts, notes


@pytest.mark.parametrize(
    "name", ["clean", "truncate_tail_withheld", "split_view_beacon", "receipt_conflict"]
)
def test_evidence_handed_in_counts_as_the_bundles_own(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = BY_NAME[name]
    bundle, policy, receipts, notes = _split_evidence(case, tmp_path)
    report = hashcore.audit_bundle(bundle, policy=policy, receipts=[receipts], notes=[notes])
    assert isinstance(report, AuditReportV2)
    assert as_expected(report, case) == expected_subset(case)
    out = tmp_path / "r.json"
    code = main(_cli_args(bundle, policy, out, "--receipts", str(receipts), "--notes", str(notes)))
    assert code == (0 if case["expected"]["clean"] else 1)
    _check_json(json.loads(out.read_text()), case)


def test_without_the_evidence_a_withheld_tail_goes_unseen(tmp_path: Path) -> None:
    # The relay cut the log's tail: only the phones' receipts show it (SPEC 5.2).
    case = BY_NAME["truncate_tail_withheld"]
    bundle, policy, _, _ = _split_evidence(case, tmp_path)
    report = hashcore.audit_bundle(bundle, policy=policy)
    assert isinstance(report, AuditReportV2)
    assert report.receipts == [] and report.clean is True


def test_receipts_handed_in_twice_each_get_a_verdict(tmp_path: Path) -> None:
    case = BY_NAME["clean"]
    bundle, policy = write_chain_bundle(case, tmp_path)
    report = hashcore.audit_bundle(bundle, policy=policy, receipts=[bundle / "receipts.parquet"])
    assert isinstance(report, AuditReportV2)
    assert [r.code for r in report.receipts] == ["RECEIPT_OK"] * (2 * len(case["receipts"]))
    assert report.clean is True


def test_as_of_names_the_size_an_older_export_covers(tmp_path: Path) -> None:
    # A mirror's note of size 18 beside a bundle of 15: INCOMPLETE (SPEC 5.4) unless the
    # audit is "as of" 15 (decision 5: the note keeps its code, the audit is clean).
    case = BY_NAME["truncate_tail_mirror_note"]
    bundle, policy = write_chain_bundle(case, tmp_path)
    plain = hashcore.audit_bundle(bundle, policy=policy)
    assert isinstance(plain, AuditReportV2)
    assert plain.incomplete is True and plain.clean is False
    old = hashcore.audit_bundle(bundle, policy=policy, as_of=15)
    assert isinstance(old, AuditReportV2)
    assert old.incomplete is False and old.clean is True
    assert (plain.as_of_covered, old.as_of_covered) == (None, True)
    assert old.exported_ms == case["manifest"]["exported_ms"]
    assert [n.code for n in old.evidence_notes] == ["OK", "OK", "INCOMPLETE"]
    later = hashcore.audit_bundle(bundle, policy=policy, as_of=16)
    assert isinstance(later, AuditReportV2)
    assert later.incomplete is True and later.clean is False
    assert later.as_of_covered is False
    assert main(["audit", str(bundle), "--policy", str(policy), "--as-of", "15"]) == 0
    assert main(["audit", str(bundle), "--policy", str(policy), "--as-of", "16"]) == 1


def _lenient_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """The rows as another writer may write them: byte columns as binary (not fixed
    size), salt/payload large_binary, integers of other widths, everything nullable."""
    table = rows_table(rows, schema)
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_fixed_size_binary(t):
            t = pa.binary()
        if f.name in ("salt", "payload"):
            t = pa.large_binary()
        if f.name == "kind":
            t = pa.int32()
        fields.append(pa.field(f.name, t, nullable=True))
    return table.cast(pa.schema(fields))


@pytest.mark.parametrize("name", ["clean", "forged_beacon", "device_fork", "junk_evidence_notes"])
def test_reader_accepts_what_spec_4_says(name: str, tmp_path: Path) -> None:
    case = BY_NAME[name]
    root = tmp_path / "bundle"
    (root / "records").mkdir(parents=True)
    records = _lenient_table(case["records"], RECORD_SCHEMA_V2)
    # records.parquet and records/*.parquet both exist: both are read (SPEC 4).
    pq.write_table(records.slice(0, 7), root / "records.parquet")
    pq.write_table(records.slice(7, 5), root / "records" / "part-0.parquet")
    pq.write_table(records.slice(12), root / "records" / "part-1.parquet")
    checkpoints = _lenient_table(case["checkpoints"], CHECKPOINT_SCHEMA_V2).drop_columns(
        ["tx_hash", "block_number"]
    )
    # A string-typed note column is read as its UTF-8 bytes (decision 13).
    checkpoints = checkpoints.set_column(
        2, "note", pa.array([c["note"] for c in case["checkpoints"]], pa.string())
    )
    pq.write_table(checkpoints, root / "checkpoints.parquet")
    pq.write_table(_lenient_table(case["receipts"], RECEIPT_SCHEMA), root / "receipts.parquet")
    pq.write_table(
        pa.table({"note": pa.array(case["notes"], pa.large_string())}), root / "notes.parquet"
    )
    (root / "manifest.json").write_text(json.dumps(case["manifest"]))
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(case["policy"]))

    read = read_bundle_v2(root)
    assert read.record_files == [
        "records.parquet",
        "records/part-0.parquet",
        "records/part-1.parquet",
    ]
    assert read.records.num_rows == len(case["records"])
    assert len(read.schema_notes) == 2
    assert all("read as UTF-8 bytes" in n for n in read.schema_notes)
    report = hashcore.audit_bundle(root, policy=policy)
    assert isinstance(report, AuditReportV2)
    assert as_expected(report, case) == expected_subset(case)


def test_written_bundle_has_the_spec_types(tmp_path: Path) -> None:
    bundle, _ = write_chain_bundle(BY_NAME["clean"], tmp_path)
    assert pq.read_schema(bundle / "records.parquet").remove_metadata() == RECORD_SCHEMA_V2
    assert pq.read_schema(bundle / "checkpoints.parquet").remove_metadata() == CHECKPOINT_SCHEMA_V2
    assert pq.read_schema(bundle / "receipts.parquet").remove_metadata() == RECEIPT_SCHEMA
    assert str(pq.read_schema(bundle / "notes.parquet").field("note").type) == "binary"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest == BY_NAME["clean"]["manifest"]


@pytest.mark.parametrize("name", ["clean", "delete_record", "device_fork", "erase_payload"])
def test_report_chains(name: str, tmp_path: Path) -> None:
    case = BY_NAME[name]
    bundle, policy = write_chain_bundle(case, tmp_path)
    report = hashcore.audit_bundle(bundle, policy=policy)
    assert isinstance(report, AuditReportV2)
    want: dict[str, dict[str, Any]] = {}
    for r, v in zip(case["records"], case["expected"]["record_verdicts"], strict=True):
        c = want.setdefault(r["chain_id"], {"records": 0, "ok": 0, "seqs": []})
        c["records"] += 1
        c["ok"] += v["verdict"] in ("OK", "OK_REDACTED")
        c["seqs"].append(r["seq"])
    assert report.to_json()["chains"] == [
        {
            "chain_id": cid,
            "records": c["records"],
            "max_seq": max(c["seqs"]),
            "ok": c["ok"],
            "failures": c["records"] - c["ok"],
            "complete": c["ok"] == c["records"] and sorted(c["seqs"]) == list(range(c["records"])),
        }
        for cid, c in sorted(want.items())
    ]
