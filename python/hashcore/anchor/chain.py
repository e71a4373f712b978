"""One EVM chain, reached through web3.py, and the account that signs anchors on it.

Two kinds:

- :meth:`EvmChain.embedded`: an in-process eth-tester / py-evm chain. It lives only as
  long as the process: anchors on it prove nothing to anyone outside. For tests.
- :meth:`EvmChain.embedded_node`: the relay's embedded chain, an anvil child process with
  its state beside the store (:mod:`hashcore.anchor.embedded`); it survives restarts but,
  private to one host, proves nothing to an outside auditor either.
- :meth:`EvmChain.connect`: any JSON-RPC node (anvil, geth, a provider's URL), with the
  private key from a key file (a ``0x``-prefixed hex key on one line). Without a key
  file the chain is read-only, which is all an auditor needs.

Every method is synchronous and blocking (web3.py's HTTP provider and py-evm both are):
call them from a worker thread (``asyncio.to_thread``), never from the event loop. An
internal lock makes one chain object safe to share between threads.

Errors: a node that does not answer raises :class:`ChainUnreachableError`; a node that
refuses a transaction raises :class:`TxRejectedError`; both are
:class:`hashcore.errors.AnchorError`.

This module holds the constructors and the writes (sign, send, deploy); the connection
and its lock are in :mod:`.chain_connection`, the reads in :mod:`.chain_reads`, the
values and errors in :mod:`.chain_types`, key files and log-safe URLs in
:mod:`.chain_access`. The names above are re-exported here, where callers import them.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
import urllib.parse
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from ..errors import AnchorError
from .chain_access import read_key_file, redact_url
from .chain_reads import ChainReads
from .chain_types import (
    UNREACHABLE,
    ChainUnreachableError,
    Fees,
    Receipt,
    SentTransaction,
    SignedTransaction,
    TxRejectedError,
    hex_0x,
    revert_reason,
    tx_rejection,
)
from .contract import (
    ANCHOR_GAS_LIMIT,
    DEPLOY_GAS_LIMIT,
    compiled,
    encode_anchor_call,
)

__all__ = [
    "ChainUnreachableError",
    "EvmChain",
    "Fees",
    "Receipt",
    "SentTransaction",
    "SignedTransaction",
    "TxRejectedError",
    "read_key_file",
    "revert_reason",
]


_log = logging.getLogger("hashcore.anchor")


class EvmChain(ChainReads):
    """An EVM chain and (optionally) the account that sends anchors; see the module doc.

    The connection and reads are in :mod:`.chain_connection` and :mod:`.chain_reads`;
    here are the constructors, the writes (sign, send, deploy) and test helpers."""

    # ------------------------------------------------------------------ construction

    @classmethod
    def embedded(cls, *, block_time_s: float | None = 1.0) -> EvmChain:
        """A fresh in-process chain (eth-tester + py-evm) and a funded account.

        Transactions are mined at once. With ``block_time_s`` the chain also makes an
        empty block per ``block_time_s`` that passed (caught up lazily, on the next call,
        at most 64 at a time), so anchors gain confirmations while the relay is idle;
        with None, blocks come only from transactions and :meth:`mine`.
        """
        eth_tester = importlib.import_module("eth_tester")  # untyped package
        pyevm = importlib.import_module("eth_tester.backends.pyevm.main")
        tester = eth_tester.EthereumTester(eth_tester.PyEVMBackend())
        w3 = Web3(EthereumTesterProvider(tester))
        key = pyevm.get_default_account_keys()[0]
        account = cast(LocalAccount, Account.from_key(key.to_bytes()))
        chain = cls(
            w3,
            account,
            description="embedded",
            embedded=True,
            tester=tester,
            block_time_s=block_time_s,
        )
        _log.warning(
            "EVM: using the embedded in-process chain (eth-tester/py-evm, chain id %d); it "
            "lives only as long as this process: its anchors vanish when the process stops "
            "and prove nothing to an outside auditor",
            chain.chain_id(),
        )
        return chain

    @classmethod
    def embedded_node(
        cls, url: str, key: str, *, bury_blocks: int, block_time_s: float = 1.0
    ) -> EvmChain:
        """The relay's embedded anvil at ``url`` (see :class:`EmbeddedAnvil`), sending
        from ``key``. anvil mines each transaction at once; after one, the chain makes an
        empty block per ``block_time_s`` (lazily, on the next call) until it lies
        ``bury_blocks`` deep, so anchors become final while the relay is idle, without
        filling the state file with empty blocks when nothing happens."""
        provider = Web3.HTTPProvider(
            url, request_kwargs={"timeout": 10.0}, exception_retry_configuration=None
        )
        account = cast(LocalAccount, Account.from_key(key))
        chain = cls(
            Web3(provider),
            account,
            description="embedded anvil",
            embedded=True,
            block_time_s=block_time_s,
        )
        # After a restart the newest anchors may still need their confirmations.
        chain._bury_blocks = chain._unburied = max(0, bury_blocks)
        return chain

    @classmethod
    def connect(
        cls,
        url: str,
        key_file: str | os.PathLike[str] | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> EvmChain:
        """A JSON-RPC node at ``url`` (http or https); read-only without ``key_file``.

        Nothing is sent to the node here: an unreachable node is noticed on first use.

        Raises:
            AnchorError: the URL is not http(s), or the key file is unusable.
        """
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise AnchorError(f"EVM URL must be http:// or https://, got {redact_url(url)!r}")
        account = read_key_file(key_file) if key_file is not None else None
        provider = Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": timeout_s},
            # The anchorer retries with its own backoff; web3's retries would only hide
            # an outage behind seconds of silent waiting.
            exception_retry_configuration=None,
        )
        return cls(Web3(provider), account, description=redact_url(url))

    def with_account(self, account: LocalAccount | None) -> EvmChain:
        """The same chain (same connection and lock) with another sending account. (An
        embedded chain's timed blocks stay with the original object.)"""
        other = EvmChain(
            self.w3,
            account,
            description=self.description,
            embedded=self.is_embedded,
            tester=self._tester,
        )
        other._lock = self._lock
        other._chain_id = self._chain_id
        return other

    # ------------------------------------------------------------------ writing

    def _sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        signed = self._require_account().sign_transaction(tx)
        return bytes(signed.hash), bytes(signed.raw_transaction)

    def send_raw(self, raw: bytes) -> None:
        """Hand a signed transaction to the node.

        Raises:
            TxRejectedError: the node refused it (nonce, price, funds, ...).
            ChainUnreachableError: the node did not answer (it may or may not have it).
        """

        def send() -> None:
            try:
                self.w3.eth.send_raw_transaction(raw)
            except UNREACHABLE:
                raise
            except Exception as exc:
                raise tx_rejection(exc) from None

        self._rpc("eth_sendRawTransaction", send)
        if self._bury_blocks:
            self._unburied = self._bury_blocks
            self._last_block_at = time.monotonic()

    def _tx(
        self, *, nonce: int, fees: Fees, gas_limit: int, data: bytes, to: str | None
    ) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "chainId": self.chain_id(),
            "nonce": nonce,
            "gas": gas_limit,
            "value": 0,
            "data": data,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if fees.eip1559:
            tx.update(
                type=2,
                maxFeePerGas=fees.max_fee_per_gas,
                maxPriorityFeePerGas=fees.max_priority_fee_per_gas,
            )
        else:
            tx["gasPrice"] = fees.gas_price
        return tx

    def prepare_anchor(
        self,
        contract: str,
        log_id: bytes,
        tree_size: int,
        root: bytes,
        *,
        nonce: int,
        fees: Fees,
        gas_limit: int = ANCHOR_GAS_LIMIT,
    ) -> SignedTransaction:
        """Sign ``anchor(log_id, tree_size, root)`` with this nonce, fees and an explicit
        gas limit, without sending it: the hash is known before the node sees it, so it
        can be stored first (write-ahead)."""
        data = encode_anchor_call(log_id, tree_size, root)
        tx = self._tx(nonce=nonce, fees=fees, gas_limit=gas_limit, data=data, to=contract)
        tx_hash, raw = self._sign(tx)
        return SignedTransaction(tx_hash, nonce, fees, gas_limit, raw)

    def send_anchor(
        self,
        contract: str,
        log_id: bytes,
        tree_size: int,
        root: bytes,
        *,
        nonce: int,
        fees: Fees,
        gas_limit: int = ANCHOR_GAS_LIMIT,
    ) -> SignedTransaction:
        """:meth:`prepare_anchor` and :meth:`send_raw` in one; returns at once (the
        transaction may still be pending)."""
        signed = self.prepare_anchor(
            contract, log_id, tree_size, root, nonce=nonce, fees=fees, gas_limit=gas_limit
        )
        self.send_raw(signed.raw)
        return signed

    def deploy_anchor_contract(
        self, *, gas_limit: int = DEPLOY_GAS_LIMIT, timeout_s: float = 60.0
    ) -> str:
        """Deploy ``Anchor.vy`` from the sending account, wait for it to be mined, and
        return its address (checksummed).

        Raises:
            AnchorError: the deployment failed or was not mined within ``timeout_s``.
        """
        code = compiled().bytecode
        tx = self._tx(
            nonce=self.nonce("pending"), fees=self.fees(), gas_limit=gas_limit, data=code, to=None
        )
        tx_hash, raw = self._sign(tx)
        self.send_raw(raw)
        deadline = time.monotonic() + timeout_s
        while (r := self.receipt(tx_hash)) is None:
            if time.monotonic() > deadline:
                raise AnchorError(
                    f"deploying the anchor contract: {hex_0x(tx_hash)} not mined in {timeout_s:g} s"
                )
            time.sleep(0.05)
        if r.status != 1 or r.contract_address is None:
            raise AnchorError(
                f"deploying the anchor contract failed (tx {hex_0x(tx_hash)} reverted)"
            )
        _log.info(
            "EVM: deployed the anchor contract at %s on chain %d (%s)",
            r.contract_address,
            self.chain_id(),
            self.description,
        )
        return to_checksum_address(r.contract_address)

    # ------------------------------------------------------------------ test/dev helpers

    def mine(self, blocks: int = 1) -> None:
        """Make ``blocks`` empty blocks: the embedded chain directly, a node through
        ``anvil_mine`` (anvil, hardhat). For tests and demos."""
        if blocks <= 0:
            return
        if self._tester is not None:
            self._rpc("mine", lambda: self._tester.mine_blocks(blocks))
            return
        self.rpc("anvil_mine", [hex(blocks)])

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call (``evm_snapshot``, ``anvil_reorg``...); returns ``result``.

        Raises:
            AnchorError: the node answered with an error.
        """

        def call() -> Any:
            response = self.w3.provider.make_request(cast(Any, method), params)
            if "error" in response:
                raise AnchorError(f"{method} failed: {response['error']}")
            return response.get("result")

        return self._rpc(method, call)

    def __repr__(self) -> str:
        return f"EvmChain({self.description!r}, sender={self.address})"
