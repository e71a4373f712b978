"""Checking checkpoints' anchors on an EVM chain (SPEC 2.2, section 4).

For every checkpoint the auditor looks, with ``eth_getLogs``, for the ``Anchored`` event
of the trusted ``log_id`` and the checkpoint's ``tree_size`` emitted by the bundle's
contract, and compares its root with the checkpoint's. The bundle's ``tx_hash`` and
``block_number`` are only hints: they are used to explain a missing anchor, never as
evidence. Each checkpoint gets a state, which :func:`hashcore.verify_bulk` turns into its
verdict, and a reason a person can read:

- ``"final"``: an event with the same root, buried under ``confirmations`` blocks
  (the block itself counts as one) -> OK;
- ``"pending"``: such an event, not yet buried deep enough -> UNCONFIRMED;
- ``"missing"``: no such event (none at all, one with another root, the wrong contract,
  an RPC serving another chain id) -> NOT_ANCHORED;
- ``None``: the row is malformed and was not looked up (its verdict comes from the
  signature check).

What the auditor can't catch: an RPC that fabricates events consistently (a made-up
event with the right root). Use a node you trust, or several.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from eth_utils.address import to_checksum_address

from ..audit import VerifyReport, audit_bundle_v1
from ..audit.stream import Progress
from ..bundle import open_bundle
from ..checkpoint import parse_log_id
from ..errors import AnchorError, InvalidInputError
from .chain import EvmChain
from .contract import AnchoredEvent

__all__ = [
    "AnchorCheck",
    "EvmAudit",
    "anchor_states",
    "audit_bundle_with_evm",
    "check_anchors",
]

_VERDICTS = {"final": "OK", "pending": "UNCONFIRMED", "missing": "NOT_ANCHORED"}


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """What the chain says of one checkpoint row's anchor."""

    row: int
    tree_size: int | None
    #: "final", "pending", "missing", or None (row not checked).
    state: str | None
    reason: str
    #: Where the matching event is (None when there is none).
    tx_hash: bytes | None = None
    block_number: int | None = None
    confirmations: int | None = None

    @property
    def verdict(self) -> str | None:
        """The checkpoint verdict this state leads to when nothing earlier applies."""
        return _VERDICTS.get(self.state) if self.state is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "tree_size": self.tree_size,
            "state": self.state,
            "verdict": self.verdict,
            "reason": self.reason,
            "tx_hash": "0x" + self.tx_hash.hex() if self.tx_hash is not None else None,
            "block_number": self.block_number,
            "confirmations": self.confirmations,
        }


_Row = tuple[int | None, bytes | None, bytes | None, int | None]


def _rows(checkpoints: Any) -> list[_Row]:
    """(tree_size, root, tx_hash, block_number) per row, from a SPEC section 3 table or
    from objects with those attributes (Checkpoint, or StoredCheckpoint whose hints are
    in ``.anchor``)."""
    if isinstance(checkpoints, pa.Table | pa.RecordBatch):
        names = checkpoints.column_names
        n = checkpoints.num_rows

        def col(name: str) -> list[Any]:
            return checkpoints.column(name).to_pylist() if name in names else [None] * n

        return list(
            zip(col("tree_size"), col("root"), col("tx_hash"), col("block_number"), strict=True)
        )
    out: list[_Row] = []
    for cp in checkpoints:
        anchor = getattr(cp, "anchor", None)
        hints = anchor if anchor is not None else cp
        out.append(
            (
                getattr(cp, "tree_size", None),
                getattr(cp, "root", None),
                getattr(hints, "tx_hash", None),
                getattr(hints, "block_number", None),
            )
        )
    return out


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def _where(e: AnchoredEvent) -> str:
    return f"tx {_h(e.tx_hash)} in block {e.block_number}"


def check_anchors(
    checkpoints: pa.Table | pa.RecordBatch | Sequence[Any],
    log_id: bytes | str,
    chain: EvmChain,
    contract: str,
    confirmations: int,
    *,
    chain_id: int | None = None,
    from_block: int = 0,
    max_range: int | None = None,
) -> list[AnchorCheck]:
    """Look up every checkpoint's anchor on ``chain``; one :class:`AnchorCheck` per row.

    Args:
        checkpoints: a checkpoints table (SPEC section 3) or Checkpoint-like objects.
        log_id: the relay identity the auditor trusts (32 bytes or 64 hex).
        contract: the anchor contract (the manifest's ``evm.contract``).
        confirmations: blocks (the anchoring block included) for an anchor to be final.
        chain_id: the chain id the anchors must be on (the manifest's ``evm.chain_id``);
            an RPC serving another chain makes every checkpoint "missing".
        from_block, max_range: where ``eth_getLogs`` starts, and the largest block range
            of one query (for providers that limit it; None: one query).

    Raises:
        ChainUnreachableError: the node did not answer.
        InvalidInputError: a malformed ``log_id`` or ``contract``.
    """
    trusted = parse_log_id(log_id)
    try:
        address = to_checksum_address(contract)
    except ValueError:
        raise InvalidInputError(
            f"contract must be 0x and 40 hex digits, got {contract!r}"
        ) from None
    rows = _rows(checkpoints)
    served = chain.chain_id()

    def every(state: str, reason: str) -> list[AnchorCheck]:
        return [
            AnchorCheck(i, ts, state if ts is not None else None, reason)
            for i, (ts, _, _, _) in enumerate(rows)
        ]

    if chain_id is not None and served != chain_id:
        return every(
            "missing",
            f"the EVM node serves chain id {served}, but the anchors should be on chain id "
            f"{chain_id}: its events are no evidence",
        )
    if not chain.code_at(address):
        return every("missing", f"no contract at {address} on chain id {served}")
    head = chain.block_number()
    by_size: dict[int, list[AnchoredEvent]] = {}
    for e in chain.anchored_events(
        address, trusted, from_block=from_block, to_block=head, max_range=max_range
    ):
        # A node should filter by address and topics; don't rely on it.
        if e.contract.lower() == address.lower() and e.log_id == trusted:
            by_size.setdefault(e.tree_size, []).append(e)

    out: list[AnchorCheck] = []
    for i, (ts, root, hint_tx, hint_block) in enumerate(rows):
        if ts is None or not isinstance(root, bytes) or len(root) != 32:
            out.append(AnchorCheck(i, ts, None, "malformed checkpoint row: not looked up"))
            continue
        events = by_size.get(ts, [])
        same = [e for e in events if e.root == root]
        other = [e for e in events if e.root != root]
        if other:
            e = other[0]
            reason = (
                f"the Anchored event of tree_size {ts} ({_where(e)}) has root "
                f"{e.root.hex()}, not the checkpoint's root {root.hex()}"
            )
            if same:
                reason = f"conflicting Anchored events for tree_size {ts}: {reason}"
            out.append(AnchorCheck(i, ts, "missing", reason, e.tx_hash, e.block_number))
            continue
        if not same:
            reason = (
                f"no Anchored event of tree_size {ts} for this log_id from {address} on "
                f"chain id {served}"
            )
            out.append(AnchorCheck(i, ts, "missing", reason + _hint(chain, address, hint_tx)))
            continue
        e = same[0]
        conf = max(0, head - e.block_number + 1)
        final = conf >= confirmations
        reason = f"anchored in {_where(e)}, {conf} confirmation{'s' * (conf != 1)}" + (
            f" (>= {confirmations})" if final else f" of {confirmations} needed"
        )
        if hint_tx is not None and hint_tx != e.tx_hash:
            reason += f"; the bundle names tx {_h(hint_tx)} instead"
        elif hint_block is not None and hint_block != e.block_number:
            reason += f"; the bundle names block {hint_block} instead"
        out.append(
            AnchorCheck(
                i, ts, "final" if final else "pending", reason, e.tx_hash, e.block_number, conf
            )
        )
    return out


def _hint(chain: EvmChain, address: str, tx_hash: bytes | None) -> str:
    """Why the bundle's own tx_hash does not show the anchor, if it names one."""
    if not isinstance(tx_hash, bytes) or len(tx_hash) != 32:
        return ""
    receipt = chain.receipt(tx_hash)
    if receipt is None:
        return f"; the bundle's tx {_h(tx_hash)} is not on this chain"
    elsewhere = sorted(
        {e.contract for e in receipt.events if e.contract.lower() != address.lower()}
    )
    if elsewhere:
        return (
            f"; the bundle's tx {_h(tx_hash)} (block {receipt.block_number}) emitted "
            f"Anchored from {', '.join(elsewhere)}, not from {address}"
        )
    if receipt.status != 1:
        return f"; the bundle's tx {_h(tx_hash)} (block {receipt.block_number}) reverted"
    return f"; the bundle's tx {_h(tx_hash)} (block {receipt.block_number}) holds no such event"


def anchor_states(
    checkpoints: pa.Table | pa.RecordBatch | Sequence[Any],
    log_id: bytes | str,
    chain: EvmChain,
    contract: str,
    confirmations: int,
    **kwargs: Any,
) -> list[str | None]:
    """Just the states of :func:`check_anchors` (the ``anchors=`` of ``verify_bulk``)."""
    return [
        c.state
        for c in check_anchors(checkpoints, log_id, chain, contract, confirmations, **kwargs)
    ]


@dataclass(eq=False)
class EvmAudit:
    """A bundle audit with its anchors checked on chain."""

    report: VerifyReport
    #: One per checkpoint row, in the order of ``report.checkpoints``; empty when the
    #: manifest's ``evm`` is null (then nothing was checked on chain).
    anchors: list[AnchorCheck]
    #: The chain id the node serves, the contract, the newest block seen.
    evm_chain_id: int | None = None
    contract: str | None = None
    head_block: int | None = None
    #: The account that first anchored the log_id on this contract (SPEC 2.2: an
    #: identity source the relay does not control), or None.
    first_sender: str | None = None
    #: The largest tree_size anchored on chain for this log_id (whoever sent it), or None.
    #: Larger than the bundle's largest checkpoint means the bundle is a prefix of the log:
    #: an older export, or a withheld tail (a note says so; SPEC 4's verdicts can't tell).
    anchored_tree_size: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.report.clean

    def reasons(self) -> dict[int, str]:
        """Why each checkpoint that is not final got its state, by row."""
        return {c.row: c.reason for c in self.anchors if c.state != "final"}

    def to_json(self) -> dict[str, Any]:
        out = self.report.to_json()
        out["evm"] = {
            "chain_id": self.evm_chain_id,
            "contract": self.contract,
            "head_block": self.head_block,
            "first_sender": self.first_sender,
            "anchored_tree_size": self.anchored_tree_size,
            "anchors": [c.to_json() for c in self.anchors],
            "notes": list(self.notes),
        }
        return out


def audit_bundle_with_evm(
    path: str | os.PathLike[str],
    evm: str | EvmChain,
    *,
    log_id: bytes | str | None = None,
    confirmations: int | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    from_block: int = 0,
    max_range: int | None = None,
    progress: Progress | None = None,
) -> EvmAudit:
    """:func:`hashcore.audit_bundle` with the anchors checked on chain.

    ``evm`` is the node's URL (read-only) or an :class:`EvmChain`. ``log_id`` is the
    relay identity the auditor trusts (SPEC 2.2); without it the manifest's is used and
    the report says so. ``confirmations`` defaults to the manifest's. The manifest's
    ``evm.chain_id`` must be the chain the node serves, else every checkpoint is
    NOT_ANCHORED (with that reason). The records are streamed as by ``audit_bundle``
    (``progress`` is its).

    Raises:
        BundleError: the bundle is unreadable.
        ChainUnreachableError: the node did not answer.
        AnchorError: ``evm`` is not a usable URL.
    """
    bundle = open_bundle(path)
    trusted = parse_log_id(log_id) if log_id is not None else None
    used = trusted if trusted is not None else bundle.log_id
    notes: list[str] = []
    if trusted is None:
        notes.append("the log identity was taken from the bundle (SPEC 2.2)")
    checks: list[AnchorCheck] = []
    states: list[str | None] | None = None
    served: int | None = None
    address: str | None = None
    head: int | None = None
    first: str | None = None
    anchored: int | None = None
    if bundle.evm is None:
        notes.append("the manifest's evm is null: anchors were not checked on chain")
    else:
        chain = evm if isinstance(evm, EvmChain) else EvmChain.connect(evm)
        address = str(bundle.evm["contract"])
        need = int(bundle.evm["confirmations"]) if confirmations is None else confirmations
        checks = check_anchors(
            bundle.checkpoints,
            used,
            chain,
            address,
            need,
            chain_id=int(bundle.evm["chain_id"]),
            from_block=from_block,
            max_range=max_range,
        )
        states = [c.state for c in checks]
        served = chain.chain_id()
        address = to_checksum_address(address)
        head = chain.block_number()
        if served == bundle.evm["chain_id"] and chain.code_at(address):
            try:
                first, anchored = chain.anchor_state(address, used)
            except AnchorError:
                first = None
        if first is not None:
            notes.append(f"log_id {used.hex()} was first anchored by {first}")
        sizes = bundle.checkpoints.column("tree_size").to_pylist()
        largest = max((int(t) for t in sizes if t is not None), default=0)
        if first is not None and anchored is not None and anchored > largest:
            notes.append(
                f"the chain holds an anchor of tree_size {anchored}, beyond this bundle's "
                f"largest checkpoint ({largest}): the bundle holds only a prefix of the log "
                f"(records {largest}..{anchored - 1} are not in it)"
            )
    # The records are streamed, and the checkpoints read again, by audit_bundle; it sets
    # log_id_source and manifest_log_id_mismatch (SPEC 2.2) as before.
    report = audit_bundle_v1(
        bundle.path,
        log_id=trusted,
        threads=threads,
        check_signatures=check_signatures,
        anchors=states,
        progress=progress,
    )
    return EvmAudit(
        report=report,
        anchors=checks,
        evm_chain_id=served,
        contract=address,
        head_block=head,
        first_sender=first,
        anchored_tree_size=anchored if first is not None else None,
        notes=notes,
    )
