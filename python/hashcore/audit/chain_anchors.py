"""What the audit reads of the anchors on the chain: two Protocols, so the audit depends on
no anchoring package (:mod:`hashcore.anchor.policy_anchors` satisfies them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["ChainAnchor", "ChainAnchors"]


class ChainAnchor(Protocol):
    """An anchor read from the chain (:class:`hashcore.anchor.policy_anchors.PolicyAnchor`)."""

    @property
    def tree_size(self) -> int: ...
    @property
    def root(self) -> bytes: ...
    @property
    def tx_hash(self) -> bytes: ...
    @property
    def block_number(self) -> int: ...
    @property
    def confirmations(self) -> int: ...
    @property
    def is_final(self) -> bool: ...


class ChainAnchors(Protocol):
    """The anchors read for a policy (:class:`hashcore.anchor.policy_anchors.AnchorReading`)."""

    @property
    def anchors(self) -> Sequence[ChainAnchor]: ...
    @property
    def head_block(self) -> int: ...
