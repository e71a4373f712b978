"""The anchors a v2 audit counts (SPEC 2.5): the ``Anchored`` events of the policy's
contract with ``logId = log_key``, from the policy's ``from_block``, sent by the policy's
``anchorer`` (the transaction's sender), each final once ``head - block_number + 1 >=
confirmations``.

Only reading happens here; the verdicts (ANCHOR_*, NOT_ANCHORED / UNCONFIRMED, INCOMPLETE)
are the Rust engine's (``_core.v2_audit(anchors=...)``), beside every other verdict.

A node that serves another chain id than the policy's, or has no code at the policy's
contract, is refused (an :class:`AnchorError`): its events are no evidence, and calling
every checkpoint NOT_ANCHORED would blame the relay for the auditor's wrong node.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from ..errors import AnchorError
from ..policy import EvmPolicy
from .chain_reads import ChainReads

__all__ = ["AnchorReading", "PolicyAnchor", "read_policy_anchors"]


@dataclass(frozen=True, slots=True)
class PolicyAnchor:
    """One Anchored event by the policy's anchorer."""

    tree_size: int
    root: bytes
    tx_hash: bytes
    block_number: int
    #: ``head - block_number + 1`` (the block itself counts).
    confirmations: int
    is_final: bool

    def engine_args(self) -> tuple[int, bytes, bool]:
        """The anchor as ``_core.v2_audit`` takes it."""
        return (self.tree_size, self.root, self.is_final)


@dataclass(frozen=True, slots=True)
class AnchorReading:
    """What the chain holds for the policy's log: the anchorer's anchors in chain order."""

    anchors: tuple[PolicyAnchor, ...]
    chain_id: int
    contract: str
    anchorer: str
    from_block: int
    head_block: int
    #: Anchored events of this logId on the contract sent by someone else (ignored).
    other_senders: tuple[str, ...]


def read_policy_anchors(
    chain: ChainReads, evm: EvmPolicy, log_key: bytes, *, max_range: int | None = None
) -> AnchorReading:
    """Read the anchorer's anchors of ``log_key`` (SPEC 2.5).

    ``max_range`` splits ``eth_getLogs`` into ranges of that many blocks (providers
    that limit it).

    Raises:
        AnchorError: the node serves another chain id, or there is no contract at the
            policy's address.
        ChainUnreachableError: the node did not answer.
    """
    served = chain.chain_id()
    if served != evm.chain_id:
        raise AnchorError(
            f"the EVM node serves chain id {served}, the policy's anchors are on chain id "
            f"{evm.chain_id}: give the URL of a node of that chain"
        )
    contract = to_checksum_address(evm.contract)
    anchorer = to_checksum_address(evm.anchorer)
    if not chain.code_at(contract):
        raise AnchorError(f"no contract at the policy's address {contract} on chain id {served}")
    head = chain.block_number()
    events = chain.anchored_events(
        contract, log_key, from_block=evm.from_block, to_block=head, max_range=max_range
    )
    senders: dict[bytes, str | None] = {}
    anchors: list[PolicyAnchor] = []
    others: set[str] = set()
    for e in events:
        # A node should filter by address, topics and range; don't rely on it.
        if (
            e.contract.lower() != contract.lower()
            or e.log_id != log_key
            or not evm.from_block <= e.block_number <= head
        ):
            continue
        if e.tx_hash not in senders:
            senders[e.tx_hash] = chain.transaction_sender(e.tx_hash)
        sender = senders[e.tx_hash]
        if sender is None or sender.lower() != anchorer.lower():
            others.add(sender or "an unknown sender")
            continue
        confirmations = max(0, head - e.block_number + 1)
        anchors.append(
            PolicyAnchor(
                tree_size=e.tree_size,
                root=e.root,
                tx_hash=e.tx_hash,
                block_number=e.block_number,
                confirmations=confirmations,
                is_final=confirmations >= evm.confirmations,
            )
        )
    return AnchorReading(
        anchors=tuple(anchors),
        chain_id=served,
        contract=contract,
        anchorer=anchorer,
        from_block=evm.from_block,
        head_block=head,
        other_senders=tuple(sorted(others)),
    )
