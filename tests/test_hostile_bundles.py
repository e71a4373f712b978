"""Hostile bundles (issue 15, defects 5, 6 and 14): every one is refused with a HashcoreError
naming the file or column, and by ``hashcore audit`` with exit code 2 and one line.

Each bundle is built for real: a valid sample written by the library, then one file
rewritten with pyarrow (or its Parquet footer patched, see parquet_footer.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import hashcore
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hashcore.bundle import audit_bundle, read_bundle
from hashcore.cli import main
from hashcore.errors import BundleError, ColumnError, ColumnTypeError
from hashcore.sample import SampleInfo, make_sample
from parquet_footer import set_num_rows


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("hostile") / "bundle"
    return make_sample(path, devices=2, records=5, seed=9, checkpoint_every=4)


def _copy(sample: SampleInfo, tmp_path: Path) -> Path:
    dst = tmp_path / "hostile"
    shutil.copytree(sample.path, dst)
    return dst


def _audit_error(bundle: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``hashcore audit BUNDLE`` must exit 2 with one line on stderr; returns the line."""
    assert main(["audit", str(bundle), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def _rewrite(file: Path, edit: object) -> pa.Table:
    table = pq.read_table(file)
    table = edit(table)  # type: ignore[operator]
    pq.write_table(table, file)
    return table


# --------------------------------------------------------------------------- defect 5


@pytest.mark.parametrize(
    ("values", "type_name"),
    [(["not a hash"] * 3, "string"), ([7, 8, 9], "int64")],
)
def test_checkpoint_tx_hash_of_another_type(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    values: list[object],
    type_name: str,
) -> None:
    path = _copy(sample, tmp_path)
    cps = _rewrite(
        path / "checkpoints.parquet",
        lambda t: t.set_column(t.column_names.index("tx_hash"), "tx_hash", pa.array(values)),
    )
    message = (
        f"column 'tx_hash' must be binary or fixed_size_binary, got {type_name} (SPEC section 3)"
    )
    with pytest.raises(ColumnTypeError) as info:
        audit_bundle(path)
    assert str(info.value) == message
    records = read_bundle(sample.path).records
    with pytest.raises(ColumnTypeError) as info:
        hashcore.verify_bulk(records, checkpoints=cps, log_id=sample.log_id)
    assert str(info.value) == message
    assert _audit_error(path, capsys) == f"hashcore: error: {path}: {message}"


@pytest.mark.parametrize(
    ("file", "column"),
    [("records.parquet", "seq"), ("records.parquet", "payload"), ("checkpoints.parquet", "root")],
)
def test_duplicated_column_name(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    column: str,
) -> None:
    path = _copy(sample, tmp_path)
    table = _rewrite(path / file, lambda t: t.append_column(column, t.column(column)))
    message = f"{path / file}: column '{column}' appears 2 times"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == message
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    assert str(info.value) == message
    assert _audit_error(path, capsys) == f"hashcore: error: {message}"
    # The same table in memory: verify_bulk names the column too.
    b = read_bundle(sample.path)
    kwargs = (
        {"records": table}
        if file == "records.parquet"
        else {"records": b.records, "checkpoints": table, "log_id": b.log_id}
    )
    with pytest.raises(ColumnError, match=f"^column '{column}' appears 2 times in the table$"):
        hashcore.verify_bulk(**kwargs)  # type: ignore[arg-type]


def test_duplicated_tx_hash_in_memory(sample: SampleInfo) -> None:
    b = read_bundle(sample.path)
    cps = b.checkpoints.append_column("tx_hash", b.checkpoints.column("tx_hash"))
    with pytest.raises(ColumnError, match=r"^column 'tx_hash' appears 2 times in the table$"):
        hashcore.verify_bulk(b.records, checkpoints=cps, log_id=b.log_id)


def _script() -> str:
    """The installed ``hashcore`` console script (as a user runs it)."""
    found = Path(sys.executable).parent / "hashcore"
    assert found.exists(), found
    return str(found)


def _manifest_with(path: Path, raw_member: str) -> Path:
    """The bundle's manifest with one more member, written as raw JSON text."""
    file = path / "manifest.json"
    text = json.dumps(json.loads(file.read_text()))
    file.write_text(text[:-1] + f', "extra": {raw_member}}}')
    return file


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("9" * 5000, "holds an integer of 5000 digits; at most 78 are accepted"),
        ("-" + "1" * 4301, "holds an integer of 4301 digits; at most 78 are accepted"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested deeper than 64 levels is not read"),
        ('{"a":' * 100_000 + "0" + "}" * 100_000, "JSON nested deeper than 64 levels is not read"),
    ],
    ids=["5000-digit-int", "4301-digit-negative-int", "nested-arrays", "nested-objects"],
)
def test_manifest_that_python_json_cannot_hold(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    member: str,
    reason: str,
) -> None:
    path = _copy(sample, tmp_path)
    file = _manifest_with(path, member)
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == f"{file}: {reason}"
    assert _audit_error(path, capsys) == f"hashcore: error: {file}: {reason}"


def test_deep_manifest_with_a_raised_recursion_limit(sample: SampleInfo, tmp_path: Path) -> None:
    """``hashcore audit --evm-url`` imports py-evm, which raises the recursion limit to
    100,000: the C JSON decoder then overflowed the C stack on a deep manifest (SIGSEGV)."""
    path = _copy(sample, tmp_path)
    file = _manifest_with(path, "[" * 100_000 + "]" * 100_000)
    done = subprocess.run(
        [_script(), "audit", str(path), "--evm-url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, ""), done.stderr[-2000:]
    assert done.stderr == (
        f"hashcore: error: {file}: JSON nested deeper than 64 levels is not read\n"
    )


def test_manifest_nesting_of_64_is_still_read(sample: SampleInfo, tmp_path: Path) -> None:
    path = _copy(sample, tmp_path)
    # 64 levels: the manifest, this object, 62 arrays (the brackets in a string don't count).
    _manifest_with(path, '{"a": "[[[[", "b": ' + "[" * 62 + "]" * 62 + "}")
    assert audit_bundle(path).clean


def test_manifest_chain_id_of_78_digits_is_still_read(sample: SampleInfo, tmp_path: Path) -> None:
    """The digit limit leaves room for any uint256 (an EVM chain id)."""
    path = _copy(sample, tmp_path)
    _manifest_with(path, str(2**256 - 1))
    assert audit_bundle(path).clean


@pytest.mark.parametrize(
    ("file", "rows", "group_rows", "reason"),
    [
        ("records.parquet", -5, None, "Parquet metadata claims -5 rows"),
        ("checkpoints.parquet", -3, None, "Parquet metadata claims -3 rows"),
        (
            "records.parquet",
            10,
            -10,
            "Parquet metadata claims 10 rows, but its row groups claim [-10]",
        ),
    ],
)
def test_negative_num_rows_in_parquet_metadata(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    rows: int,
    group_rows: int | None,
    reason: str,
) -> None:
    path = _copy(sample, tmp_path)
    set_num_rows(path / file, rows, row_groups=group_rows)
    assert pq.ParquetFile(path / file).metadata.num_rows == rows  # the footer says so
    message = f"{path / file}: {reason}"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == message
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    assert str(info.value) == message
    assert _audit_error(path, capsys) == f"hashcore: error: {message}"
