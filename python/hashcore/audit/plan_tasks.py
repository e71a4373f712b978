"""The partitioned v2 audit's tasks: plain functions of picklable arguments, run where a
runner puts them (this process, a Dask worker, ...). Each reads what it needs (a part of
the records, where it lies), lets the Rust engine do the work with the GIL released, and
returns Arrow data or small results. The driver's side is :mod:`.plan`.

1. :func:`scan_part`: a part's rows alone (links, commitments), what they say of the log
   (positions as runs, the few that break it, beacon sizes), and its rows cut into chain
   buckets (a hash of ``chain_id``), each carrying its global row number and flags.
2. :func:`log_part`: the part's subtree roots of 2^k-aligned leaf ranges, split at the
   sizes roots are asked at, the log entries the driver looks up, and the checks of the
   receipts of the positions the part holds (a byte a receipt).
3. :func:`judge_bucket`: every row of a set of chains: chain checks, keys and signatures,
   beacons, NOT_LOGGED and time; the verdicts that are not OK, the findings, the chains.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import _core
from ..bundle.format_v2 import NOTE_SCHEMA, RECORD_SCHEMA_V2, check_read_table
from ..errors import BundleError
from ..safe_read import open_parquet
from .chains import chain_summary
from .columns import binary_column_spec, column_array, int_column_spec
from .v2_columns import note_spec, receipt_specs, record_specs_v2
from .v2_report import RECORD_VERDICT_CODES_V2

__all__ = [
    "BucketResult",
    "JudgeContext",
    "LogRequest",
    "PartLog",
    "PartRef",
    "PartSummary",
    "judge_bucket",
    "log_part",
    "read_part",
    "scan_part",
]

#: The columns a shard adds to the record columns: the row's number in the bundle and
#: pass 1's flags (link and commitment checked where the part was read).
ROW_COLUMN = "_row"
FLAGS_COLUMN = "_flags"
_LOG_COLUMNS = ("log_index", "link", "received_ms")
_OK = RECORD_VERDICT_CODES_V2.index("OK")


@dataclass(frozen=True)
class PartRef:
    """One records file of a bundle: a local path or an fsspec URL (``s3://``, ...), read
    by whichever worker runs the task; ``first_row`` is its first row's number."""

    index: int
    location: str
    first_row: int
    rows: int


def _is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def read_part(part: PartRef, columns: tuple[str, ...] | None = None) -> tuple[pa.Table, list[str]]:
    """The part's records (or ``columns`` of them), checked as the bundle reader checks
    them; and the schema notes of that check (decision 13)."""
    notes: list[str] = []
    schema = RECORD_SCHEMA_V2
    if columns is not None:
        schema = pa.schema([RECORD_SCHEMA_V2.field(c) for c in columns])
    names = list(columns) if columns is not None else None
    if _is_url(part.location):
        import fsspec  # a dependency of dask; only URLs need it

        try:
            with fsspec.open(part.location, "rb") as handle:
                table = pq.read_table(handle, columns=names)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise BundleError(f"{part.location}: unreadable Parquet: {exc}") from None
    else:
        location = part.location.removeprefix("file://")
        with open_parquet(Path(location)) as (parquet, _):
            try:
                table = parquet.read(columns=names)
            except (pa.ArrowException, OSError) as exc:
                raise BundleError(f"{location}: unreadable Parquet: {exc}") from None
    if table.num_rows != part.rows:
        raise BundleError(
            f"{part.location}: {table.num_rows} rows, its footer said {part.rows} (it changed)"
        )
    return check_read_table(table, schema, Path(part.location), notes), notes


@dataclass
class PartSummary:
    """What a part's scan tells the driver (small: a few lists)."""

    index: int
    rows: int
    runs: list[tuple[int, int]]
    duplicates: list[int]
    unrebuildable: list[int]
    beacon_sizes: list[int]
    #: (size, greatest received_ms of the part's entries below it) per size asked.
    max_received: list[tuple[int, int | None]]
    schema_notes: list[str]


def scan_part(
    part: PartRef, buckets: int, sizes: list[int], threads: int | None = None
) -> tuple[PartSummary, list[pa.Table | None]]:
    """Task 1: the part's summary, and its rows by chain bucket (None: no rows there)."""
    table, notes = read_part(part)
    raw = _core.v2_part_scan(record_specs_v2(table), buckets, sizes, threads=threads)
    flags = np.frombuffer(raw["flags"], dtype="<u2")
    bucket_of = np.frombuffer(raw["buckets"], dtype="<u4")
    table = table.append_column(
        ROW_COLUMN, pa.array(np.arange(part.first_row, part.first_row + table.num_rows))
    ).append_column(FLAGS_COLUMN, pa.array(flags, pa.uint16()))
    order = np.argsort(bucket_of, kind="stable")
    bounds = np.searchsorted(bucket_of[order], np.arange(buckets + 1))
    shards: list[pa.Table | None] = []
    for b in range(buckets):
        rows = order[bounds[b] : bounds[b + 1]]
        shards.append(table.take(pa.array(rows)) if len(rows) else None)
    summary = PartSummary(
        index=part.index,
        rows=table.num_rows,
        runs=[(int(a), int(b)) for a, b in raw["runs"]],
        duplicates=list(raw["duplicates"]),
        unrebuildable=list(raw["unrebuildable"]),
        beacon_sizes=list(raw["beacon_sizes"]),
        max_received=list(zip(sizes, raw["max_received"], strict=True)),
        schema_notes=notes,
    )
    return summary, shards


@dataclass
class LogRequest:
    """What the driver asks of one part's log (see ``partial.rs``'s ``LogRequest``), and
    the receipts it sent to the part (every receipt of positions the part holds, or of
    positions no part holds: :func:`.plan_log.split_receipts`), checked under the trusted
    ``log_key`` (SPEC 3)."""

    cuts: list[int]
    limit: int
    skip: list[int] = field(default_factory=list)
    lookups: list[int] = field(default_factory=list)
    receipts: pa.Table | None = None
    log_key: bytes = b""


@dataclass
class PartLog:
    """A part's aligned blocks (start, height, root) and looked-up slots; and its
    receipts' checks, a byte each in the order they were sent (``ReceiptCheck::code``)."""

    blocks: list[tuple[int, int, bytes]]
    slots: list[tuple[int, bytes | None, int | None]]
    receipt_checks: bytes = b""


def log_part(part: PartRef, request: LogRequest, threads: int | None = None) -> PartLog:
    """Task 2: only the part's log columns are read; the receipts sent with the request
    are checked against them (signatures batched, conflicts, the part's entry)."""
    table, _ = read_part(part, _LOG_COLUMNS)
    specs = {
        "log_index": int_column_spec("log_index", column_array(table, "log_index"), pa.uint64()),
        "link": binary_column_spec("link", column_array(table, "link")),
        "received_ms": int_column_spec(
            "received_ms", column_array(table, "received_ms"), pa.int64()
        ),
    }
    receipts = request.receipts
    blocks, slots, checks = _core.v2_part_log(
        specs,
        request.cuts,
        request.limit,
        request.skip,
        request.lookups,
        receipts=receipt_specs(receipts) if receipts is not None else None,
        log_key=request.log_key if receipts is not None else None,
        threads=threads,
    )
    return PartLog(blocks=blocks, slots=slots, receipt_checks=checks)


@dataclass
class JudgeContext:
    """What every chain bucket is judged against: small, the same for all buckets."""

    checkpoints: list[tuple[int | None, bytes | None, bytes | None]]
    notes: pa.Table
    manifest_origin: str
    manifest_log_key: bytes
    policy: Any
    roots: list[tuple[int, bytes]]
    entries: list[tuple[int, bytes, int]]
    duplicates: list[int]
    check_signatures: bool


@dataclass
class BucketResult:
    """A bucket's verdicts that are not OK (rows in the bundle's numbering), its time
    findings (with the rows' identities), and its chains' summary rows."""

    rows: Any  # numpy uint64: rows whose verdict is not OK
    codes: Any  # numpy uint8: their verdicts
    failure_ids: list[tuple[int, bytes | None, int | None]]
    malformed: dict[int, str]
    #: (row, code, time_ms, lower, upper, upper_witnessed, log_index, chain_id, seq)
    findings: list[tuple[Any, ...]]
    chains: pa.Table


def _combine_shards(shards: list[pa.Table]) -> pa.Table:
    from ..bundle.io_v2 import combine_tables

    return combine_tables(shards, RECORD_SCHEMA_V2, "a chain bucket's rows")


def judge_bucket(
    shards: list[pa.Table | None], ctx: JudgeContext, threads: int | None = None
) -> BucketResult | None:
    """Task 3: one chain bucket, its rows from every part (None: none in a part)."""
    present = [s for s in shards if s is not None]
    if not present:
        return None
    table = _combine_shards(present)
    flags = column_array(table, FLAGS_COLUMN).to_numpy(zero_copy_only=False).astype("<u2")
    raw = _core.v2_judge_bucket(
        record_specs_v2(table),
        flags.tobytes(),
        ctx.duplicates,
        ctx.checkpoints,
        note_spec(ctx.notes if ctx.notes is not None else NOTE_SCHEMA.empty_table()),
        ctx.manifest_origin,
        ctx.manifest_log_key,
        ctx.roots,
        ctx.entries,
        policy=ctx.policy,
        check_signatures=ctx.check_signatures,
        threads=threads,
    )
    verdicts = np.frombuffer(raw["records"], dtype=np.uint8)
    global_rows = column_array(table, ROW_COLUMN).to_numpy(zero_copy_only=False)
    local = np.flatnonzero(verdicts != _OK)
    ids = _identities(table, local.tolist())
    malformed = {int(global_rows[i]): reason for i, reason in raw["malformed_reasons"]}
    finding_rows = [f[0] for f in raw["time_findings"]]
    findings = [
        (int(global_rows[row]), code, t, lower, upper, witnessed, *ident)
        for (row, code, t, lower, upper, witnessed), ident in zip(
            raw["time_findings"], _identities(table, finding_rows), strict=True
        )
    ]
    ok_codes = [i for i, c in enumerate(RECORD_VERDICT_CODES_V2) if c in ("OK", "OK_REDACTED")]
    chains = chain_summary(table, np.isin(verdicts, ok_codes), True, 2**64 - 1)
    return BucketResult(
        rows=global_rows[local].astype(np.uint64),
        codes=verdicts[local].copy(),
        failure_ids=ids,
        malformed=malformed,
        findings=findings,
        chains=chains,
    )


def _identities(table: pa.Table, rows: list[int]) -> list[tuple[int, bytes | None, int | None]]:
    if not rows:
        return []
    picked = table.select(["log_index", "chain_id", "seq"]).take(pa.array(rows, pa.int64()))
    return list(
        zip(
            column_array(picked, "log_index").to_pylist(),
            column_array(picked, "chain_id").to_pylist(),
            column_array(picked, "seq").to_pylist(),
            strict=True,
        )
    )


def cpu_threads() -> int:
    """Threads for one task where a runner runs several at once (at least one)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
