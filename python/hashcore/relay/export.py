"""Export a relay's store as a v2 audit bundle (SPEC v2 section 4), streamed, with bounded
memory.

What is exported: by default the whole log up to the relay's newest checkpoint, with every
checkpoint up to it (a bundle can hold only what a signed root attests: records after the
newest checkpoint would be NOT_LOGGED). ``as_of=N`` exports up to the checkpoint of size
N, ``final_only`` up to the newest checkpoint with a final anchor: a smaller export is
asked for by name. What is left out (acknowledged records no checkpoint covers yet,
checkpoints without a final anchor) is reported in the :class:`ExportResult`, and
``hashcore relay export`` says it loudly. The bundle is written into a temporary
directory beside ``out_dir`` and renamed into place at the end, so a crash never leaves a
half bundle under that name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._atomic import fsync_path
from ..bundle.format import CHECKPOINTS_FILE, MANIFEST, RECORDS_DIR
from ..bundle.format_v2 import (
    CHECKPOINT_SCHEMA_V2,
    RECORD_SCHEMA_V2,
    conform_for_writing,
    new_manifest_v2,
)
from ..errors import BundleError, InvalidInputError, StoreError
from .store import Store, StoredCheckpoint, open_store

__all__ = ["ExportResult", "export_bundle"]

#: ``progress(records_written, records_to_write)``
Progress = Callable[[int, int], None]

# Rows read from the store at a time: bounds memory whatever the store's size.
_READ_ROWS = 65536


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote, and what it left out."""

    path: Path
    origin: str
    log_key: bytes
    #: Records exported: log positions 0 .. tree_size - 1.
    records: int
    #: The tree_size of the newest checkpoint exported (0 when the store has none).
    tree_size: int
    #: Records the store held beyond that checkpoint, left out (no checkpoint covers them
    #: yet, or a smaller export was asked for).
    left_out: int
    checkpoints: int
    parts: int
    #: Sizes of the exported checkpoints without a final anchor (anchoring configured or
    #: not, an auditor with an ``evm`` policy calls them NOT_ANCHORED / UNCONFIRMED unless
    #: a later final anchor vouches for them).
    not_final: tuple[int, ...]
    #: The newest checkpoint the store holds (may be beyond ``tree_size``).
    newest_checkpoint: int


def export_bundle(
    store_or_target: Store | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    part_rows: int = 1_000_000,
    progress: Progress | None = None,
    as_of: int | None = None,
    final_only: bool = False,
) -> ExportResult:
    """Write the store's log up to a checkpoint, and its checkpoints, as a v2 bundle.

    ``store_or_target`` is an open :class:`Store` or a path/URL, which is opened
    read-only (a running relay keeps writing meanwhile). Records go to
    ``records/part-00000.parquet``, ... with at most ``part_rows`` rows each. The bundle
    directory is private (mode 0700): it holds patient data.

    Raises:
        BundleError: ``out_dir`` exists and is not an empty directory, or can't be written.
        InvalidInputError: bad ``part_rows``; ``as_of`` with ``final_only``; no checkpoint
            of size ``as_of``; ``final_only`` with no finally anchored checkpoint.
        StoreError: the store can't be read, has no log key or origin, or misses records
            that a checkpoint covers.
    """
    out = Path(out_dir)
    if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
        raise InvalidInputError(f"part_rows must be an integer >= 1, got {part_rows!r}")
    if as_of is not None and (isinstance(as_of, bool) or not isinstance(as_of, int) or as_of < 1):
        raise InvalidInputError(f"as_of must be a positive tree size, got {as_of!r}")
    if as_of is not None and final_only:
        raise InvalidInputError("--as-of and --final-only exclude each other")
    _refuse_non_empty(out)
    if isinstance(store_or_target, Store):
        return _export(store_or_target, out, part_rows, progress, as_of, final_only)
    with open_store(store_or_target, readonly=True) as store:
        return _export(store, out, part_rows, progress, as_of, final_only)


def _refuse_non_empty(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        # Writing into an old bundle would mix its parts with ours: both would be read.
        raise BundleError(f"{out}: exists and is not an empty directory; not overwriting")


def _export(
    store: Store,
    out: Path,
    part_rows: int,
    progress: Progress | None,
    as_of: int | None,
    final_only: bool,
) -> ExportResult:
    log_key = store.get_log_id()
    origin_b = store.get_meta("origin")
    if log_key is None or origin_b is None:
        raise StoreError(
            "the store is not bound to a relay (no log key or origin): nothing to export"
        )
    origin = origin_b.decode("utf-8", errors="replace")
    # Everything is cut at a checkpoint listed now, so that a checkpoint the relay adds
    # while we export can't claim records the bundle doesn't hold.
    listed = store.list_checkpoints()
    held = store.tree_size()
    newest = max((cp.tree_size for cp in listed), default=0)
    upto = _cut(listed, as_of, final_only)
    table = store.checkpoints_table()
    kept = table.filter(pc.less_equal(table.column("tree_size"), pa.scalar(upto, pa.uint64())))
    checkpoints = conform_for_writing(kept, CHECKPOINT_SCHEMA_V2, "checkpoints")
    not_final = tuple(
        cp.tree_size
        for cp in sorted(listed, key=lambda c: c.tree_size)
        if cp.tree_size <= upto and not (cp.anchor is not None and cp.anchor.final)
    )
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
        _write_manifest(tmp / MANIFEST, origin, log_key)
        _publish(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundleError(f"{out}: cannot write the bundle: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(
        path=out,
        origin=origin,
        log_key=log_key,
        records=rows,
        tree_size=upto,
        left_out=max(held - upto, 0),
        checkpoints=checkpoints.num_rows,
        parts=parts,
        not_final=not_final,
        newest_checkpoint=newest,
    )


def _cut(listed: list[StoredCheckpoint], as_of: int | None, final_only: bool) -> int:
    """The tree size the export covers: the newest checkpoint, the one asked for, or the
    newest with a final anchor."""
    if as_of is not None:
        if not any(cp.tree_size == as_of for cp in listed):
            sizes = sorted(cp.tree_size for cp in listed)
            shown = ", ".join(map(str, sizes[-5:])) or "none"
            raise InvalidInputError(
                f"--as-of {as_of}: the store has no checkpoint of that size (newest: {shown})"
            )
        return as_of
    if final_only:
        final = [cp.tree_size for cp in listed if cp.anchor is not None and cp.anchor.final]
        if not final:
            raise InvalidInputError(
                "--final-only: no checkpoint of this store has a final anchor yet"
            )
        return max(final)
    return max((cp.tree_size for cp in listed), default=0)


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
                    writer = pq.ParquetWriter(_part(parts_dir, parts), RECORD_SCHEMA_V2)
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
        # A bundle always has a records file, even with no records (SPEC v2 section 4).
        _write_table(RECORD_SCHEMA_V2.empty_table(), _part(parts_dir, 0))
        parts = 1
    return done, parts


def _part(parts_dir: Path, n: int) -> Path:
    return parts_dir / f"part-{n:05d}.parquet"


def _write_table(table: pa.Table, file: Path) -> None:
    pq.write_table(table, file)
    fsync_path(file)


def _write_manifest(file: Path, origin: str, log_key: bytes) -> None:
    manifest = new_manifest_v2(origin, log_key, time.time_ns() // 1_000_000)
    file.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    fsync_path(file)


def _publish(tmp: Path, out: Path) -> None:
    fsync_path(tmp / RECORDS_DIR)
    fsync_path(tmp)
    # rename(2) replaces an empty directory atomically, and fails if out_dir was filled
    # meanwhile (ENOTEMPTY), which then surfaces as a BundleError.
    os.replace(tmp, out)
    fsync_path(out.parent)
