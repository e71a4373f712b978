"""The streamed audit: SPEC section 4 verdicts for the records of Parquet files of any size.

:func:`hashcore.audit_bundle` uses it; the verdicts are exactly those of
:func:`hashcore.verify_bulk` on the same rows (tests/test_stream_audit.py holds it to that).
Memory stays bounded whatever the bundle's size:

1. The record files are read batch by batch (``ParquetFile.iter_batches``). The Rust
   engine (``_core.StreamAudit``, rust/src/audit/stream.rs) does the per-row checks of
   each batch right away, notes every row's log position, and spills what the chain
   checks need (no payload or salt but a genesis or rotation key; ~170 bytes a row) into
   hash partitions by ``chain_id``, in a temporary directory when there is more than one.
   A chain lands whole in one partition, however it straddles the files.
2. Duplicate log positions, the Merkle tree rebuilt from the stored links, checkpoints and
   missing positions (global, from the positions noted in 1).
3. One partition at a time: forks, gaps, links, key schedule and signatures, then the final
   verdicts, failures and per-chain summaries of its rows.

The report holds one byte of verdict and one of reason per record, and the failing rows
only (as an Arrow table); no Python object per record.
"""

from __future__ import annotations

import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from .. import _core
from ..checkpoint import parse_log_id
from ..errors import BundleError, InvalidInputError
from ..limits import check_threads
from ..safe_read import open_parquet
from ..schema import BINARY_COLUMNS, INTEGER_COLUMNS
from .columns import checkpoint_table_rows, record_specs
from .verify import VerifyReport, report_from_raw

__all__ = ["DEFAULT_BATCH_ROWS", "DEFAULT_PARTITION_ROWS", "Progress", "audit_record_files"]

#: Rows per batch read from Parquet (~30 MB of a typical bundle).
DEFAULT_BATCH_ROWS = 65_536
#: Rows per chain partition: each takes ~300 bytes a row in memory while it is checked.
DEFAULT_PARTITION_ROWS = 500_000
#: Parquet read buffer: pages are read as they are decoded, not a whole row group at once.
_READ_BUFFER = 1 << 20
#: ``progress(records done, records in total)``.
Progress = Callable[[int, int], None]

_COLUMNS = [*INTEGER_COLUMNS, *BINARY_COLUMNS]
_ANCHOR_STATES = frozenset({"final", "pending", "missing", None})

T = TypeVar("T")


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return value


def _batches(files: Sequence[Path], batch_rows: int) -> Iterator[tuple[Path, pa.RecordBatch]]:
    """Every batch of every file, in order; a read error names the file."""
    for file in files:
        try:
            with open_parquet(file, pre_buffer=False, buffer_size=_READ_BUFFER) as (reader, _):
                for batch in reader.iter_batches(
                    batch_size=batch_rows, columns=_COLUMNS, use_threads=False
                ):
                    yield file, batch
        except (pa.ArrowException, OSError) as exc:
            raise BundleError(f"{file}: unreadable Parquet: {exc}") from None


def _prefetch(items: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """``items``, produced by a thread that runs up to ``depth`` items ahead, so that the
    Parquet decoding of the next batch overlaps the engine's work on this one (both
    release the GIL)."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(("error", exc))

    thread = threading.Thread(target=work, name="hashcore-parquet-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def _failure_table(raw: dict[str, Any]) -> pa.Table:
    n = int(raw["count"])
    seq = pa.Array.from_buffers(
        pa.uint64(), n, [pa.py_buffer(raw["seq_validity"]), pa.py_buffer(raw["seq"])]
    )
    chain_id = pa.Array.from_buffers(
        pa.large_binary(),
        n,
        [
            pa.py_buffer(raw["chain_id_validity"]),
            pa.py_buffer(raw["chain_id_offsets"]),
            pa.py_buffer(raw["chain_id_data"]),
        ],
    )
    return pa.table(
        {
            "row": np.frombuffer(raw["row"], dtype="<u8"),
            "log_index": np.frombuffer(raw["log_index"], dtype="<u8"),
            "chain_id": chain_id,
            "seq": seq,
        }
    )


def _chain_table(raw: dict[str, Any]) -> pa.Table:
    n = int(raw["count"])
    records = np.frombuffer(raw["records"], dtype="<u8")
    ok = np.frombuffer(raw["ok"], dtype="<u8")
    return pa.table(
        {
            "chain_id": pa.Array.from_buffers(
                pa.binary(16), n, [None, pa.py_buffer(raw["chain_id"])]
            ),
            "records": records,
            "max_seq": pa.Array.from_buffers(
                pa.uint64(),
                n,
                [pa.py_buffer(raw["max_seq_validity"]), pa.py_buffer(raw["max_seq"])],
            ),
            "ok": ok,
            "failures": records - ok,
            "complete": np.frombuffer(raw["complete"], dtype=np.uint8).astype(bool),
        }
    )


def audit_record_files(
    files: Sequence[str | os.PathLike[str]],
    *,
    checkpoints: pa.Table | pa.RecordBatch | None = None,
    log_id: bytes | bytearray | memoryview | str | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    anchors: Sequence[str | None] | None = None,
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    spill_dir: str | os.PathLike[str] | None = None,
) -> VerifyReport:
    """Verify the records of Parquet ``files`` (read in that order, as one table) like
    :func:`hashcore.verify_bulk` does, reading them batch by batch.

    ``checkpoints``, ``log_id``, ``threads``, ``check_signatures`` and ``anchors`` are
    those of ``verify_bulk``; the report's rows are the files' rows in order. ``progress``
    is called now and then with (records done, total). The chains are checked in
    partitions of about ``partition_rows`` rows; with more than one, they are spilled to
    a temporary directory under ``spill_dir`` (default: ``$TMPDIR``), removed at the end.

    Raises:
        BundleError: a file is unreadable.
        InvalidInputError, ColumnError, ColumnTypeError: as ``verify_bulk``.
        OSError: the spill directory is not writable (or full).
    """
    check_threads(threads)
    _positive("batch_rows", batch_rows)
    _positive("partition_rows", partition_rows)
    paths = [Path(f) for f in files]
    cp_rows = checkpoint_table_rows(checkpoints) if checkpoints is not None else None
    trusted = parse_log_id(log_id) if log_id is not None else None
    if cp_rows is not None and trusted is None:
        raise InvalidInputError("checkpoints need the relay's log_id to be verified")
    anchor_list = list(anchors) if anchors is not None else None
    if anchor_list is not None:
        bad = [a for a in anchor_list if a not in _ANCHOR_STATES]
        if bad:
            raise InvalidInputError(
                f"anchor state must be final, pending or missing, got {bad[0]!r}"
            )
        if cp_rows is not None and len(anchor_list) != len(cp_rows):
            raise InvalidInputError(
                f"{len(anchor_list)} anchor states for {len(cp_rows)} checkpoints"
            )

    total = 0
    for file in paths:
        try:
            with open_parquet(file) as (_, rows):
                total += rows
        except (pa.ArrowException, OSError) as exc:
            raise BundleError(f"{file}: unreadable Parquet: {exc}") from None
    partitions = max(1, math.ceil(total / partition_rows))
    # Progress: the read pass and the chain pass as shares of the whole, as measured on
    # 10M records (signatures make the chain pass by far the longer one).
    read_share = 0.15 if check_signatures else 0.6

    def report(done: float) -> None:
        if progress is not None:
            progress(min(total, round(done)), total)

    start = time.perf_counter()
    report(0)
    with (
        tempfile.TemporaryDirectory(prefix="hashcore-audit-", dir=spill_dir)
        if partitions > 1
        else nullcontext()
    ) as tmp:
        auditor = _core.StreamAudit(
            total,
            partitions,
            spill_dir=tmp,
            threads=threads,
            check_signatures=check_signatures,
        )
        with closing(_prefetch(_batches(paths, batch_rows))) as batches:
            for _, batch in batches:
                auditor.add_batch(record_specs(batch))
                report(auditor.rows * read_share)
        if auditor.rows != total:
            raise BundleError(
                f"the record files' metadata announce {total} rows, but they hold {auditor.rows}"
            )
        auditor.check_log(cp_rows, trusted)
        chained = 0
        for p in range(partitions):
            chained += auditor.check_partition(p)
            report(total * read_share + chained * (1 - read_share))
        raw = auditor.finish(anchor_list)
    report(total)
    elapsed = time.perf_counter() - start

    return report_from_raw(
        raw,
        records=total,
        checkpoint_rows=cp_rows,
        elapsed_s=elapsed,
        threads=threads,
        trusted=trusted,
        anchors_checked=anchors is not None,
        _failure_table=_failure_table(raw["failures"]),
        _chain_table=_chain_table(raw["chains"]),
    )
