"""Export a relay's store as an audit bundle (SPEC section 3), streamed, with bounded memory.

Only records the newest checkpoint attests are exported: later ones are not yet covered
by a signed root, and a bundle holding them would not audit clean (NOT_LOGGED). They go
into the next export. The bundle is written into a temporary directory beside
``out_dir`` and renamed into place at the end, so a crash never leaves a half bundle
under that name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._atomic import fsync_path
from ..bundle.format import (
    CHECKPOINTS_FILE,
    MANIFEST,
    RECORDS_DIR,
    check_evm,
    conform,
    new_manifest,
)
from ..errors import BundleError, InvalidInputError, StoreError
from ..schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA
from .store import Store, StoredCheckpoint, open_store

__all__ = ["ExportResult", "export_bundle"]

#: ``progress(records_written, records_to_write)``
Progress = Callable[[int, int], None]

# Rows read from the store at a time: bounds memory whatever the store's size.
_READ_ROWS = 65536


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    #: Records exported: log positions 0 .. tree_size - 1.
    records: int
    #: The newest checkpoint's tree_size (0 when the store has none): what was exported.
    tree_size: int
    #: Records the store held beyond that checkpoint, left out (not yet attested).
    left_out: int
    checkpoints: int
    parts: int
    #: The manifest's ``evm`` member (None: nothing anchored).
    evm: dict[str, Any] | None


def export_bundle(
    store_or_target: Store | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    part_rows: int = 1_000_000,
    confirmations: int = 1,
    progress: Progress | None = None,
    anchored_only: bool | None = None,
) -> ExportResult:
    """Write the store's attested records and its checkpoints as a bundle at ``out_dir``.

    Anchors: a relay signs many checkpoints (every N records) but anchors only its newest
    one per interval, and SPEC 4 makes every checkpoint without a final anchor of its own
    NOT_ANCHORED once the auditor checks the chain. So with ``anchored_only`` (the default
    when any checkpoint has a final anchor) the bundle keeps only the checkpoints with a
    final anchor, and the records up to the largest of them; the rest goes into a later
    export. A consistent later anchor vouches for the earlier log anyway (RFC 9162), so
    nothing an auditor can check is lost.

    ``store_or_target`` is an open :class:`Store` or a path/URL, which is opened
    read-only (a running relay keeps writing meanwhile). Records go to
    ``records/part-00000.parquet``, ... with at most ``part_rows`` rows each. The
    manifest's ``evm`` names the chain and contract of the newest anchored checkpoint,
    with ``confirmations``; it is null when nothing was anchored. ``progress`` is called
    after every batch of records written. The bundle directory is private (mode 0700):
    it holds patient data.

    Raises:
        BundleError: ``out_dir`` exists and is not an empty directory, or can't be written.
        InvalidInputError: bad ``part_rows`` or ``confirmations``.
        StoreError: the store can't be read, has no log_id, or misses records that a
            checkpoint covers.
    """
    out = Path(out_dir)
    for name, value, low in (("part_rows", part_rows, 1), ("confirmations", confirmations, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    _refuse_non_empty(out)
    if isinstance(store_or_target, Store):
        return _export(store_or_target, out, part_rows, confirmations, progress, anchored_only)
    with open_store(store_or_target, readonly=True) as store:
        return _export(store, out, part_rows, confirmations, progress, anchored_only)


def _refuse_non_empty(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        # Writing into an old bundle would mix its parts with ours: both would be read.
        raise BundleError(f"{out}: exists and is not an empty directory; not overwriting")


def _export(
    store: Store,
    out: Path,
    part_rows: int,
    confirmations: int,
    progress: Progress | None,
    anchored_only: bool | None,
) -> ExportResult:
    log_id = store.get_log_id()
    if log_id is None:
        raise StoreError("the store is not bound to a relay (no log_id): nothing to export")
    # Everything is cut at the newest checkpoint seen now, so that a checkpoint the relay
    # adds while we export can't claim records the bundle doesn't hold.
    listed = store.list_checkpoints()
    held = store.tree_size()
    final = [cp for cp in listed if cp.anchor is not None and cp.anchor.final]
    if anchored_only is None:
        anchored_only = bool(final)
    if anchored_only:
        newest = max(final, key=lambda cp: cp.tree_size, default=None)
        # One chain and contract per bundle (the manifest names one): the newest anchor's.
        final = [
            cp
            for cp in final
            if newest is not None
            and cp.anchor is not None
            and newest.anchor is not None
            and (cp.anchor.evm_chain_id, cp.anchor.contract)
            == (newest.anchor.evm_chain_id, newest.anchor.contract)
        ]
        upto = newest.tree_size if newest else 0
        evm = _evm_of(final, upto, confirmations)
        keep = {cp.tree_size for cp in final}
        table = store.checkpoints_table()
        mask = pa.array([int(t) in keep for t in table.column("tree_size").to_pylist()], pa.bool_())
        checkpoints = conform(table.filter(mask), CHECKPOINT_SCHEMA, "checkpoints")
    else:
        latest = max(listed, key=lambda cp: cp.tree_size, default=None)
        upto = latest.tree_size if latest else 0
        evm = _evm_of(listed, upto, confirmations)
        checkpoints = _cut_checkpoints(store.checkpoints_table(), upto)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise BundleError(f"{out}: cannot create the bundle: {exc}") from exc
    try:
        batches = store.iter_record_batches(batch_rows=min(part_rows, _READ_ROWS), upto=upto)
        rows, parts = _write_parts(batches, tmp / RECORDS_DIR, part_rows, upto, progress)
        if rows != upto:
            raise StoreError(
                f"the store holds {rows} records below its checkpoint of tree_size {upto}; "
                "its log has holes"
            )
        _write_table(checkpoints, tmp / CHECKPOINTS_FILE)
        _write_manifest(tmp / MANIFEST, log_id, evm)
        _publish(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundleError(f"{out}: cannot write the bundle: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(
        path=out,
        records=rows,
        tree_size=upto,
        left_out=max(held - upto, 0),
        checkpoints=checkpoints.num_rows,
        parts=parts,
        evm=evm,
    )


def _evm_of(
    checkpoints: Sequence[StoredCheckpoint], upto: int, confirmations: int
) -> dict[str, Any] | None:
    anchored = [cp for cp in checkpoints if cp.anchor is not None and cp.tree_size <= upto]
    if not anchored:
        return None
    anchor = max(anchored, key=lambda cp: cp.tree_size).anchor
    assert anchor is not None  # filtered above; narrows the type
    evm = {
        "chain_id": anchor.evm_chain_id,
        "contract": anchor.contract,
        "confirmations": confirmations,
    }
    try:
        return check_evm(evm)
    except ValueError as exc:
        raise StoreError(f"the store's anchor of tree_size {upto} is unusable: {exc}") from None


def _cut_checkpoints(table: pa.Table, upto: int) -> pa.Table:
    kept = table.filter(pc.less_equal(table.column("tree_size"), pa.scalar(upto, pa.uint64())))
    return conform(kept, CHECKPOINT_SCHEMA, "checkpoints")


def _write_parts(
    batches: Iterable[pa.RecordBatch],
    parts_dir: Path,
    part_rows: int,
    total: int,
    progress: Progress | None,
) -> tuple[int, int]:
    """Stream batches into part files of at most ``part_rows`` rows; (rows, parts)."""
    parts_dir.mkdir()
    writer: pq.ParquetWriter | None = None
    in_part = parts = done = 0
    try:
        for batch in batches:
            offset = 0
            while offset < batch.num_rows:
                if writer is None:
                    writer = pq.ParquetWriter(_part(parts_dir, parts), RECORD_SCHEMA)
                    parts += 1
                take = min(batch.num_rows - offset, part_rows - in_part)
                writer.write_batch(batch.slice(offset, take))
                offset += take
                in_part += take
                if in_part == part_rows:
                    writer.close()
                    fsync_path(_part(parts_dir, parts - 1))
                    writer, in_part = None, 0
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
        if writer is not None:
            writer.close()
            fsync_path(_part(parts_dir, parts - 1))
            writer = None
    finally:
        if writer is not None:
            writer.close()
    if parts == 0:
        # A bundle always has a records file, even with no records (SPEC section 3).
        _write_table(RECORD_SCHEMA.empty_table(), _part(parts_dir, 0))
        parts = 1
    return done, parts


def _part(parts_dir: Path, n: int) -> Path:
    return parts_dir / f"part-{n:05d}.parquet"


def _write_table(table: pa.Table, file: Path) -> None:
    pq.write_table(table, file)
    fsync_path(file)


def _write_manifest(file: Path, log_id: bytes, evm: dict[str, Any] | None) -> None:
    file.write_text(json.dumps(new_manifest(log_id, evm), indent=2) + "\n", encoding="utf-8")
    fsync_path(file)


def _publish(tmp: Path, out: Path) -> None:
    fsync_path(tmp / RECORDS_DIR)
    fsync_path(tmp)
    # rename(2) replaces an empty directory atomically, and fails if out_dir was filled
    # meanwhile (ENOTEMPTY), which then surfaces as a BundleError.
    os.replace(tmp, out)
    fsync_path(out.parent)
