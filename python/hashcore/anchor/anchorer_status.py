"""What the anchorer reports (its status, a checkpoint's anchor receipt, its one
configuration error) and the record of the transaction it has in flight.

Apart from the loop so that the relay's health checks and receipts can use these values
without the anchoring machinery."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import AnchorError
from .chain_types import Fees


class AnchorConfigError(AnchorError):
    """The relay's EVM configuration does not fit the chain (one line says how)."""


def now_ms() -> int:
    """Wall-clock milliseconds, as the store's anchors and the status record times."""
    return int(time.time() * 1000)


@dataclass
class AnchorerStatus:
    """What the anchorer is doing, for health checks and metrics (read it any time)."""

    #: Where the chain is ("embedded" or a URL without path/query).
    chain: str
    contract: str
    confirmations: int
    evm_chain_id: int | None = None
    sender: str | None = None
    #: Whether the node answered on the last try (None before the first).
    reachable: bool | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    last_attempt_ms: int | None = None
    last_success_ms: int | None = None
    #: Seconds the run loop waits before its next pass.
    next_attempt_in_s: float | None = None
    head_block: int | None = None
    #: The transaction sent and not yet mined (0x hex), its checkpoint and since when.
    pending_tx: str | None = None
    pending_tree_size: int | None = None
    pending_since_ms: int | None = None
    #: The largest tree_size anchored in a block (final or not), and the largest final.
    anchored_tree_size: int | None = None
    final_tree_size: int | None = None
    txs_sent: int = 0
    replacements: int = 0
    reorgs: int = 0
    last_gas_used: int | None = None
    #: A configuration error found after start: anchoring has stopped.
    fatal: str | None = None
    running: bool = False

    @property
    def healthy(self) -> bool:
        """Anchoring works: no fatal error and the last pass reached the chain."""
        return self.fatal is None and self.reachable is not False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["healthy"] = self.healthy
        return out


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """A checkpoint's anchor as a relay receipt shows it (SPEC 2.2 / section 3)."""

    evm_chain_id: int
    contract: str
    tx_hash: bytes
    block_number: int | None
    confirmations: int
    final: bool

    @property
    def state(self) -> str:
        """ "final", or "pending" (sent, or in a block not yet buried deep enough)."""
        return "final" if self.final else "pending"

    def to_dict(self) -> dict[str, Any]:
        return {
            "evm_chain_id": self.evm_chain_id,
            "contract": self.contract,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
            "confirmations": self.confirmations,
            "final": self.final,
            "state": self.state,
        }


@dataclass
class InFlight:
    """The one anchor transaction sent and not yet mined (with the ones it replaced)."""

    tree_size: int
    tx_hash: bytes
    nonce: int
    fees: Fees
    sent_at: float  # time.monotonic()
    sent_ms: int = field(default_factory=now_ms)  # wall clock, for the status
    #: Transactions with the same nonce that this one replaced: hash -> tree_size. One of
    #: them may still be mined instead.
    replaced: dict[bytes, int] = field(default_factory=dict)
