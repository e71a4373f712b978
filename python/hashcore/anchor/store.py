"""What the anchorer needs of a relay's store: its log_id and its checkpoints, and a place to
record each checkpoint's anchor. A Protocol, so that anchoring depends on no store package
(the relay's stores satisfy it; the relay imports this package, not the reverse)."""

from __future__ import annotations

from typing import Protocol

from ..checkpoint import Anchor, StoredCheckpoint

__all__ = ["Anchor", "AnchorStore", "StoredCheckpoint"]


class AnchorStore(Protocol):
    """The part of :class:`hashcore.relay.store.Store` the anchorer uses."""

    def get_log_id(self) -> bytes | None:
        """The relay log_id the store belongs to, or None for a new store."""
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint with the largest tree_size."""
        ...

    def list_checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, by tree_size."""
        ...

    def set_anchor(self, tree_size: int, anchor: Anchor | None) -> None:
        """Record (or, after a reorg dropped it, clear with None) a checkpoint's anchor."""
        ...
