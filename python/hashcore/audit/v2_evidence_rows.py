"""The engine's verdicts on checkpoints, evidence notes, receipts and anchors as report
rows, for both engines: the in-memory audit (:func:`hashcore.audit.v2_engine.
audit_tables_v2`, ``v2_audit``'s answer) and the partitioned one (:mod:`.plan_report`,
``v2_combine``'s), which answer these fields under the same keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .columns import column_array
from .v2_report import (
    ANCHOR_VERDICT_CODES,
    CHECKPOINT_VERDICT_CODES_V2,
    NOTE_VERDICT_CODES,
    RECEIPT_VERDICT_CODES,
    AnchorVerdictV2,
    CheckpointVerdictV2,
    EvidenceNoteVerdict,
    ReceiptVerdict,
    note_rejection,
)

if TYPE_CHECKING:
    from .chain_anchors import ChainAnchor

__all__ = ["EvidenceRows", "evidence_rows"]


@dataclass
class EvidenceRows:
    checkpoints: list[CheckpointVerdictV2]
    receipts: list[ReceiptVerdict]
    evidence_notes: list[EvidenceNoteVerdict]
    anchors: list[AnchorVerdictV2]


def evidence_rows(
    raw: dict[str, Any],
    cp_rows: Sequence[tuple[int | None, bytes | None, bytes | None]],
    notes: pa.Table,
    receipts: pa.Table,
    anchors: Sequence[ChainAnchor] | None,
    origin: str,
    log_key: bytes,
) -> EvidenceRows:
    """The rows of ``raw``'s ``checkpoints``, ``note_sizes`` / ``notes``, ``receipts`` and
    ``anchors``; rejections explained under the trusted ``origin`` and ``log_key``."""
    note_bytes = column_array(notes, "note")
    notes_out = []
    for i, (size, v) in enumerate(zip(raw["note_sizes"], raw["notes"], strict=True)):
        code = NOTE_VERDICT_CODES[v]
        reason = (
            note_rejection(note_bytes[i].as_py(), origin, log_key)
            if code == "NOTE_REJECTED"
            else None
        )
        notes_out.append(EvidenceNoteVerdict(row=i, tree_size=size, code=code, reason=reason))
    checkpoints_out = []
    for i, ((size, root, note), v) in enumerate(zip(cp_rows, raw["checkpoints"], strict=True)):
        code = CHECKPOINT_VERDICT_CODES_V2[v]
        reason = note_rejection(note, origin, log_key) if code == "BAD_CHECKPOINT_SIG" else None
        checkpoints_out.append(
            CheckpointVerdictV2(row=i, tree_size=size, root=root, code=code, reason=reason)
        )
    receipt_ids = zip(
        column_array(receipts, "log_index").to_pylist(),
        column_array(receipts, "chain_id").to_pylist(),
        column_array(receipts, "seq").to_pylist(),
        raw["receipts"],
        strict=True,
    )
    return EvidenceRows(
        checkpoints=checkpoints_out,
        receipts=[
            ReceiptVerdict(
                row=i, log_index=li, chain_id=cid, seq=seq, code=RECEIPT_VERDICT_CODES[v]
            )
            for i, (li, cid, seq, v) in enumerate(receipt_ids)
        ],
        evidence_notes=notes_out,
        anchors=[
            AnchorVerdictV2(
                row=i,
                tree_size=a.tree_size,
                root=a.root,
                tx_hash=a.tx_hash,
                block_number=a.block_number,
                confirmations=a.confirmations,
                code=ANCHOR_VERDICT_CODES[v],
            )
            for i, (a, v) in enumerate(zip(anchors or (), raw["anchors"], strict=True))
        ],
    )
