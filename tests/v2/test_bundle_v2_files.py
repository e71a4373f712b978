"""A v2 bundle's files as the reader and the writer meet them (ported from v1's
test_bundle.py): unreadable, truncated or missing files and columns are a BundleError
naming the file; the writer names the column it can't write and leaves nothing behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hashcore.bundle import BundleV2, read_bundle_v2, write_bundle_v2
from hashcore.errors import BundleError, ColumnError, HashcoreError
from hashcore.sim.sample import make_sample


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> BundleV2:
    path = tmp_path_factory.mktemp("files") / "bundle"
    make_sample(path, devices=3, records=7, seed=4, checkpoint_every=5, evidence=False)
    return read_bundle_v2(path)


def _copy(bundle: BundleV2, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle.path, tmp_path / "copy"))


def _write(bundle: BundleV2, out: Path, records: pa.Table, **kwargs: object) -> Path:
    m = bundle.manifest
    return write_bundle_v2(
        out, records, bundle.checkpoints, origin=m.origin, log_key=m.log_key, **kwargs
    )


@pytest.mark.parametrize("name", ["records.parquet", "checkpoints.parquet"])
def test_corrupt_parquet_names_the_file(bundle: BundleV2, tmp_path: Path, name: str) -> None:
    path = _copy(bundle, tmp_path)
    (path / name).write_bytes(b"\x00garbage, not parquet\xff" * 10)
    with pytest.raises(BundleError) as err:
        read_bundle_v2(path)
    assert str(err.value).startswith(f"{path / name}: unreadable Parquet: ")


def test_truncated_part_names_the_file(bundle: BundleV2, tmp_path: Path) -> None:
    out = _write(bundle, tmp_path / "b", bundle.records, part_rows=10)
    part = out / "records" / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-20])
    with pytest.raises(BundleError) as err:
        read_bundle_v2(out)
    assert str(err.value).startswith(f"{part}: unreadable Parquet: ")


def test_missing_files(bundle: BundleV2, tmp_path: Path) -> None:
    path = _copy(bundle, tmp_path)
    (path / "checkpoints.parquet").unlink()
    with pytest.raises(BundleError, match=r"checkpoints\.parquet"):
        read_bundle_v2(path)
    (path / "records.parquet").unlink()
    with pytest.raises(BundleError, match=r"no records\.parquet and no records/\*\.parquet$"):
        read_bundle_v2(path)


def test_missing_column_names_the_file(bundle: BundleV2, tmp_path: Path) -> None:
    path = _copy(bundle, tmp_path)
    pq.write_table(bundle.records.drop_columns(["commit"]), path / "records.parquet")
    with pytest.raises(BundleError) as err:
        read_bundle_v2(path)
    assert str(err.value) == f"{path / 'records.parquet'}: no column 'commit' (SPEC section 4)"


def test_write_column_errors(bundle: BundleV2, tmp_path: Path) -> None:
    recs = bundle.records
    n = recs.num_rows
    seq = recs.schema.get_field_index("seq")
    with pytest.raises(ColumnError, match=r"'seq'"):
        _write(bundle, tmp_path / "a", recs.drop_columns(["seq"]))
    with pytest.raises(ColumnError, match=r"'seq'"):
        _write(bundle, tmp_path / "a", recs.set_column(seq, "seq", pa.nulls(n, pa.uint64())))
    chain = recs.schema.get_field_index("chain_id")
    short = recs.set_column(chain, "chain_id", pa.array([b"short"] * n, pa.binary()))
    with pytest.raises(ColumnError, match=r"'chain_id'"):
        _write(bundle, tmp_path / "a", short)
    with pytest.raises(HashcoreError, match=r"'seq'"):
        _write(bundle, tmp_path / "a", recs.set_column(seq, "seq", pa.array(["x"] * n)))
    assert not (tmp_path / "a").exists()
