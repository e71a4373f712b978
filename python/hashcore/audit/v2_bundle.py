"""``audit_bundle_v2``: the v2 audit of a bundle directory with the evidence handed in.

The bundle's own receipts.parquet and notes.parquet are read, and receipts and notes from
elsewhere (a participant's phone, a site's mirror) are added to them; every row gets its
own verdict (decision 14). Trust comes from the policy (SPEC 3), or, without one, from the
manifest, and the report says which. A policy with ``evm`` needs a node (``evm_url``):
the anchorer's anchors are read from it (SPEC 2.5) and judged by the engine with the rest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import pyarrow as pa

from ..bundle.format_v2 import NOTE_SCHEMA, RECEIPT_SCHEMA
from ..bundle.io_v2 import combine_tables, read_bundle_v2, read_evidence_file
from ..errors import InvalidInputError
from ..policy import Policy, load_policy
from .v2_engine import audit_tables_v2
from .v2_report import AuditReportV2

if TYPE_CHECKING:
    from ..anchor.chain_reads import ChainReads
    from ..anchor.policy_anchors import AnchorReading

__all__ = ["EvidenceSource", "EvmSource", "PolicySource", "audit_bundle_v2"]

#: Evidence handed in: a Parquet file in the SPEC 4 shape, or a table of that shape.
EvidenceSource: TypeAlias = str | os.PathLike[str] | pa.Table
#: A checked policy, or the path of its file.
PolicySource: TypeAlias = Policy | str | os.PathLike[str]
#: An EVM node: its JSON-RPC URL (read-only), or a connected chain client.
EvmSource: TypeAlias = "str | ChainReads"


def _read_anchors(policy: Policy | None, evm_url: EvmSource | None) -> AnchorReading | None:
    """The anchorer's anchors, where the policy has ``evm`` (SPEC 2.5)."""
    evm = policy.evm if policy is not None else None
    if evm is None:
        if evm_url is not None:
            raise InvalidInputError(
                "an EVM node was given (evm_url, --evm-url) but "
                + ("the policy has no evm" if policy is not None else "there is no policy")
                + ": anchors are checked only under a policy with evm (SPEC 3)"
            )
        return None
    assert policy is not None
    if evm_url is None:
        raise InvalidInputError(
            f"the policy's anchors are on an EVM chain (chain id {evm.chain_id}, contract "
            f"{evm.contract}): give a node of that chain (--evm-url URL, evm_url=) to check "
            "them"
        )
    # Imported here: hashcore.anchor imports the v1 audit from this package.
    from ..anchor.chain import EvmChain
    from ..anchor.policy_anchors import read_policy_anchors

    chain = EvmChain.connect(evm_url) if isinstance(evm_url, str) else evm_url
    return read_policy_anchors(chain, evm, policy.log_key)


def _evidence(
    sources: Sequence[EvidenceSource], kind: str, schema_notes: list[str]
) -> list[pa.Table]:
    if isinstance(sources, str | os.PathLike | pa.Table):
        raise InvalidInputError(f"{kind} must be a list of files or tables, not one")
    tables = []
    for source in sources:
        if isinstance(source, pa.Table):
            tables.append(source)
        else:
            tables.append(read_evidence_file(source, kind, schema_notes))
    return tables


def audit_bundle_v2(
    path: str | os.PathLike[str],
    *,
    policy: PolicySource | None = None,
    receipts: Sequence[EvidenceSource] = (),
    notes: Sequence[EvidenceSource] = (),
    strict_time: bool = False,
    as_of: int | None = None,
    evm_url: EvmSource | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
) -> AuditReportV2:
    """Audit a v2 bundle (SPEC v2 section 5).

    ``policy`` is the trust policy (a :class:`Policy` or its file); without it the
    manifest's origin and log key are trusted with quorum 0 and SPEC 3's delays, and
    ``report.log_identity_source`` is ``"bundle"``. ``receipts`` and ``notes`` are more
    evidence (``receipts.parquet`` / ``notes.parquet`` shaped files or tables). With
    ``strict_time`` the time findings make the audit unclean; ``as_of`` names the tree
    size the bundle is meant to cover (an older export, decision 5). ``evm_url`` is the
    EVM node (URL or chain client) the anchors are read from; required exactly when the
    policy has ``evm``. ``threads`` (default: all cores, at most 256) and
    ``check_signatures`` as :func:`hashcore.verify_bulk`.

    Raises:
        BundleError: the bundle or an evidence file is unreadable or not SPEC 4's shape.
        PolicyError: the policy file is unreadable or not exactly SPEC 3.
        ColumnError, ColumnTypeError: a column the engine can't read.
        InvalidInputError: a bad ``as_of``; a policy with ``evm`` and no ``evm_url``, or
            ``evm_url`` without a policy with ``evm``.
        AnchorError: the node serves another chain id, or has no contract at the
            policy's address; ChainUnreachableError: it did not answer.
    """
    trusted = load_policy(policy) if isinstance(policy, str | os.PathLike) else policy
    if trusted is not None and not isinstance(trusted, Policy):
        raise InvalidInputError(f"policy must be a Policy or a file, not {type(policy).__name__}")
    bundle = read_bundle_v2(Path(path))
    reading = _read_anchors(trusted, evm_url)
    schema_notes = list(bundle.schema_notes)
    receipt_tables = [bundle.receipts, *_evidence(receipts, "receipts", schema_notes)]
    note_tables = [bundle.notes, *_evidence(notes, "notes", schema_notes)]
    report = audit_tables_v2(
        bundle.records,
        bundle.checkpoints,
        manifest_origin=bundle.manifest.origin,
        manifest_log_key=bundle.manifest.log_key,
        policy=trusted,
        receipts=combine_tables(receipt_tables, RECEIPT_SCHEMA, "receipts"),
        notes=combine_tables(note_tables, NOTE_SCHEMA, "notes"),
        strict_time=strict_time,
        as_of=as_of,
        anchors=reading.anchors if reading is not None else None,
        head_block=reading.head_block if reading is not None else None,
        threads=threads,
        check_signatures=check_signatures,
    )
    report.schema_notes = schema_notes
    report.exported_ms = bundle.manifest.exported_ms
    return report
