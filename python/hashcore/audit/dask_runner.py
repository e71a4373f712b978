"""The Dask runner of the partitioned audit (``dask[distributed]``, the ``dask`` extra).

Each part's scan is a task on a worker, which reads the part where it lies (a path every
worker sees, or an fsspec URL); its chain buckets' rows stay on that worker as task
results until the bucket tasks fetch them (Dask moves them worker to worker: the shuffle),
and only the small summaries come to the driver. A worker lost mid-audit loses its
results; the scheduler runs their tasks again from the same inputs (the tasks are pure),
so the audit's answer is the same.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskRunner"]


class DaskRunner:
    """Runs the plan on the cluster of ``client``. ``threads``: the Rust threads of each
    task (default: each worker's cores, shared by the tasks it runs at once)."""

    def __init__(self, client: Client, *, threads: int | None = None) -> None:
        # distributed is untyped: its calls go through Any.
        self.client: Any = client
        self.threads = threads
        self._run = uuid.uuid4().hex[:12]
        self._scans: list[Any] = []

    def _key(self, what: str, i: int) -> str:
        return f"hashcore-{what}-{self._run}-{i}"

    def default_buckets(self, parts: int, rows: int) -> int:
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        # A few buckets a worker spread the chain checks; never more than parts need.
        return max(1, min(4 * workers, max(parts, workers)))

    def scan(self, parts: Sequence[PartRef], buckets: int, sizes: list[int]) -> list[PartSummary]:
        c = self.client
        self._scans = [
            c.submit(scan_part, p, buckets, sizes, self.threads, key=self._key("scan", p.index))
            for p in parts
        ]
        heads = [
            c.submit(operator.getitem, f, 0, key=self._key("summary", i))
            for i, f in enumerate(self._scans)
        ]
        summaries: list[PartSummary] = c.gather(heads)
        return summaries

    def log(self, parts: Sequence[PartRef], requests: Sequence[LogRequest]) -> list[PartLog]:
        futures = [
            self.client.submit(log_part, p, r, self.threads, key=self._key("log", p.index))
            for p, r in zip(parts, requests, strict=True)
        ]
        logs: list[PartLog] = self.client.gather(futures)
        return logs

    def judge(self, buckets: int, ctx: JudgeContext) -> list[BucketResult | None]:
        c = self.client
        # One task that holds the context (not a scatter): if its worker dies, the
        # scheduler computes it again from the graph like any other lost result.
        shared = c.submit(_same, ctx, key=self._key("context", 0))
        futures = []
        for b in range(buckets):
            shards = [
                c.submit(_shard, f, b, key=self._key(f"shard{b}", i))
                for i, f in enumerate(self._scans)
            ]
            futures.append(
                c.submit(judge_bucket, shards, shared, self.threads, key=self._key("judge", b))
            )
        results: list[BucketResult | None] = c.gather(futures)
        self._scans = []
        return results


def _shard(scan: tuple[PartSummary, list[Any]], bucket: int) -> Any:
    return scan[1][bucket]


def _same(value: Any) -> Any:
    return value
