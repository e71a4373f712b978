"""The anchors an attack states (:class:`.model.Anchor`) written on a real EVM chain, so that
the attack's copy is audited as an auditor would: under a policy naming that chain's
contract, anchorer and ``from_block``, with the anchors read from the node (SPEC 2.5).

Each attack gets its own anchor contract (deployed from a fresh anchorer account) on one
chain: a log_id squatted on one contract leaves the others alone. The squatter is another
fresh account. Accounts are funded with ``anvil_setBalance``, so the node must be anvil
(the relay's embedded chain is; so is ``make install``'s ``node_modules/.bin/anvil``).

Anchors are sent in the attack's order and must all be mined (a revert means the attack
stated anchors the contract refuses: an error, not a finding). Final anchors are buried
``confirmations`` deep at once. Pending ones are refused: a later attack's replay on the
same chain would bury them before the audit reads them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ...anchor.chain import EvmChain
from ...errors import AnchorError, InvalidInputError
from ...policy import EvmPolicy
from .model import Anchor

__all__ = ["AnchorReplay"]

#: What each fresh account gets to pay for its deployment and anchors (100 ether).
_FUNDS_WEI = 100 * 10**18
_MINED_WAIT_S = 30.0


class AnchorReplay:
    """An anvil node the fraud simulation writes anchors to (``url``: its JSON-RPC URL)."""

    def __init__(self, url: str, *, confirmations: int = 2) -> None:
        if confirmations < 1:
            raise InvalidInputError(f"confirmations must be at least 1, got {confirmations}")
        self.url = url
        self.confirmations = confirmations
        self._chain = EvmChain.connect(url)

    def _account(self) -> EvmChain:
        account = cast(LocalAccount, Account.create())
        self._chain.rpc("anvil_setBalance", [account.address, hex(_FUNDS_WEI)])
        return self._chain.with_account(account)

    def replay(self, log_id: bytes, anchors: Sequence[Anchor]) -> EvmPolicy:
        """Deploy a contract, send ``anchors`` (by the anchorer or the squatter, as each
        says), bury them, and return the policy's ``evm`` that names that chain."""
        if any(not a.final for a in anchors):
            raise InvalidInputError("anchors that are not final can't be replayed (see module)")
        anchorer, squatter = self._account(), self._account()
        from_block = self._chain.block_number() + 1
        contract = anchorer.deploy_anchor_contract()
        for a in anchors:
            self._send(anchorer if a.by_anchorer else squatter, contract, log_id, a)
        self._chain.mine(self.confirmations)
        assert anchorer.address is not None
        return EvmPolicy(
            chain_id=self._chain.chain_id(),
            contract=contract,
            from_block=from_block,
            anchorer=anchorer.address,
            confirmations=self.confirmations,
        )

    @staticmethod
    def _send(sender: EvmChain, contract: str, log_id: bytes, a: Anchor) -> None:
        signed = sender.send_anchor(
            contract,
            log_id,
            a.tree_size,
            a.root,
            nonce=sender.nonce("pending"),
            fees=sender.fees(),
        )
        deadline = time.monotonic() + _MINED_WAIT_S
        while (receipt := sender.receipt(signed.tx_hash)) is None:
            if time.monotonic() > deadline:
                raise AnchorError(f"the anchor of tree_size {a.tree_size} was not mined")
            time.sleep(0.02)
        if receipt.status != 1:
            raise AnchorError(
                f"the contract refused the attack's anchor of tree_size {a.tree_size} "
                f"(sent by {sender.address})"
            )
