"""The EVM chain client's reads: balances, nonces, fees, views of the anchor contract,
receipts, transactions and Anchored logs. Everything here is read-only, which is all
an auditor needs."""

from __future__ import annotations

import functools
from typing import Any, cast

from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3.exceptions import (
    TransactionNotFound,
)
from web3.types import FilterParams, TxParams

from ..errors import AnchorError
from .chain_connection import ChainConnection
from .chain_types import (
    UNREACHABLE,
    Fees,
    Receipt,
    SentTransaction,
    bytes_of,
    hex_0x,
    revert_reason,
)
from .contract import (
    ANCHOR_GAS_LIMIT,
    ANCHORED_TOPIC,
    AnchoredEvent,
    decode_anchored_log,
    encode_anchor_call,
    encode_view_call,
)


class ChainReads(ChainConnection):
    """What the client reads from the node (no transaction is signed here)."""

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
            except UNREACHABLE:
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
            except UNREACHABLE:
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
            except UNREACHABLE:
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
                r = self.w3.eth.get_transaction_receipt(HexStr(hex_0x(tx_hash)))
            except TransactionNotFound:
                return None
            if r is None or r.get("blockNumber") is None:
                return None
            events = tuple(
                e for e in (decode_anchored_log(log) for log in r["logs"]) if e is not None
            )
            address = r.get("contractAddress")
            return Receipt(
                tx_hash=bytes_of(r["transactionHash"]),
                block_number=int(r["blockNumber"]),
                block_hash=bytes_of(r["blockHash"]),
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
                tx = self.w3.eth.get_transaction(HexStr(hex_0x(tx_hash)))
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

    def transaction_sender(self, tx_hash: bytes) -> str | None:
        """The ``from`` address of a transaction the node knows (checksummed), or None.
        SPEC 2.5: an auditor counts only anchors sent by the policy's anchorer, and the
        Anchored event does not name its sender."""

        def read() -> str | None:
            try:
                tx = self.w3.eth.get_transaction(HexStr(hex_0x(tx_hash)))
            except TransactionNotFound:
                return None
            sender = tx.get("from") if tx is not None else None
            return to_checksum_address(sender) if sender else None

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
        topics: list[Any] = [hex_0x(ANCHORED_TOPIC), hex_0x(log_id)]
        if tree_size is not None:
            topics.append(hex_0x(tree_size.to_bytes(32, "big")))
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
