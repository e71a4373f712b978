"""What the EVM chain client hands out and raises: fees, transactions, receipts, and the
errors a node's failures become.

Kept apart from :class:`~.chain.EvmChain` so that the anchorer and the auditor can name
these values without the client's connection code, and so that the mapping of a node's
failures to :class:`ChainUnreachableError` / :class:`TxRejectedError` lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TimeExhausted,
    TooManyRequests,
)

from ..errors import AnchorError
from .contract import AnchoredEvent

#: Exceptions that mean "the node did not answer" (requests' errors are OSErrors).
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    ProviderConnectionError,
    TooManyRequests,
    RequestTimedOut,
    TimeExhausted,
)


class ChainUnreachableError(AnchorError):
    """The chain's node did not answer (connection refused, timeout, rate limited)."""


class TxRejectedError(AnchorError):
    """The node refused a transaction. ``reason`` is one of "nonce" (nonce too low or
    already used), "underpriced" (a replacement that does not pay enough more), "funds"
    (the account can't pay) or "other"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Fees:
    """Fees of one transaction: EIP-1559 (``max_fee``/``priority_fee``) where the chain
    has a base fee, else a legacy ``gas_price``."""

    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None

    @property
    def eip1559(self) -> bool:
        return self.max_fee_per_gas is not None

    @property
    def cap(self) -> int:
        """The most one gas unit can cost."""
        if self.max_fee_per_gas is not None:
            return self.max_fee_per_gas
        return self.gas_price or 0

    def bumped(self, other: Fees | None = None) -> Fees:
        """Fees for a replacement: at least 25 % above these (nodes ask for 10 %), and
        at least ``other`` (the fees the chain suggests now)."""

        def up(old: int | None, now: int | None) -> int | None:
            if old is None:
                return now
            return max(old + (old + 3) // 4, now or 0)

        now = other or Fees()
        if self.eip1559:
            return Fees(
                max_fee_per_gas=up(self.max_fee_per_gas, now.max_fee_per_gas),
                max_priority_fee_per_gas=up(
                    self.max_priority_fee_per_gas, now.max_priority_fee_per_gas
                ),
            )
        return Fees(gas_price=up(self.gas_price, now.gas_price))


@dataclass(frozen=True, slots=True)
class SentTransaction:
    """A transaction as the node reports it (pending or mined)."""

    tx_hash: bytes
    nonce: int
    fees: Fees
    gas_limit: int


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A transaction this process signed; ``raw`` is what goes to the node."""

    tx_hash: bytes
    nonce: int
    fees: Fees
    gas_limit: int
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The part of a transaction receipt the anchorer needs."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    status: int  # 1 success, 0 reverted
    gas_used: int
    contract_address: str | None
    events: tuple[AnchoredEvent, ...]


def hex_0x(b: bytes) -> str:
    """``b`` as the 0x-prefixed hex JSON-RPC takes."""
    return "0x" + b.hex()


def bytes_of(value: Any) -> bytes:
    """A hash as bytes, whether web3 handed back bytes or a hex string."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


def revert_reason(exc: BaseException) -> str | None:
    """The revert reason of a failed ``eth_call`` (web3's ContractLogicError, or
    eth-tester's TransactionFailed); None if ``exc`` is not a revert."""
    if isinstance(exc, ContractLogicError):
        text = str(exc.message or exc)
    elif type(exc).__name__ == "TransactionFailed":
        text = str(exc)
    else:
        return None
    return text.removeprefix("execution reverted: ").removeprefix("execution reverted")


def tx_rejection(exc: BaseException) -> TxRejectedError:
    """The node's refusal of a transaction, sorted by its message (nodes have no common
    error codes) into the reasons the anchorer acts on."""
    msg = str(exc)
    low = msg.lower()
    if "nonce" in low or "already known" in low or "known transaction" in low:
        reason = "nonce"
    elif "underpriced" in low or "fee too low" in low:
        reason = "underpriced"
    elif "insufficient funds" in low or "cannot afford" in low or "balance" in low:
        reason = "funds"
    else:
        reason = "other"
    return TxRejectedError(reason, f"the node refused the anchor transaction: {msg}")
