"""A relay's checkpoint as its store keeps it (the signed note of SPEC v2 2.2) and where it
was anchored (SPEC v2 2.5)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Anchor", "StoredCheckpoint"]


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a checkpoint was anchored on an EVM chain (SPEC 2.2)."""

    tx_hash: bytes  # 32
    block_number: int | None  # None while the transaction is not yet in a block
    evm_chain_id: int
    contract: str  # 0x-prefixed, 40 hex digits
    final: bool  # buried under the configured confirmations
    updated_ms: int


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A relay's checkpoint as it keeps it: the whole signed note of SPEC v2 2.2 (with
    every signature line it holds), the size and root its body names, and its anchor
    once there is one."""

    tree_size: int
    root: bytes  # 32
    note: bytes  # the C2SP signed note
    created_ms: int
    anchor: Anchor | None = None
