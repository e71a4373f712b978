"""The streamed audit (hashcore.audit.stream, audit_bundle) against the in-memory verify_bulk.

Every comparison is exact: the verdict and reason of every row, the failures (row, log
index, chain, seq, code, reason), the checkpoint verdicts, the missing ranges, the clean
flag, the counts and the per-chain summary; on the conformance vectors, on every
simulated fraud and on random tampered bundles, with tiny Parquet parts, batches and
partition counts so that chains straddle parts, batches and partitions.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import hashcore
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import checkpoints_table, records_table
from hashcore import _core
from hashcore.audit import audit_bundle
from hashcore.audit.stream import audit_record_files
from hashcore.audit.verify import CHAIN_SUMMARY_SCHEMA, VerifyReport
from hashcore.bundle import read_bundle
from hashcore.errors import BundleError, ColumnTypeError, InvalidInputError
from hashcore.sim.sample_v1 import SampleInfoV1 as SampleInfo
from hashcore.sim.sample_v1 import make_sample_v1 as make_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import LOG_ID, tampered_bundles
from test_properties import _table as property_table


def _write_parts(out: Path, records: pa.Table, part_rows: int) -> list[Path]:
    """``records`` as ``out/records/part-NNNNN.parquet`` of ``part_rows`` rows each, with
    the column types as they are (the vectors hold wrong-size values)."""
    parts = out / "records"
    parts.mkdir(parents=True)
    files = []
    for n, start in enumerate(range(0, max(records.num_rows, 1), part_rows)):
        file = parts / f"part-{n:05d}.parquet"
        pq.write_table(records.slice(start, part_rows), file)
        files.append(file)
    return files


def _write_bundle(
    out: Path, records: pa.Table, checkpoints: pa.Table, log_id: bytes, part_rows: int
) -> Path:
    _write_parts(out, records, part_rows)
    pq.write_table(checkpoints, out / "checkpoints.parquet")
    manifest = {"format": "hashcore-bundle", "version": 1, "log_id": log_id.hex(), "evm": None}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def _failures(report: VerifyReport) -> list[tuple[Any, ...]]:
    return [(f.row, f.log_index, f.chain_id, f.seq, f.code, f.reason) for f in report.failures]


def assert_same(streamed: VerifyReport, memory: VerifyReport) -> None:
    """Everything a report says, equal (elapsed time and thread count aside)."""
    assert streamed.records == memory.records
    assert streamed.verdict_names() == memory.verdict_names()
    assert np.array_equal(streamed.verdicts, memory.verdicts)
    assert np.array_equal(streamed.reason_codes, memory.reason_codes)
    assert _failures(streamed) == _failures(memory)
    assert [(c.row, c.tree_size, c.root, c.code) for c in streamed.checkpoints] == [
        (c.row, c.tree_size, c.root, c.code) for c in memory.checkpoints
    ]
    assert streamed.missing_log_positions == memory.missing_log_positions
    assert streamed.clean is memory.clean
    assert streamed.counts == memory.counts
    assert streamed.checkpoint_counts == memory.checkpoint_counts
    assert streamed.attested_size == memory.attested_size
    assert streamed.largest_signed_tree_size == memory.largest_signed_tree_size
    assert (streamed.log_checked, streamed.signatures_checked) == (
        memory.log_checked,
        memory.signatures_checked,
    )
    assert streamed.signatures_verified == memory.signatures_verified
    assert streamed.chains.schema == CHAIN_SUMMARY_SCHEMA
    assert streamed.chains.equals(memory.chains), (
        streamed.chains.to_pylist(),
        memory.chains.to_pylist(),
    )
    s, m = streamed.to_json(), memory.to_json()
    for key in ("elapsed_s", "log_id_source"):  # how long, and whose log_id: context
        del s[key], m[key]
    assert s == m


# --------------------------------------------------------------------------- vectors

LAYOUTS = [
    # (part_rows, batch_rows, partition_rows)
    (1_000, 65_536, 500_000),  # one part, one batch, one partition in memory
    (2, 1, 2),  # every row its own batch, ~n/2 spilled partitions
    (3, 2, 1),  # a partition per row: more partitions than chains
]


@pytest.mark.parametrize(("part_rows", "batch_rows", "partition_rows"), LAYOUTS)
def test_chain_vectors_stream_like_verify_bulk(
    chain_bundles: list[dict[str, Any]],
    tmp_path: Path,
    part_rows: int,
    batch_rows: int,
    partition_rows: int,
) -> None:
    for i, b in enumerate(chain_bundles):
        records = records_table(b["records"])
        cps = checkpoints_table(b["checkpoints"])
        log_id = bytes.fromhex(b["log_id"])
        path = _write_bundle(tmp_path / f"b{i}", records, cps, log_id, part_rows)
        spill = tmp_path / f"spill{i}"
        spill.mkdir()
        streamed = audit_bundle(
            path,
            log_id=log_id,
            batch_rows=batch_rows,
            partition_rows=partition_rows,
            spill_dir=spill,
        )
        memory = hashcore.verify_bulk(records, checkpoints=cps, log_id=log_id)
        assert_same(streamed, memory)
        assert streamed.verdict_names() == [v["verdict"] for v in b["expected"]["record_verdicts"]]
        assert list(spill.iterdir()) == [], "the spill directory is removed"


@pytest.mark.parametrize("check_signatures", [True, False])
def test_vectors_without_checkpoints_or_signatures(
    chain_bundles: list[dict[str, Any]], tmp_path: Path, check_signatures: bool
) -> None:
    for i, b in enumerate(chain_bundles):
        records = records_table(b["records"])
        files = _write_parts(tmp_path / f"b{i}", records, 2)
        streamed = audit_record_files(
            files, check_signatures=check_signatures, batch_rows=3, partition_rows=2
        )
        memory = hashcore.verify_bulk(records, check_signatures=check_signatures)
        assert_same(streamed, memory)
        assert not streamed.log_checked


# The v1 fraud corpus that streamed here went with the v1 fraud simulation (issue 10):
# the property test below still compares streaming with verify_bulk on tampered bundles.


# --------------------------------------------------------------------------- properties


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    bundle=tampered_bundles(),
    part_rows=st.integers(1, 5),
    batch_rows=st.integers(1, 4),
    partition_rows=st.integers(1, 6),
    check_signatures=st.booleans(),
    with_checkpoints=st.booleans(),
    threads=st.sampled_from([1, 2]),
)
def test_streamed_matches_verify_bulk_on_tampered_bundles(
    bundle: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    part_rows: int,
    batch_rows: int,
    partition_rows: int,
    check_signatures: bool,
    with_checkpoints: bool,
    threads: int,
) -> None:
    rows, cps = bundle
    table = property_table(copy.deepcopy(rows))
    cp_rows = [{k: (v.hex() if isinstance(v, bytes) else v) for k, v in c.items()} for c in cps]
    cp_table = checkpoints_table(cp_rows) if with_checkpoints else None
    log_id = LOG_ID if with_checkpoints else None
    with tempfile.TemporaryDirectory() as tmp:
        files = _write_parts(Path(tmp), table, part_rows)
        streamed = audit_record_files(
            files,
            checkpoints=cp_table,
            log_id=log_id,
            threads=threads,
            check_signatures=check_signatures,
            batch_rows=batch_rows,
            partition_rows=partition_rows,
            spill_dir=tmp,
        )
    memory = hashcore.verify_bulk(
        table,
        checkpoints=cp_table,
        log_id=log_id,
        threads=threads,
        check_signatures=check_signatures,
    )
    assert_same(streamed, memory)


# --------------------------------------------------------------------------- chain summary

DEVICES, PER_DEVICE, EVERY = 3, 7, 5  # 21 records; checkpoints at 5, 10, 15, 20, 21


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("small") / "bundle"
    return make_sample(
        path, devices=DEVICES, records=PER_DEVICE, seed=5, checkpoint_every=EVERY, part_rows=4
    )


def _summary(report: VerifyReport) -> dict[str, tuple[int, int | None, int, int, bool]]:
    return {
        c["chain_id"]: (c["records"], c["max_seq"], c["ok"], c["failures"], c["complete"])
        for c in report.to_json()["chains"]
    }


def test_chain_summary_of_a_clean_bundle(small: SampleInfo) -> None:
    report = audit_bundle(small.path, partition_rows=8)
    chains = report.to_json()["chains"]
    ids = sorted({c.hex() for c in read_bundle(small.path).records.column("chain_id").to_pylist()})
    assert [c["chain_id"] for c in chains] == ids  # sorted by chain_id
    assert chains[0] == {
        "chain_id": ids[0],
        "records": PER_DEVICE,
        "max_seq": PER_DEVICE - 1,
        "ok": PER_DEVICE,
        "failures": 0,
        "complete": True,
    }
    assert _summary(report) == {i: (7, 6, 7, 0, True) for i in ids}


def test_chain_summary_of_failures(small: SampleInfo, tmp_path: Path) -> None:
    b = read_bundle(small.path)
    recs = b.records
    chain_ids = recs.column("chain_id").to_pylist()
    ids = sorted({c.hex() for c in chain_ids})
    # One payload edit in the first chain (BAD_COMMIT; the log is untouched) ...
    row = next(
        i
        for i, (c, s) in enumerate(zip(chain_ids, recs.column("seq").to_pylist(), strict=True))
        if c.hex() == ids[0] and s == 3
    )
    payloads = recs.column("payload").to_pylist()
    payloads[row] = payloads[row] + b"!"
    recs = recs.set_column(10, "payload", pa.array(payloads, pa.binary()))
    # ... and the last checkpoint (21) withheld: position 20 is NOT_LOGGED.
    last = recs.column("log_index").to_pylist().index(20)
    last_chain = chain_ids[last].hex()
    cps = b.checkpoints.slice(0, b.checkpoints.num_rows - 1)
    path = _write_bundle(tmp_path / "t", recs, cps, b.log_id, part_rows=5)

    report = audit_bundle(path, batch_rows=3, partition_rows=4)
    assert_same(report, hashcore.verify_bulk(recs, checkpoints=cps, log_id=b.log_id))
    assert report.counts["BAD_COMMIT"] == 1 and report.counts["NOT_LOGGED"] == 1
    expected = {i: (7, 6, 7, 0, True) for i in ids}
    expected[ids[0]] = (7, 6, 6, 1, False)
    r, m, ok, failures, _ = expected[last_chain]
    expected[last_chain] = (r, m, ok - 1, failures + 1, False)
    assert _summary(report) == expected


def test_chain_summary_without_checkpoints(small: SampleInfo) -> None:
    """Nothing is complete unless an attesting checkpoint covers it."""
    b = read_bundle(small.path)
    files = [small.path / f for f in b.record_files]
    report = audit_record_files(files, partition_rows=5)
    assert report.clean and not report.log_checked
    assert {v[4] for v in _summary(report).values()} == {False}
    assert {v[:4] for v in _summary(report).values()} == {(7, 6, 7, 0)}
    assert_same(report, hashcore.verify_bulk(b.records))
    empty = audit_record_files(files, checkpoints=b.checkpoints.slice(0, 0), log_id=b.log_id)
    assert {v for v in _summary(empty).values()} == {(7, 6, 0, 7, False)}


def test_chain_summary_ignores_rows_without_a_16_byte_chain_id() -> None:
    table = pa.table({"chain_id": pa.array([b"x" * 16, b"short", None], pa.binary())})
    report = VerifyReport(
        records=3,
        verdicts=np.array([0, 2, 2], dtype=np.uint8),
        reason_codes=np.array([0, 1, 1], dtype=np.uint8),
        checkpoints=[],
        missing_log_positions=[],
        clean=False,
        log_checked=True,
        signatures_checked=True,
        signatures_verified=0,
        attested_size=5,
        largest_signed_tree_size=5,
        elapsed_s=0.0,
        threads=1,
        _table=table.append_column("seq", pa.array([0, 1, None], pa.uint64())).append_column(
            "log_index", pa.array([0, 1, 2], pa.uint64())
        ),
    )
    assert report.chains.to_pylist() == [
        {
            "chain_id": b"x" * 16,
            "records": 1,
            "max_seq": 0,
            "ok": 1,
            "failures": 0,
            "complete": True,
        }
    ]


# --------------------------------------------------------------------------- the API


def test_progress_reports_records_done(small: SampleInfo) -> None:
    calls: list[tuple[int, int]] = []
    audit_bundle(small.path, progress=lambda d, t: calls.append((d, t)), batch_rows=2)
    total = DEVICES * PER_DEVICE
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert {t for _, t in calls} == {total}
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(calls) > 5


def test_anchor_states_pass_through(small: SampleInfo) -> None:
    n = read_bundle(small.path).checkpoints.num_rows
    anchors = ["final", "pending", "missing", None, "final"][:n]
    report = audit_bundle(small.path, anchors=anchors, partition_rows=6)
    assert [c.code for c in report.checkpoints] == [
        "OK",
        "UNCONFIRMED",
        "NOT_ANCHORED",
        "OK",
        "OK",
    ][:n]
    assert report.anchors_checked and not report.clean
    with pytest.raises(InvalidInputError, match="2 anchor states for 5 checkpoints"):
        audit_bundle(small.path, anchors=["final", "final"])
    with pytest.raises(InvalidInputError, match="anchor state must be final, pending or missing"):
        audit_bundle(small.path, anchors=["maybe"] * n)


def test_argument_errors(small: SampleInfo) -> None:
    for bad in ({"batch_rows": 0}, {"partition_rows": -1}, {"threads": 0}):
        with pytest.raises(InvalidInputError, match="must be a positive integer"):
            audit_bundle(small.path, **bad)  # type: ignore[arg-type]


def test_spill_directory_is_removed_after_an_error(small: SampleInfo, tmp_path: Path) -> None:
    b = read_bundle(small.path)
    files = _write_parts(tmp_path / "b", b.records, 10)
    bad = b.records.slice(0, 3)
    bad = bad.set_column(2, "seq", pa.array(["x"] * 3))
    pq.write_table(bad, tmp_path / "b" / "records" / "part-00009.parquet")
    spill = tmp_path / "spill"
    spill.mkdir()
    with pytest.raises(ColumnTypeError, match="column 'seq' must be uint64"):
        audit_record_files(
            [*files, tmp_path / "b" / "records" / "part-00009.parquet"],
            partition_rows=4,
            batch_rows=2,
            spill_dir=spill,
        )
    assert list(spill.iterdir()) == []


def test_unreadable_part_names_the_file(small: SampleInfo, tmp_path: Path) -> None:
    files = _write_parts(tmp_path / "b", read_bundle(small.path).records, 10)
    files[1].write_bytes(files[1].read_bytes()[:-30])
    with pytest.raises(BundleError, match=f"^{files[1]}: unreadable Parquet: "):
        audit_record_files(files)


def test_report_holds_no_table(small: SampleInfo) -> None:
    report = audit_bundle(small.path)
    assert report._table is None
    assert report._failure_table is not None and report._failure_table.num_rows == 0
    assert _core.StreamAudit(0).partitions == 1


def test_cli_progress_bar_only_on_a_terminal(small: SampleInfo) -> None:
    import io

    from hashcore.cli.console import progress_bar as _progress
    from rich.console import Console

    piped = Console(file=io.StringIO())
    with _progress(piped, "auditing") as progress:
        assert progress is None
    assert piped.file.getvalue() == ""  # type: ignore[attr-defined]

    tty = Console(file=io.StringIO(), force_terminal=True, width=120)
    with _progress(tty, "auditing") as progress:
        assert progress is not None
        audit_bundle(small.path, progress=progress)
    shown = tty.file.getvalue()  # type: ignore[attr-defined]
    assert "auditing" in shown and "records/s" in shown and "21/21" in shown
