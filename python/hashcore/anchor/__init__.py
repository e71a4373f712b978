"""EVM anchoring of relay checkpoints (SPEC 2.2).

- :mod:`.contract`: the Vyper anchor contract (``Anchor.vy``, shipped in this package),
  compiled once per process by the ``vyper`` package; call data and event decoding.
- :mod:`.chain`: :class:`EvmChain`, one chain (in-process eth-tester/py-evm for tests,
  the relay's embedded anvil, or a JSON-RPC node) and the account that signs anchors.
- :mod:`.embedded`: the relay's embedded chain, an anvil child process whose state is
  kept beside the store (``--evm embedded``).
- :mod:`.anchorer`: :class:`Anchorer`, the relay's asyncio task that anchors the newest
  checkpoint, follows confirmations, reorgs, dropped and stuck transactions.
- :mod:`.audit`: the auditor's side: each checkpoint's Anchored event on chain, as
  NOT_ANCHORED / UNCONFIRMED / OK with a reason.

Importing this package does not import the compiler nor eth-tester; both load on use.
"""

from __future__ import annotations

from .anchorer import AnchorConfigError, Anchorer, AnchorerStatus, AnchorReceipt
from .audit import AnchorCheck, EvmAudit, anchor_states, audit_bundle_with_evm, check_anchors
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
    "AnchorCheck",
    "AnchorConfigError",
    "AnchorReceipt",
    "AnchoredEvent",
    "Anchorer",
    "AnchorerStatus",
    "ChainUnreachableError",
    "CompiledContract",
    "EvmAudit",
    "EvmChain",
    "Fees",
    "Receipt",
    "SignedTransaction",
    "TxRejectedError",
    "anchor_states",
    "audit_bundle_with_evm",
    "check_anchors",
    "compiled",
    "read_key_file",
]
