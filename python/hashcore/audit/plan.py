"""The v2 audit of a bundle as a plan of tasks and a combine step, for any engine.

The engine seam is :class:`Runner`: three calls that run one task function
(:mod:`.plan_tasks`) over many inputs and keep the chain buckets' rows between the first
and the third. :class:`.plan_runners.LocalRunner` streams the parts through this process;
:class:`.dask_runner.DaskRunner` spreads them over a Dask cluster; a Ray or Spark runner
would implement the same three calls. Nothing of the audit's logic is in a runner.

The plan (every step's work is in the Rust engine, ``partial.rs`` / ``partial_judge.rs``):

1. ``scan`` every part where it lies: its rows alone, what it says of the log, its rows
   cut into buckets by a hash of chain_id (kept by the runner: a shuffle).
2. The driver puts the log together (:mod:`.plan_log`) and asks each part for its
   subtree roots of 2^k-aligned leaf ranges and a few entries (``log``); each part's task
   also checks the receipts of the positions it holds (signatures in batches, conflicts,
   the part's entry there), a byte a receipt back.
3. The driver folds the roots (RFC 6962 splits that way) into the roots at every size
   asked, and judges checkpoints, notes and anchors, and finishes the receipts' verdicts
   from their checks once the attested size and deadline are known (``v2_combine``).
4. ``judge`` each bucket: its chains, their keys and signatures, beacons and time.
5. The driver assembles an :class:`AuditReportV2` equal field by field to the in-memory
   audit's (:func:`hashcore.audit.v2_engine.audit_tables_v2`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .. import _core
from .plan_log import merged_slots, requests_for, shape_of, split_receipts
from .plan_report import PlanInputs, assemble_report
from .plan_tasks import BucketResult, JudgeContext, LogRequest, PartLog, PartRef, PartSummary
from .v2_columns import checkpoint_rows_v2, note_spec, receipt_specs
from .v2_report import AuditReportV2

__all__ = ["Runner", "run_plan"]


class Runner(Protocol):
    """An engine that runs the plan's tasks (see the module's docstring)."""

    def scan(self, parts: Sequence[PartRef], buckets: int, sizes: list[int]) -> list[PartSummary]:
        """:func:`.plan_tasks.scan_part` of every part; its summaries in part order. The
        buckets' rows stay with the runner for :meth:`judge`."""
        ...

    def log(self, parts: Sequence[PartRef], requests: Sequence[LogRequest]) -> list[PartLog]:
        """:func:`.plan_tasks.log_part` of every part with its request, in part order."""
        ...

    def judge(self, buckets: int, ctx: JudgeContext) -> list[BucketResult | None]:
        """:func:`.plan_tasks.judge_bucket` of each bucket the last scan left."""
        ...

    def default_buckets(self, parts: int, rows: int) -> int:
        """How many chain buckets to cut the rows into."""
        ...


def run_plan(runner: Runner, inputs: PlanInputs, buckets: int | None = None) -> AuditReportV2:
    """Audits ``inputs.parts`` with ``runner``: the report the in-memory audit gives."""
    parts = inputs.parts
    nbuckets = (
        buckets
        if buckets is not None
        else runner.default_buckets(len(parts), sum(p.rows for p in parts))
    )
    cp_rows = checkpoint_rows_v2(inputs.checkpoints)
    policy_args = inputs.policy.engine_args() if inputs.policy is not None else None
    anchor_args = (
        [(a.tree_size, a.root, a.is_final) for a in inputs.anchors]
        if inputs.anchors is not None
        else None
    )
    notes_spec = note_spec(inputs.notes)
    asked = _core.v2_asked_sizes(
        cp_rows,
        notes_spec,
        inputs.manifest_origin,
        inputs.manifest_log_key,
        policy=policy_args,
        anchors=anchor_args,
    )
    summaries = runner.scan(parts, nbuckets, list(asked))
    shape = shape_of(summaries)
    sizes = sorted(set(asked) | {b for s in summaries for b in s.beacon_sizes})
    requests = requests_for(summaries, shape, sizes, {b - 1 for b in sizes if b >= 1})
    receipts = split_receipts(summaries, inputs.receipts)
    log_key = inputs.policy.log_key if inputs.policy is not None else inputs.manifest_log_key
    for request, table in zip(requests, receipts.tables, strict=True):
        request.receipts, request.log_key = table, log_key
    logs = runner.log(parts, requests)
    entries, limit = merged_slots(logs, shape)
    combined = _core.v2_combine(
        cp_rows,
        receipt_specs(inputs.receipts),
        receipts.gather(logs),
        notes_spec,
        inputs.manifest_origin,
        inputs.manifest_log_key,
        [b for log in logs for b in log.blocks],
        limit,
        sizes,
        entries,
        shape.union,
        [m for s in summaries for m in s.max_received],
        policy=policy_args,
        as_of=inputs.as_of,
        anchors=anchor_args,
    )
    ctx = JudgeContext(
        checkpoints=cp_rows,
        notes=inputs.notes,
        manifest_origin=inputs.manifest_origin,
        manifest_log_key=inputs.manifest_log_key,
        policy=policy_args,
        roots=list(combined["roots"]),
        entries=entries,
        duplicates=shape.duplicates,
        check_signatures=inputs.check_signatures,
    )
    results = [r for r in runner.judge(nbuckets, ctx) if r is not None]
    schema_notes = [n for s in summaries for n in s.schema_notes]
    return assemble_report(inputs, combined, results, cp_rows, schema_notes)
