"""``hashcore.verify_bulk`` on v2 columns: the same verdicts as the bundle audit (every
chain.json case, as in-memory tables), whatever the thread count; ``check_signatures=False``;
and each version's arguments refused for the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hashcore
import pyarrow as pa
import pytest
from hashcore.audit import AuditReportV2
from hashcore.bundle.format_v2 import CHECKPOINT_SCHEMA_V2, RECEIPT_SCHEMA, RECORD_SCHEMA_V2
from hashcore.errors import ColumnError, InvalidInputError
from hashcore.policy import parse_policy

from .chain_bundles import as_expected, chain_bundles, expected_subset, rows_table

ALL = chain_bundles()
BY_NAME = {c["case"]: c for c in ALL}
#: A table has no manifest: the cases about a manifest naming another identity don't apply.
CASES = [
    c
    for c in ALL
    if c["expected"]["manifest_origin_matches"] and c["expected"]["manifest_log_key_matches"]
]


def bulk(case: dict[str, Any], **kwargs: Any) -> AuditReportV2:
    identity: dict[str, Any]
    if case["policy"] is not None:
        identity = {"policy": parse_policy(case["policy"])}
    else:
        identity = {
            "origin": case["manifest"]["origin"],
            "log_key": bytes.fromhex(case["manifest"]["log_key"]),
        }
    report = hashcore.verify_bulk(
        rows_table(case["records"], RECORD_SCHEMA_V2),
        checkpoints=rows_table(case["checkpoints"], CHECKPOINT_SCHEMA_V2),
        receipts=rows_table(case["receipts"], RECEIPT_SCHEMA),
        notes=pa.table({"note": pa.array([n.encode() for n in case["notes"]], pa.binary())}),
        **identity,
        **kwargs,
    )
    assert isinstance(report, AuditReportV2)
    return report


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
@pytest.mark.parametrize("threads", [1, 2])
def test_verify_bulk_agrees_with_expected(case: dict[str, Any], threads: int) -> None:
    report = bulk(case, threads=threads)
    assert as_expected(report, case) == expected_subset(case)
    assert report.signatures_checked


def test_without_signatures_a_forgery_passes_and_the_report_says_so() -> None:
    case = BY_NAME["insert_forged_record"]
    assert bulk(case).counts["BAD_SIGNATURE"] == 1
    weak = bulk(case, check_signatures=False)
    assert weak.counts["BAD_SIGNATURE"] == 0 and not weak.signatures_checked
    assert weak.counts["OK"] == len(case["records"])


def test_the_manifest_cases_are_the_only_ones_left_out() -> None:
    assert sorted(c["case"] for c in ALL if c not in CASES) == [
        "manifest_origin_mismatch",
        "rogue_relay_key",
    ]


def test_argument_errors() -> None:
    case = BY_NAME["clean"]
    records = rows_table(case["records"], RECORD_SCHEMA_V2)
    cps = rows_table(case["checkpoints"], CHECKPOINT_SCHEMA_V2)
    policy = parse_policy(case["policy"])
    with pytest.raises(InvalidInputError, match="give policy= or origin= and log_key=, not both"):
        hashcore.verify_bulk(records, checkpoints=cps, policy=policy, origin="o", log_key=bytes(32))
    with pytest.raises(InvalidInputError, match="need the log identity to trust"):
        hashcore.verify_bulk(records, checkpoints=cps)
    with pytest.raises(InvalidInputError, match="need their checkpoints table"):
        hashcore.verify_bulk(records, policy=policy)
    with pytest.raises(InvalidInputError, match="not states"):
        hashcore.verify_bulk(records, checkpoints=cps, policy=policy, anchors=["final"])
    with pytest.raises(InvalidInputError, match="threads must be at most 256"):
        hashcore.verify_bulk(records, checkpoints=cps, policy=policy, threads=257)
    no_beacon = records.drop_columns(["beacon_size", "beacon_root"])
    with pytest.raises(ColumnError, match="no column 'beacon_size'"):
        hashcore.verify_bulk(no_beacon, checkpoints=cps, policy=policy)


def test_cli_threads_and_no_signatures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hashcore.cli import main

    from .chain_bundles import write_chain_bundle

    bundle, policy = write_chain_bundle(BY_NAME["insert_forged_record"], tmp_path)
    args = ["audit", str(bundle), "--policy", str(policy)]
    assert main([*args, "--threads", "1"]) == 1
    assert main([*args, "--threads", "2", "--no-signatures"]) == 0
    assert "note: signatures were not checked (--no-signatures)" in capsys.readouterr().out
    report = hashcore.audit_bundle(bundle, policy=policy, threads=1, check_signatures=False)
    assert isinstance(report, AuditReportV2) and report.clean and not report.signatures_checked
