"""The partitioned v2 audit on the local runner (streamed, one part at a time) against the
in-memory audit: the same report field by field on the 59 vector bundles cut into parts,
and on a sample bundle (a receipt for every record) whose records and receipts are
tampered at random, with random part sizes and bucket counts; bad receipts get their
exact verdicts; the receipts go to the parts holding their positions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hashcore.audit.partitioned import audit_bundle_partitioned, bundle_parts
from hashcore.audit.plan_log import split_receipts
from hashcore.audit.plan_runners import LocalRunner
from hashcore.audit.plan_tasks import PartLog, PartRef, PartSummary, read_part
from hashcore.audit.v2_bundle import audit_bundle_v2
from hashcore.errors import BundleError, InvalidInputError
from hashcore.sim.sample import make_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .chain_bundles import chain_bundles, write_chain_bundle
from .partitioned_bundles import (
    RECEIPT_TAMPERINGS,
    TAMPERINGS,
    assert_same_report,
    bad_receipt_codes,
    bad_receipts,
    receipts_of,
    records_of,
    rewrite_parts,
    rewrite_receipts,
    tamper,
    tamper_receipts,
)

CASES = chain_bundles()


def _streamed(bundle: Path, buckets: int | None = None, **options: Any) -> Any:
    with LocalRunner() as runner:
        return audit_bundle_partitioned(bundle, runner, buckets=buckets, **options)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_vector_bundles_in_parts_audit_as_in_memory(case: dict[str, Any], tmp_path: Path) -> None:
    bundle, policy = write_chain_bundle(case, tmp_path)
    rows = records_of(bundle)
    # Parts of 1, 2, 3, ... rows; rows in reverse order; three chain buckets.
    backwards = rows.take(list(range(rows.num_rows))[::-1])
    parted = rewrite_parts(bundle, tmp_path / "parted", backwards, list(range(1, 8)))
    # (clean_with_strict_time is a field compared: --strict-time changes only which is read)
    assert_same_report(_streamed(parted, 3, policy=policy), audit_bundle_v2(parted, policy=policy))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A bundle with a receipt for every record, its policy, and the log's seed."""
    root = tmp_path_factory.mktemp("sample")
    policy = root / "policy.json"
    info = make_sample(
        root / "bundle",
        devices=5,
        records=13,
        seed=12,
        checkpoint_every=6,
        rotate_every=5,
        witnesses=1,
        policy_path=policy,
    )
    return root / "bundle", policy, info.log_seed


def test_a_clean_sample_is_clean_in_parts(sample: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    bundle, policy, _ = sample
    parted = rewrite_parts(bundle, tmp_path / "b", records_of(bundle), [7, 1, 16, 9])
    got = _streamed(parted, 4, policy=policy)
    assert got.clean and got.records == 65 and len(got.chains) == 5
    assert [r.code for r in got.receipts] == ["RECEIPT_OK"] * 65
    assert_same_report(got, audit_bundle_v2(parted, policy=policy))


def test_bad_receipts_get_their_verdicts_in_parts(
    sample: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    bundle, policy, log_seed = sample
    parted = rewrite_parts(bundle, tmp_path / "b", records_of(bundle), [7, 1, 16, 9])
    rewrite_receipts(parted, bad_receipts(receipts_of(parted), log_seed))
    want = audit_bundle_v2(parted, policy=policy)
    codes = [r.code for r in want.receipts]
    assert {c: codes.count(c) for c in set(codes)} == bad_receipt_codes(65)
    assert not want.clean and want.counts["OK"] == 65
    for buckets in (1, 3):
        assert_same_report(_streamed(parted, buckets, policy=policy), want)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tamperings=st.lists(st.sampled_from(TAMPERINGS), min_size=0, max_size=3),
    receipt_tamperings=st.lists(st.sampled_from(RECEIPT_TAMPERINGS), min_size=0, max_size=3),
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(0, 20), min_size=0, max_size=6),
    buckets=st.integers(1, 5),
    as_of=st.one_of(st.none(), st.integers(0, 70)),
)
def test_tampered_samples_audit_as_in_memory(
    sample: tuple[Path, Path, bytes],
    tmp_path_factory: pytest.TempPathFactory,
    tamperings: list[str],
    receipt_tamperings: list[str],
    seed: int,
    sizes: list[int],
    buckets: int,
    as_of: int | None,
) -> None:
    bundle, policy, log_seed = sample
    rng = np.random.default_rng(seed)
    rows = records_of(bundle)
    for what in tamperings:
        rows = tamper(rows, what, rng)
    parted = rewrite_parts(bundle, tmp_path_factory.mktemp("t") / "b", rows, sizes)
    receipts = receipts_of(parted)
    for what in receipt_tamperings:
        receipts = tamper_receipts(receipts, what, rng, log_seed)
    rewrite_receipts(parted, receipts)
    want = audit_bundle_v2(parted, policy=policy, as_of=as_of)
    assert_same_report(_streamed(parted, buckets, policy=policy, as_of=as_of), want)


def test_bad_input_is_refused_as_in_memory(
    sample: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    bundle, _, _ = sample
    with LocalRunner() as runner:
        with pytest.raises(BundleError, match="not a directory"):
            audit_bundle_partitioned(tmp_path / "none", runner)
        with pytest.raises(InvalidInputError, match="buckets"):
            audit_bundle_partitioned(bundle, runner, buckets=0)
        with pytest.raises(InvalidInputError, match="as_of"):
            audit_bundle_partitioned(bundle, runner, as_of=-1)


def test_a_part_at_an_fsspec_url_reads_as_the_local_file(
    sample: tuple[Path, Path, bytes],
) -> None:
    fsspec = pytest.importorskip("fsspec")
    bundle, _, _ = sample
    local = bundle_parts(bundle)[0]
    with fsspec.open("memory://hashcore-test/part-0.parquet", "wb") as f:
        f.write(Path(local.location).read_bytes())
    url = PartRef(
        index=0, location="memory://hashcore-test/part-0.parquet", first_row=0, rows=local.rows
    )
    assert read_part(url)[0].equals(read_part(local)[0])
    wrong = PartRef(index=0, location=url.location, first_row=0, rows=local.rows + 1)
    with pytest.raises(BundleError, match="rows, its footer said"):
        read_part(wrong)
    with pytest.raises(BundleError, match="unreadable Parquet"):
        read_part(
            PartRef(index=0, location="memory://hashcore-test/none.parquet", first_row=0, rows=0)
        )


def _summary(index: int, runs: list[tuple[int, int]]) -> PartSummary:
    return PartSummary(
        index=index,
        rows=0,
        runs=runs,
        duplicates=[],
        unrebuildable=[],
        beacon_sizes=[],
        max_received=[],
        schema_notes=[],
    )


def test_receipts_go_to_a_part_holding_their_position() -> None:
    # Part 0 holds 0-9 and 20-24, part 1 holds 5-14 (5-9 twice), part 2 nothing.
    summaries = [_summary(0, [(0, 10), (20, 25)]), _summary(1, [(5, 15)]), _summary(2, [])]
    index = [3, 7, 12, 14, 15, 19, 22, 40, None, 7, 0]
    receipts = pa.table({"log_index": pa.array(index, pa.uint64()), "row": range(len(index))})
    split = split_receipts(summaries, receipts)
    sent = [t.column("row").to_pylist() if t is not None else [] for t in split.tables]
    # 15 and 19 (no part) go with the run before them, 40 past the log too, a null to
    # position 0's part; both receipts at 7 to one part.
    assert sent == [[0, 1, 6, 7, 8, 9, 10], [2, 3, 4, 5], []]
    logs = [
        PartLog(blocks=[], slots=[], receipt_checks=bytes(10 + r for r in rows)) for rows in sent
    ]
    assert split.gather(logs) == bytes(10 + r for r in range(len(index)))
    with pytest.raises(RuntimeError, match="checked 0 receipts of 4"):
        split.gather([logs[0], PartLog(blocks=[], slots=[]), logs[2]])
