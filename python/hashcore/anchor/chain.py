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
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TimeExhausted,
    TooManyRequests,
    TransactionNotFound,
)
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import FilterParams, TxParams

from ..errors import AnchorError
from .contract import (
    ANCHOR_GAS_LIMIT,
    ANCHORED_TOPIC,
    DEPLOY_GAS_LIMIT,
    AnchoredEvent,
    compiled,
    decode_anchored_log,
    encode_anchor_call,
    encode_view_call,
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
T = TypeVar("T")

#: Exceptions that mean "the node did not answer" (requests' errors are OSErrors).
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    ProviderConnectionError,
    TooManyRequests,
    RequestTimedOut,
    TimeExhausted,
)
#: An embedded chain with a block time catches up at most this many blocks at once.
_MAX_CATCH_UP_BLOCKS = 64
_KEY_RE = re.compile(r"0x[0-9a-fA-F]{64}")


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


def read_key_file(path: str | os.PathLike[str]) -> LocalAccount:
    """The account of a key file: one ``0x``-prefixed, 64-hex-digit private key.

    A key file readable by group or others is used, with a warning in the log.

    Raises:
        AnchorError: the file is missing, unreadable or does not hold one such key.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii").strip()
        mode = p.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"EVM key file {p}: cannot read it: {exc}") from None
    if not _KEY_RE.fullmatch(text):
        raise AnchorError(
            f"EVM key file {p}: must hold one 0x-prefixed private key of 64 hex digits"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _log.warning("EVM key file %s is readable by others (mode %o); use 0600", p, mode & 0o777)
    try:
        return cast(LocalAccount, Account.from_key(text))
    except Exception as exc:  # eth_keys: a key of 0 or >= the curve order
        raise AnchorError(f"EVM key file {p}: not a valid secp256k1 private key: {exc}") from None


def _redact(url: str) -> str:
    """A node URL fit for logs: scheme, host and port only (paths and queries often hold
    API keys)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<bad url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    tail = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{tail}"


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _b(value: Any) -> bytes:
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


def _rejection(exc: BaseException) -> TxRejectedError:
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


class EvmChain:
    """An EVM chain and (optionally) the account that sends anchors; see the module doc."""

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
            raise AnchorError(f"EVM URL must be http:// or https://, got {_redact(url)!r}")
        account = read_key_file(key_file) if key_file is not None else None
        provider = Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": timeout_s},
            # The anchorer retries with its own backoff; web3's retries would only hide
            # an outage behind seconds of silent waiting.
            exception_retry_configuration=None,
        )
        return cls(Web3(provider), account, description=_redact(url))

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
            self._tester.mine_blocks(min(due, _MAX_CATCH_UP_BLOCKS))
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
            except _UNREACHABLE as exc:
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

    def confirmations(self, block_number: int, head: int | None = None) -> int:
        """How many blocks hold ``block_number`` down, itself included: 1 while it is the
        newest block, 0 if the chain is not that high (any more)."""
        top = self.block_number() if head is None else head
        return max(0, top - block_number + 1)

    def code_at(self, address: str) -> bytes:
        """The code deployed at ``address`` (empty for an account or nothing)."""
        addr = to_checksum_address(address)
        return bytes(self._rpc("eth_getCode", lambda: self.w3.eth.get_code(addr)))

    def balance(self, address: str | None = None) -> int:
        """The balance in wei of ``address`` (default: the sending account)."""
        addr = to_checksum_address(address or self._require_account().address)
        return int(self._rpc("eth_getBalance", lambda: self.w3.eth.get_balance(addr)))

    def nonce(self, block: str = "pending") -> int:
        """The sending account's transaction count at ``block`` ("pending" or "latest")."""
        addr = self._require_account().address
        return int(
            self._rpc(
                "eth_getTransactionCount",
                lambda: self.w3.eth.get_transaction_count(addr, cast(Any, block)),
            )
        )

    def fees(self) -> Fees:
        """Fees for a transaction now: EIP-1559 (max fee = 2 x base fee + tip) where the
        newest block has a base fee, else the node's legacy gas price."""

        def read() -> Fees:
            block = self.w3.eth.get_block("latest")
            base = block.get("baseFeePerGas")
            if base is None:
                return Fees(gas_price=int(self.w3.eth.gas_price))
            try:
                tip = int(self.w3.eth.max_priority_fee)
            except _UNREACHABLE:
                raise
            except Exception:  # a node without eth_maxPriorityFeePerGas
                tip = 1_000_000_000
            return Fees(max_fee_per_gas=2 * int(base) + tip, max_priority_fee_per_gas=tip)

        return self._rpc("fees", read)

    def view(self, contract: str, name: str, log_id: bytes) -> bytes:
        """Raw return data of a view of the anchor contract ("firstSender" or
        "latestTreeSize") for ``log_id``.

        Raises:
            AnchorError: the call reverted (not an anchor contract).
        """
        params: TxParams = {
            "to": to_checksum_address(contract),
            "data": encode_view_call(name, log_id),
        }

        def call() -> bytes:
            try:
                return bytes(self.w3.eth.call(params, "latest"))
            except _UNREACHABLE:
                raise
            except Exception as exc:
                raise AnchorError(f"{name}(bytes32) on {contract} failed: {exc}") from None

        return self._rpc(f"eth_call {name}", call)

    def anchor_state(self, contract: str, log_id: bytes) -> tuple[str | None, int]:
        """``(first sender or None, latest anchored tree size)`` of ``log_id``.

        Raises:
            AnchorError: ``contract`` does not answer as the anchor contract does.
        """
        first = self.view(contract, "firstSender", log_id)
        size = self.view(contract, "latestTreeSize", log_id)
        if len(first) != 32 or len(size) != 32 or any(first[:12]) or any(size[:24]):
            raise AnchorError(
                f"{contract} on chain {self.chain_id()} is not a hashcore anchor contract "
                "(its firstSender/latestTreeSize answers are not an address and a uint64)"
            )
        sender = to_checksum_address(first[12:]) if any(first) else None
        return sender, int.from_bytes(size, "big")

    def simulate_anchor(
        self, contract: str, log_id: bytes, tree_size: int, root: bytes
    ) -> str | None:
        """Run ``anchor()`` as an ``eth_call`` from the sending account: the revert
        reason if it would revert, else None."""
        params: TxParams = {
            "from": self._require_account().address,
            "to": to_checksum_address(contract),
            "data": encode_anchor_call(log_id, tree_size, root),
            "gas": ANCHOR_GAS_LIMIT,
        }

        def call() -> str | None:
            try:
                self.w3.eth.call(params, "latest")
            except _UNREACHABLE:
                raise
            except Exception as exc:
                reason = revert_reason(exc)
                if reason is None:
                    raise AnchorError(f"simulating anchor() failed: {exc}") from None
                return reason
            return None

        return self._rpc("eth_call anchor", call)

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of a mined transaction, None while it is not in a block (pending,
        dropped, or removed by a reorg)."""

        def read() -> Receipt | None:
            try:
                r = self.w3.eth.get_transaction_receipt(HexStr(_hex(tx_hash)))
            except TransactionNotFound:
                return None
            if r is None or r.get("blockNumber") is None:
                return None
            events = tuple(
                e for e in (decode_anchored_log(log) for log in r["logs"]) if e is not None
            )
            address = r.get("contractAddress")
            return Receipt(
                tx_hash=_b(r["transactionHash"]),
                block_number=int(r["blockNumber"]),
                block_hash=_b(r["blockHash"]),
                status=int(r["status"]),
                gas_used=int(r["gasUsed"]),
                contract_address=str(address) if address else None,
                events=events,
            )

        return self._rpc("eth_getTransactionReceipt", read)

    def transaction(self, tx_hash: bytes) -> SentTransaction | None:
        """A transaction the node knows (pending or mined), or None: never seen, dropped
        from the mempool, or removed by a reorg and not re-queued."""

        def read() -> SentTransaction | None:
            try:
                tx = self.w3.eth.get_transaction(HexStr(_hex(tx_hash)))
            except TransactionNotFound:
                return None
            if tx is None:
                return None
            if tx.get("maxFeePerGas") is not None:
                fees = Fees(
                    max_fee_per_gas=int(tx["maxFeePerGas"]),
                    max_priority_fee_per_gas=int(tx["maxPriorityFeePerGas"]),
                )
            else:
                fees = Fees(gas_price=int(tx["gasPrice"]))
            return SentTransaction(
                tx_hash=tx_hash, nonce=int(tx["nonce"]), fees=fees, gas_limit=int(tx["gas"])
            )

        return self._rpc("eth_getTransactionByHash", read)

    def anchored_events(
        self,
        contract: str,
        log_id: bytes,
        *,
        tree_size: int | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        max_range: int | None = None,
    ) -> list[AnchoredEvent]:
        """The ``Anchored`` events of ``log_id`` (and ``tree_size``, if given) that the
        node reports for ``contract`` between two blocks (``to_block`` None: the newest),
        in chain order. ``max_range`` splits the query into ranges of that many blocks,
        for providers that limit ``eth_getLogs``. Entries that are not well-formed
        Anchored logs are left out."""
        address = to_checksum_address(contract)
        topics: list[Any] = [_hex(ANCHORED_TOPIC), _hex(log_id)]
        if tree_size is not None:
            topics.append(_hex(tree_size.to_bytes(32, "big")))
        top = self.block_number() if to_block is None else to_block
        out: list[AnchoredEvent] = []
        start = from_block
        while start <= top:
            end = top if max_range is None else min(top, start + max_range - 1)
            params: FilterParams = {
                "address": address,
                "fromBlock": start,
                "toBlock": end,
                "topics": topics,
            }
            logs = self._rpc("eth_getLogs", functools.partial(self.w3.eth.get_logs, params))
            for log in logs:
                if log.get("removed"):
                    continue
                event = decode_anchored_log(cast(Any, log))
                if event is not None:
                    out.append(event)
            start = end + 1
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out

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
            except _UNREACHABLE:
                raise
            except Exception as exc:
                raise _rejection(exc) from None

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
                    f"deploying the anchor contract: {_hex(tx_hash)} not mined in {timeout_s:g} s"
                )
            time.sleep(0.05)
        if r.status != 1 or r.contract_address is None:
            raise AnchorError(f"deploying the anchor contract failed (tx {_hex(tx_hash)} reverted)")
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
