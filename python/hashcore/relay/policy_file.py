"""``hashcore relay policy``: the SPEC v2 section 3 policy of a relay, for the trial's
registration (an auditor trusts it, never the bundle).

The log's identity comes from the relay's store (its origin and log key); witnesses and
their quorum from the operator; the ``evm`` block from where the store's checkpoints were
anchored (chain id and contract of the newest anchor, ``from_block`` the first block the
store anchored in on that contract) and the anchoring account (the ``--evm-key`` file, or
the embedded chain's key). The result is checked with :func:`hashcore.policy.parse_policy`
before it is written, so ``hashcore audit --policy`` accepts what this writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._atomic import write_atomically
from ..errors import InvalidInputError, StoreError
from ..policy import POLICY_FORMAT, POLICY_VERSION, Policy, parse_policy
from .store import Store, open_store

__all__ = ["build_policy", "write_policy"]

DEFAULT_MAX_MERGE_DELAY_MS = 86_400_000
DEFAULT_MAX_CLOCK_SKEW_MS = 300_000


def _anchorer_address(evm_key: str | os.PathLike[str] | None, embedded: bool) -> str:
    from ..anchor.chain_access import read_key_file  # web3 is heavy: only when asked

    if evm_key is not None:
        return str(read_key_file(evm_key).address)
    if embedded:
        from eth_account import Account

        from ..anchor.embedded import EMBEDDED_KEY

        return str(Account.from_key(EMBEDDED_KEY).address)
    raise InvalidInputError(
        "the store's checkpoints are anchored: give --evm-key FILE (the anchoring account) "
        "or --evm embedded, or --no-evm for a policy without anchors"
    )


def _evm_block(
    store: Store,
    *,
    evm_key: str | os.PathLike[str] | None,
    embedded: bool,
    confirmations: int,
) -> dict[str, Any] | None:
    anchored = [cp for cp in store.list_checkpoints() if cp.anchor is not None]
    if not anchored:
        return None
    newest = max(anchored, key=lambda cp: cp.tree_size).anchor
    assert newest is not None
    same = [
        cp.anchor
        for cp in anchored
        if cp.anchor is not None
        and cp.anchor.evm_chain_id == newest.evm_chain_id
        and cp.anchor.contract.lower() == newest.contract.lower()
    ]
    blocks = [a.block_number for a in same if a.block_number is not None]
    return {
        "chain_id": newest.evm_chain_id,
        "contract": newest.contract,
        "from_block": min(blocks, default=0),
        "anchorer": _anchorer_address(evm_key, embedded),
        "confirmations": confirmations,
    }


def build_policy(
    store_or_target: Store | str,
    *,
    witnesses: Sequence[tuple[str, bytes]] = (),
    witness_quorum: int = 0,
    evm: bool = True,
    evm_key: str | os.PathLike[str] | None = None,
    embedded: bool = False,
    confirmations: int = 3,
    max_merge_delay_ms: int = DEFAULT_MAX_MERGE_DELAY_MS,
    max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS,
) -> tuple[dict[str, Any], Policy]:
    """The policy object (as JSON would hold it) and its parsed form.

    Raises:
        StoreError: the store has no log key or origin yet (start the relay once).
        InvalidInputError / PolicyError: what SPEC 3 refuses (bad witness names or keys,
            a quorum above the witnesses, anchors without an anchoring account).
    """
    if isinstance(store_or_target, Store):
        return _build(
            store_or_target,
            witnesses,
            witness_quorum,
            evm,
            evm_key,
            embedded,
            confirmations,
            max_merge_delay_ms,
            max_clock_skew_ms,
        )
    with open_store(store_or_target, readonly=True) as store:
        return _build(
            store,
            witnesses,
            witness_quorum,
            evm,
            evm_key,
            embedded,
            confirmations,
            max_merge_delay_ms,
            max_clock_skew_ms,
        )


def _build(
    store: Store,
    witnesses: Sequence[tuple[str, bytes]],
    witness_quorum: int,
    evm: bool,
    evm_key: str | os.PathLike[str] | None,
    embedded: bool,
    confirmations: int,
    max_merge_delay_ms: int,
    max_clock_skew_ms: int,
) -> tuple[dict[str, Any], Policy]:
    log_key = store.get_log_id()
    origin = store.get_meta("origin")
    if log_key is None or origin is None:
        raise StoreError("the store has no log yet (no log key or origin): start the relay once")
    data: dict[str, Any] = {
        "format": POLICY_FORMAT,
        "version": POLICY_VERSION,
        "origin": origin.decode("utf-8", errors="replace"),
        "log_key": log_key.hex(),
        "witnesses": [{"name": name, "key": key.hex()} for name, key in witnesses],
        "witness_quorum": witness_quorum,
        "evm": (
            _evm_block(store, evm_key=evm_key, embedded=embedded, confirmations=confirmations)
            if evm
            else None
        ),
        "max_merge_delay_ms": max_merge_delay_ms,
        "max_clock_skew_ms": max_clock_skew_ms,
    }
    return data, parse_policy(data)


def write_policy(data: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    write_atomically(path, (json.dumps(data, indent=2) + "\n").encode(), mode=0o644)
    return path
