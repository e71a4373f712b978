"""What a group of batches stages before it is stored: the acks (with receipts) of its
records, the chains' new heads, and the records themselves, as the Rust hot path's blocks
(:mod:`.fast_ingest`) and then the rows the Python checker (:mod:`.sequencing`) accepted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .. import _core
from .store.base import StoredRecord

__all__ = ["Ack", "Group", "Head", "entry_of"]


def entry_of(link: bytes, received_ms: int) -> bytes:
    """SPEC v2 2.1: ``0x02 || link || i64be(received_ms)``."""
    return b"\x02" + link + received_ms.to_bytes(8, "big", signed=True)


class Ack(NamedTuple):
    """The relay's acknowledgement of one record: its log position and receive time, and
    the receipt signature of SPEC v2 2.4 over them (the relay's signed promise)."""

    chain_id: bytes
    seq: int
    log_index: int
    duplicate: bool
    received_ms: int
    receipt_sig: bytes


@dataclass(slots=True)
class Head:
    """A chain's head as the ledger tracks it (committed, or staged in a group)."""

    seq: int
    link: bytes
    key: bytes


@dataclass(slots=True)
class Group:
    """What the batches of one group have staged so far (applied after the commit): the
    blocks the Rust hot path accepted (:mod:`.fast_ingest`), then the rows the Python
    checker accepted, in log order."""

    next_index: int
    heads: dict[bytes, Head] = field(default_factory=dict)
    #: (chain_id, seq) -> (link, log_index, received_ms) of the records staged here.
    positions: dict[tuple[bytes, int], tuple[bytes, int, int]] = field(default_factory=dict)
    rows: list[StoredRecord] = field(default_factory=list)
    blocks: list[_core.IngestBlock] = field(default_factory=list)

    def held(self, chain_id: bytes, seq: int) -> tuple[bytes, int, int] | None:
        """(link, log_index, received_ms) of a record the group staged, or None."""
        for block in self.blocks:
            held = block.held(chain_id, seq)
            if held is not None:
                return held
        return self.positions.get((chain_id, seq))

    def rotations(self, chain_id: bytes) -> list[tuple[int, bytes]]:
        """(seq, new key) of the key rotations of a chain the group staged."""
        out = [r for block in self.blocks for r in block.rotations(chain_id)]
        out += [
            (r.seq, bytes(r.payload or b""))
            for r in self.rows
            if r.chain_id == chain_id and r.kind == _core.KIND_ROTATION
        ]
        return out

    def entries(self) -> bytes:
        """The SPEC v2 2.1 log entries of everything staged, in log order."""
        return b"".join(
            [block.entries() for block in self.blocks]
            + [entry_of(r.link, r.received_ms) for r in self.rows]
        )
