"""The local runner of the partitioned audit: the plan's tasks in this process, one part
at a time, so that memory holds one part (or one chain bucket) and small summaries.

The chain buckets' rows go to Arrow IPC files under a spill directory (a temporary one by
default) while the parts are scanned, and are read back one bucket at a time to be
judged: the shuffle of a distributed engine, on disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.ipc as ipc

from .plan_tasks import (
    BucketResult,
    JudgeContext,
    LogRequest,
    PartLog,
    PartRef,
    PartSummary,
    judge_bucket,
    log_part,
    scan_part,
)

__all__ = ["LocalRunner"]

#: Rows a chain bucket should hold, about (a bucket is in memory while it is judged).
BUCKET_ROWS = 1 << 18


class LocalRunner:
    """Runs the plan in this process with bounded memory. ``threads`` as
    :func:`hashcore.verify_bulk` (each task's Rust work); ``spill_dir`` is where the
    buckets' rows wait (a temporary directory, removed by :meth:`close`, by default)."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        spill_dir: str | os.PathLike[str] | None = None,
        bucket_rows: int = BUCKET_ROWS,
    ) -> None:
        self.threads = threads
        self._own_dir = spill_dir is None
        self._dir = Path(
            tempfile.mkdtemp(prefix="hashcore-audit-") if spill_dir is None else spill_dir
        )
        self._bucket_rows = bucket_rows
        self._files: list[list[Path]] = []

    def default_buckets(self, parts: int, rows: int) -> int:
        return max(1, min(4096, -(-rows // self._bucket_rows)))

    def scan(self, parts: Sequence[PartRef], buckets: int, sizes: list[int]) -> list[PartSummary]:
        self._files = [[] for _ in range(buckets)]
        summaries = []
        for part in parts:
            summary, shards = scan_part(part, buckets, sizes, threads=self.threads)
            for b, shard in enumerate(shards):
                if shard is None:
                    continue
                file = self._dir / f"bucket-{b:05d}-part-{part.index:06d}.arrow"
                with pa.OSFile(str(file), "wb") as sink, ipc.new_file(sink, shard.schema) as w:
                    w.write_table(shard)
                self._files[b].append(file)
            summaries.append(summary)
        return summaries

    def log(self, parts: Sequence[PartRef], requests: Sequence[LogRequest]) -> list[PartLog]:
        return [log_part(p, r, threads=self.threads) for p, r in zip(parts, requests, strict=True)]

    def judge(self, buckets: int, ctx: JudgeContext) -> list[BucketResult | None]:
        out: list[BucketResult | None] = []
        for files in self._files:
            shards: list[pa.Table | None] = []
            for file in files:
                with pa.OSFile(str(file), "rb") as source:
                    shards.append(ipc.open_file(source).read_all())
            out.append(judge_bucket(shards, ctx, threads=self.threads))
            for file in files:
                file.unlink()
        return out

    def close(self) -> None:
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
