"""``audit_bundle_partitioned``: the v2 audit of a bundle directory part by part, on a
runner (:class:`.plan_runners.LocalRunner`, streamed in this process;
:class:`.dask_runner.DaskRunner`, on a Dask cluster). Same arguments, checks and report as
:func:`hashcore.audit.v2_bundle.audit_bundle_v2`, which reads the whole bundle at once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from .._validate import int_in
from ..bundle.format import record_files
from ..bundle.format_v2 import (
    CHECKPOINT_SCHEMA_V2,
    NOTE_SCHEMA,
    RECEIPT_SCHEMA,
    check_read_table,
    read_manifest_v2,
)
from ..bundle.io_v2 import combine_tables, read_evidence_file
from ..errors import BundleError, InvalidInputError
from ..policy import Policy, load_policy
from ..safe_read import open_parquet
from .plan import Runner, run_plan
from .plan_report import PlanInputs
from .plan_tasks import PartRef
from .v2_bundle import EvidenceSource, PolicySource
from .v2_engine import ChainAnchors
from .v2_report import AuditReportV2

__all__ = ["audit_bundle_partitioned", "bundle_parts"]


def bundle_parts(root: Path) -> list[PartRef]:
    """The bundle's records files in the bundle reader's order (records.parquet, then
    records/*.parquet by name), each with its first row's number from the footers."""
    parts = []
    first = 0
    for i, file in enumerate(record_files(root)):
        with open_parquet(file) as (_, rows):
            pass
        parts.append(PartRef(index=i, location=str(file), first_row=first, rows=rows))
        first += rows
    return parts


def _read_small(file: Path, schema: pa.Schema, notes: list[str]) -> pa.Table:
    with open_parquet(file) as (parquet, _):
        try:
            table = parquet.read()
        except (pa.ArrowException, OSError) as exc:
            raise BundleError(f"{file}: unreadable Parquet: {exc}") from None
    return check_read_table(table, schema, file, notes)


def _evidence(
    sources: Sequence[EvidenceSource], kind: str, schema_notes: list[str]
) -> list[pa.Table]:
    """Evidence handed in, read as :func:`hashcore.audit.v2_bundle.audit_bundle_v2` does."""
    if isinstance(sources, str | os.PathLike | pa.Table):
        raise InvalidInputError(f"{kind} must be a list of files or tables, not one")
    return [
        s if isinstance(s, pa.Table) else read_evidence_file(s, kind, schema_notes) for s in sources
    ]


def audit_bundle_partitioned(
    path: str | os.PathLike[str],
    runner: Runner,
    *,
    policy: PolicySource | None = None,
    receipts: Sequence[EvidenceSource] = (),
    notes: Sequence[EvidenceSource] = (),
    strict_time: bool = False,
    as_of: int | None = None,
    chain_anchors: ChainAnchors | None = None,
    check_signatures: bool = True,
    buckets: int | None = None,
) -> AuditReportV2:
    """Audit a v2 bundle (SPEC v2 section 5) with ``runner``; arguments and errors as
    :func:`hashcore.audit.v2_bundle.audit_bundle_v2`. ``buckets``: how many chain buckets
    the records are cut into (default: the runner's choice; any count gives the same
    report)."""
    trusted = load_policy(policy) if isinstance(policy, str | os.PathLike) else policy
    if trusted is not None and not isinstance(trusted, Policy):
        raise InvalidInputError(f"policy must be a Policy or a file, not {type(policy).__name__}")
    evm = trusted.evm if trusted is not None else None
    if evm is not None and chain_anchors is None:
        raise InvalidInputError(
            f"the policy's anchors are on an EVM chain (chain id {evm.chain_id}, contract "
            f"{evm.contract}): give a node of that chain (--evm-url URL, evm_url=) to check "
            "them"
        )
    if chain_anchors is not None and evm is None:
        raise InvalidInputError("anchors are checked only under a policy with evm (SPEC 3)")
    if as_of is not None:
        as_of = int_in("as_of", as_of, 0, 2**64 - 1)
    if buckets is not None:
        buckets = int_in("buckets", buckets, 1, 1 << 16)
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory (a bundle is a directory)")
    manifest = read_manifest_v2(root)
    parts = bundle_parts(root)
    schema_notes: list[str] = []
    cp_file = root / "checkpoints.parquet"
    if not os.path.lexists(cp_file):
        raise BundleError(f"{cp_file}: missing")
    checkpoints = _read_small(cp_file, CHECKPOINT_SCHEMA_V2, schema_notes)
    own_receipts = (
        read_evidence_file(root / "receipts.parquet", "receipts", schema_notes)
        if os.path.lexists(root / "receipts.parquet")
        else RECEIPT_SCHEMA.empty_table()
    )
    own_notes = (
        read_evidence_file(root / "notes.parquet", "notes", schema_notes)
        if os.path.lexists(root / "notes.parquet")
        else NOTE_SCHEMA.empty_table()
    )
    receipt_tables = [own_receipts, *_evidence(receipts, "receipts", schema_notes)]
    note_tables = [own_notes, *_evidence(notes, "notes", schema_notes)]
    inputs = PlanInputs(
        parts=parts,
        checkpoints=checkpoints,
        receipts=combine_tables(receipt_tables, RECEIPT_SCHEMA, "receipts"),
        notes=combine_tables(note_tables, NOTE_SCHEMA, "notes"),
        manifest_origin=manifest.origin,
        manifest_log_key=manifest.log_key,
        policy=trusted,
        anchors=chain_anchors.anchors if chain_anchors is not None else None,
        head_block=chain_anchors.head_block if chain_anchors is not None else None,
        as_of=as_of,
        strict_time=strict_time,
        check_signatures=bool(check_signatures),
    )
    report = run_plan(runner, inputs, buckets)
    # The parts' notes come first, as the bundle reader reads the records first.
    report.schema_notes = [*report.schema_notes, *schema_notes]
    report.exported_ms = manifest.exported_ms
    return report
