"""EVM anchoring of relay checkpoints (SPEC 2.2).

- :mod:`.contract`: the Vyper anchor contract (``Anchor.vy``, shipped in this package),
  compiled once per process by the ``vyper`` package; call data and event decoding.
- :mod:`.chain`: :class:`EvmChain`, one chain (in-process eth-tester/py-evm for tests,
  the relay's embedded anvil, or a JSON-RPC node) and the account that signs anchors.
- :mod:`.embedded`: the relay's embedded chain, an anvil child process whose state is
  kept beside the store (``--evm embedded``).
- :mod:`.anchorer`: :class:`Anchorer`, the relay's asyncio task that anchors the newest
  checkpoint, follows confirmations, reorgs, dropped and stuck transactions.
- :mod:`.policy_anchors`: the auditor's side: the policy anchorer's Anchored events on
  chain (SPEC 2.5), read for the v2 audit.

Importing this package does not import the compiler nor eth-tester; both load on use.
"""

from __future__ import annotations

from .anchorer import AnchorConfigError, Anchorer, AnchorerStatus, AnchorReceipt
from .chain import EvmChain
from .chain_access import read_key_file
from .chain_types import (
    ChainUnreachableError,
    Fees,
    Receipt,
    SignedTransaction,
    TxRejectedError,
)
from .contract import (
    ANCHOR_GAS_LIMIT,
    ANCHORED_TOPIC,
    AnchoredEvent,
    CompiledContract,
    compiled,
)

__all__ = [
    "ANCHORED_TOPIC",
    "ANCHOR_GAS_LIMIT",
    "AnchorConfigError",
    "AnchorReceipt",
    "AnchoredEvent",
    "Anchorer",
    "AnchorerStatus",
    "ChainUnreachableError",
    "CompiledContract",
    "EvmChain",
    "Fees",
    "Receipt",
    "SignedTransaction",
    "TxRejectedError",
    "compiled",
    "read_key_file",
]
