"""The EVM chain client's connection: the web3 handle, the sending account, one lock for
all calls, and the lazy block clock of embedded chains.

Every call to the node goes through :meth:`ChainConnection._rpc`, so that the lock, the
embedded chain's catch-up blocks and the mapping of "the node did not answer" to
:class:`~.chain_types.ChainUnreachableError` are done once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ..errors import AnchorError
from .chain_types import UNREACHABLE, ChainUnreachableError

T = TypeVar("T")

#: An embedded chain with a block time catches up at most this many blocks at once.
MAX_CATCH_UP_BLOCKS = 64


class ChainConnection:
    """One web3 connection, the optional sending account, and the lock and block
    clock every call goes through; :class:`~.chain.EvmChain` builds on it."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | None,
        *,
        description: str,
        embedded: bool = False,
        tester: Any = None,
        block_time_s: float | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        #: Where the chain is, fit for logs ("embedded" or a URL without its path/query).
        self.description = description
        #: True for the in-process chain, which vanishes with the process.
        self.is_embedded = embedded
        self._tester = tester
        self._block_time_s = block_time_s
        self._last_block_at = time.monotonic()
        # An embedded node mines empty blocks only to bury the latest transactions this
        # many deep (every block stays in its state file forever): see _advance.
        self._bury_blocks = 0
        self._unburied = 0
        self._lock = threading.RLock()
        self._chain_id: int | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def address(self) -> str | None:
        """The sending account (checksummed), or None for a read-only chain."""
        return self.account.address if self.account is not None else None

    def _require_account(self) -> LocalAccount:
        if self.account is None:
            raise AnchorError(f"EVM chain {self.description} was opened without a key file")
        return self.account

    def _advance(self) -> None:
        if self._block_time_s is None or (self._tester is None and self._unburied <= 0):
            return
        due = int((time.monotonic() - self._last_block_at) / self._block_time_s)
        if due <= 0:
            return
        if self._tester is not None:
            self._tester.mine_blocks(min(due, MAX_CATCH_UP_BLOCKS))
        else:
            blocks = min(due, self._unburied)
            self.w3.provider.make_request(cast(Any, "anvil_mine"), [hex(blocks)])
            self._unburied -= blocks
        self._last_block_at = time.monotonic()

    def _rpc(self, what: str, fn: Callable[[], T]) -> T:
        with self._lock:
            try:
                self._advance()
                return fn()
            except UNREACHABLE as exc:
                raise ChainUnreachableError(
                    f"EVM chain at {self.description} unreachable ({what}): "
                    f"{type(exc).__name__}: {str(exc)[:200]}"
                ) from exc

    # ------------------------------------------------------------------ reading

    def chain_id(self) -> int:
        """The chain id (EIP-155), asked once and then remembered."""
        if self._chain_id is None:
            self._chain_id = int(self._rpc("eth_chainId", lambda: self.w3.eth.chain_id))
        return self._chain_id

    def block_number(self) -> int:
        """The number of the newest block."""
        return int(self._rpc("eth_blockNumber", lambda: self.w3.eth.block_number))
