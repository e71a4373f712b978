"""The partitioned audit's view of the whole log, from the parts' scans (driver side).

Each part tells which positions it holds (runs) and which break the log in it; here they
are put together: positions held twice (DUPLICATE_LOG_INDEX, within a part or across
parts), the rebuildable prefix so far, and what each part is asked for next (its blocks,
split at the sizes roots are asked at, and the entries the driver looks up). A position
two parts hold is contributed by the lower-numbered one, and is a block boundary, so that
the prefix can still stop there once the parts' slots at it are compared.

The receipts go with the log requests: each to one part holding its position
(:func:`split_receipts`), whose log task checks them, and their checks come back a byte a
receipt, put back in the receipts' order here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import column_array
from .plan_tasks import LogRequest, PartLog, PartSummary

__all__ = ["LogShape", "ReceiptSplit", "merged_slots", "shape_of", "split_receipts"]


def _holds(runs: list[tuple[int, int]], position: int) -> bool:
    i = bisect_right(runs, (position, 2**64)) - 1
    return i >= 0 and runs[i][0] <= position < runs[i][1]


@dataclass
class LogShape:
    """The log as the scans show it."""

    #: The union of the positions held, sorted disjoint runs.
    union: list[tuple[int, int]]
    #: Positions two or more rows claim (sorted).
    duplicates: list[int]
    #: Positions held by two or more parts (sorted; part of ``duplicates``).
    contested: list[int]
    #: The rebuildable prefix before contested slots are compared: the first position no
    #: part holds or one whose own slot breaks.
    limit: int


def shape_of(summaries: Sequence[PartSummary]) -> LogShape:
    runs = sorted((a, b) for s in summaries for a, b in s.runs)
    union: list[tuple[int, int]] = []
    contested: set[int] = set()
    for a, b in runs:
        if union and a < union[-1][1]:
            contested.update(range(a, min(b, union[-1][1])))
        if union and a <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], b))
        else:
            union.append((a, b))
    first_missing = 0 if not union or union[0][0] > 0 else union[0][1]
    broken = [p for s in summaries for p in s.unrebuildable]
    limit = min([first_missing, *broken])
    within = {p for s in summaries for p in s.duplicates}
    return LogShape(
        union=union,
        duplicates=sorted(within | contested),
        contested=sorted(contested),
        limit=limit,
    )


def requests_for(
    summaries: Sequence[PartSummary], shape: LogShape, sizes: Sequence[int], lookups: set[int]
) -> list[LogRequest]:
    """What each part is asked: blocks below ``shape.limit`` cut at ``sizes`` and the
    contested positions, less the contested positions a lower part contributes; and the
    slots at ``lookups`` (and the contested positions) it holds."""
    cuts = sorted({s for s in sizes if s <= shape.limit} | set(shape.contested))
    wanted = sorted(lookups | set(shape.contested))
    owner: dict[int, int] = {}
    requests = []
    for s in sorted(summaries, key=lambda s: s.index):
        held = [p for p in wanted if _holds(s.runs, p)]
        skip = []
        for p in shape.contested:
            if _holds(s.runs, p):
                if p in owner:
                    skip.append(p)
                else:
                    owner[p] = s.index
        requests.append(LogRequest(cuts=cuts, limit=shape.limit, skip=skip, lookups=held))
    ordered = sorted(summaries, key=lambda s: s.index)
    by_index = {s.index: r for s, r in zip(ordered, requests, strict=True)}
    return [by_index[s.index] for s in summaries]


def merged_slots(
    logs: Sequence[PartLog], shape: LogShape
) -> tuple[list[tuple[int, bytes, int]], int]:
    """The log's entries at the looked-up positions (those whose slots agree in every part
    holding them), and the rebuildable prefix: ``shape.limit``, or the first contested
    position whose parts' slots differ (it then can't be rebuilt, as in ``Log::build``)."""
    seen: dict[int, tuple[bytes, int] | None] = {}
    for log in logs:
        for position, link, ms in log.slots:
            slot = None if link is None or ms is None else (link, ms)
            if position not in seen:
                seen[position] = slot
            elif seen[position] != slot:
                seen[position] = None
    limit = shape.limit
    for p in shape.contested:
        if p < limit and seen.get(p) is None:
            limit = p
            break
    entries = []
    for position, slot in sorted(seen.items()):
        if slot is not None:
            entries.append((position, slot[0], slot[1]))
    return entries, limit


@dataclass
class ReceiptSplit:
    """The receipts cut by the part (in the summaries' order) their log task checks."""

    #: Per part, its receipts (None: none).
    tables: list[pa.Table | None]
    #: The receipts' rows, part after part; part k's are ``order[bounds[k]:bounds[k + 1]]``.
    order: Any
    bounds: Any

    def gather(self, logs: Sequence[PartLog]) -> bytes:
        """The parts' receipt checks, a byte a receipt in the receipts' own order."""
        out = np.zeros(len(self.order), dtype=np.uint8)
        for k, log in enumerate(logs):
            rows = self.order[self.bounds[k] : self.bounds[k + 1]]
            checks = np.frombuffer(log.receipt_checks, dtype=np.uint8)
            if len(checks) != len(rows):
                raise RuntimeError(
                    f"part {k}'s log task checked {len(checks)} receipts of {len(rows)}"
                )
            out[rows] = checks
        return out.tobytes()


def split_receipts(summaries: Sequence[PartSummary], receipts: pa.Table) -> ReceiptSplit:
    """Each receipt to a part holding its position (where none does, or the position is
    null, to the part of the run before it, or the first): all the receipts of a position
    go to one part, so that its task sees their conflicts, and the part's entry there is
    the log's wherever the verdict reads it (below the attested size every part holding
    a position agrees). The runs are cut into disjoint segments, each one part's."""
    starts: list[int] = []
    owners: list[int] = []
    reach = 0
    for a, b, k in sorted((a, b, k) for k, s in enumerate(summaries) for a, b in s.runs):
        a = max(a, reach)
        if a < b:
            starts.append(a)
            owners.append(k)
            reach = b
    index = column_array(receipts, "log_index")
    positions = pc.fill_null(index, 0).to_numpy(zero_copy_only=False).astype(np.uint64)
    if starts:
        at = np.searchsorted(np.array(starts, dtype=np.uint64), positions, side="right") - 1
        owner = np.array(owners, dtype=np.int64)[np.maximum(at, 0)]
    else:
        owner = np.zeros(len(positions), dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(summaries) + 1))
    tables: list[pa.Table | None] = [
        receipts.take(pa.array(order[bounds[k] : bounds[k + 1]]))
        if bounds[k + 1] > bounds[k]
        else None
        for k in range(len(summaries))
    ]
    return ReceiptSplit(tables=tables, order=order, bounds=bounds)
