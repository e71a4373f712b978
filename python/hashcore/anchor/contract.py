"""The hashcore anchor contract (SPEC 2.2): its Vyper source, compiled once per process.

The source, ``Anchor.vy``, ships inside this package (``contracts/Anchor.vy`` in the
repository is a symlink to it) and is compiled offline by the ``vyper`` package the
first time :func:`compiled` is called; nothing is downloaded.

The call data and the event are encoded and decoded here by hand: both are fixed-size
ABI words, and spelling them out keeps the wire format visible (SPEC 2.5; docs/protocol.md,
"The anchor event").
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from eth_utils.crypto import keccak

from ..errors import AnchorError, InvalidInputError

__all__ = [
    "ANCHORED_TOPIC",
    "ANCHOR_GAS_LIMIT",
    "DEPLOY_GAS_LIMIT",
    "REVERT_NOT_FIRST_SENDER",
    "REVERT_NOT_LARGER",
    "AnchoredEvent",
    "CompiledContract",
    "compiled",
    "decode_anchored_log",
    "encode_anchor_call",
    "encode_view_call",
    "source",
]

#: ``keccak256("Anchored(bytes32,uint64,bytes32)")``: topic 0 of every Anchored log.
ANCHORED_TOPIC: bytes = keccak(text="Anchored(bytes32,uint64,bytes32)")
#: Explicit gas limit of an ``anchor()`` transaction. The first anchor of a logId uses
#: about 68.6k gas (two fresh storage slots), every later one about 31.6k.
ANCHOR_GAS_LIMIT = 100_000
#: Explicit gas limit of the deployment (it uses about 185k).
DEPLOY_GAS_LIMIT = 400_000
#: The contract's revert reasons (Anchor.vy), as an ``eth_call`` reports them.
REVERT_NOT_FIRST_SENDER = "not the first sender of this logId"
REVERT_NOT_LARGER = "treeSize not larger than the last anchor"

_SELECTOR_ANCHOR = keccak(text="anchor(bytes32,uint64,bytes32)")[:4]
_SELECTOR_FIRST_SENDER = keccak(text="firstSender(bytes32)")[:4]
_SELECTOR_LATEST_TREE_SIZE = keccak(text="latestTreeSize(bytes32)")[:4]
_VIEWS = {"firstSender": _SELECTOR_FIRST_SENDER, "latestTreeSize": _SELECTOR_LATEST_TREE_SIZE}
_U64_MAX = 2**64 - 1


def source() -> str:
    """The Vyper source of the anchor contract, as shipped in the package."""
    return resources.files(__package__).joinpath("Anchor.vy").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """What the vyper compiler made of ``Anchor.vy``."""

    abi: list[dict[str, Any]]
    #: Deployment (init) code.
    bytecode: bytes
    #: The code the chain holds once deployed.
    runtime_bytecode: bytes
    #: SHA-256 of the source it was compiled from (hex), for logs.
    source_sha256: str
    vyper_version: str


_compile_lock = threading.Lock()


@functools.cache
def _compile() -> CompiledContract:
    # Imported here (the compiler is only needed to deploy) and by name: the vyper
    # package ships no type information.
    vyper: Any = importlib.import_module("vyper")

    text = source()
    try:
        out = vyper.compile_code(
            text,
            contract_path="Anchor.vy",
            output_formats=["abi", "bytecode", "bytecode_runtime"],
        )
    except Exception as exc:  # the vyper package raises its own exception tree
        raise AnchorError(
            f"Anchor.vy does not compile with vyper {vyper.__version__}: {exc}"
        ) from exc
    return CompiledContract(
        abi=list(out["abi"]),
        bytecode=bytes.fromhex(str(out["bytecode"]).removeprefix("0x")),
        runtime_bytecode=bytes.fromhex(str(out["bytecode_runtime"]).removeprefix("0x")),
        source_sha256=hashlib.sha256(text.encode()).hexdigest(),
        vyper_version=str(vyper.__version__),
    )


def compiled() -> CompiledContract:
    """The compiled contract; compiled on the first call only (thread-safe)."""
    with _compile_lock:
        return _compile()


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _bytes32(name: str, value: bytes) -> bytes:
    raw = bytes(value)
    if len(raw) != 32:
        raise InvalidInputError(f"{name} must be 32 bytes, got {len(raw)}")
    return raw


def encode_anchor_call(log_id: bytes, tree_size: int, root: bytes) -> bytes:
    """Call data of ``anchor(logId, treeSize, root)``."""
    if not isinstance(tree_size, int) or not 0 <= tree_size <= _U64_MAX:
        raise InvalidInputError(f"tree_size must be a uint64, got {tree_size!r}")
    return _SELECTOR_ANCHOR + _bytes32("log_id", log_id) + _word(tree_size) + _bytes32("root", root)


def encode_view_call(name: str, log_id: bytes) -> bytes:
    """Call data of the view ``firstSender(logId)`` or ``latestTreeSize(logId)``."""
    return _VIEWS[name] + _bytes32("log_id", log_id)


@dataclass(frozen=True, slots=True)
class AnchoredEvent:
    """One ``Anchored`` log entry, as the chain (or an RPC claiming to be it) reported it."""

    contract: str  # the log's address, 0x + 40 hex, checksummed as the node gave it
    log_id: bytes
    tree_size: int
    root: bytes
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    log_index: int


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    raise ValueError(f"expected bytes or hex, got {type(value).__name__}")


def decode_anchored_log(log: Mapping[str, Any]) -> AnchoredEvent | None:
    """An ``eth_getLogs`` entry as an :class:`AnchoredEvent`; None if it is not one.

    Not one: topic 0 is not ``Anchored``, the topics or data have the wrong sizes, or the
    tree size does not fit a uint64 (a well-formed ABI encoding never has high bytes).
    """
    try:
        topics = [_as_bytes(t) for t in log["topics"]]
        data = _as_bytes(log["data"])
        if len(topics) != 3 or topics[0] != ANCHORED_TOPIC or len(data) != 32:
            return None
        if any(len(t) != 32 for t in topics) or any(topics[2][:24]):
            return None
        return AnchoredEvent(
            contract=str(log["address"]),
            log_id=topics[1],
            tree_size=int.from_bytes(topics[2], "big"),
            root=data,
            tx_hash=_as_bytes(log["transactionHash"]),
            block_number=int(log["blockNumber"]),
            block_hash=_as_bytes(log["blockHash"]),
            log_index=int(log["logIndex"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
