"""A relay's signed checkpoint (SPEC section 2.1), one row of ``checkpoints.parquet``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from . import _core
from ._validate import as_bytes, int_in
from .errors import InvalidInputError
from .limits import echo

__all__ = ["Anchor", "Checkpoint", "StoredCheckpoint", "parse_log_id"]

_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_SIZES = {"root": 32, "signature": 64, "tx_hash": 32}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """``(tree_size, root)`` signed by the relay, plus where it was anchored (if it was).

    ``tx_hash`` and ``block_number`` are ``None`` until the checkpoint is anchored on an
    EVM chain (SPEC 2.2); they are not covered by the signature.
    """

    tree_size: int
    root: bytes
    signature: bytes
    tx_hash: bytes | None = None
    block_number: int | None = None

    def __post_init__(self) -> None:
        int_in("tree_size", self.tree_size, 0, _U64_MAX)
        object.__setattr__(self, "root", as_bytes("root", self.root, 32))
        object.__setattr__(self, "signature", as_bytes("signature", self.signature, 64))
        if self.tx_hash is not None:
            object.__setattr__(self, "tx_hash", as_bytes("tx_hash", self.tx_hash, 32))
        if self.block_number is not None:
            int_in("block_number", self.block_number, _I64_MIN, _I64_MAX)

    @classmethod
    def sign(cls, seed: bytes, tree_size: int, root: bytes) -> Checkpoint:
        """Sign ``(log_id, tree_size, root)`` with the relay's 32-byte secret ``seed``.

        The ``log_id`` in the digest is the seed's public key, so it need not be passed.
        """
        int_in("tree_size", tree_size, 0, _U64_MAX)
        root_b = as_bytes("root", root, 32)
        return cls(
            tree_size=tree_size,
            root=root_b,
            signature=_core.sign_checkpoint(seed, tree_size, root_b),
        )

    def digest(self, log_id: bytes) -> bytes:
        """The SPEC 2.1 ``checkpoint_digest`` this checkpoint's signature covers."""
        return _core.checkpoint_digest(log_id, self.tree_size, self.root)

    def verify(self, log_id: bytes) -> bool:
        """True when the signature is valid under ``log_id`` (ZIP-215).

        A ``log_id`` of small order or off the curve is never valid (SPEC 1.3), so it
        gives False rather than trusting ZIP-215's acceptance of such keys.

        Raises:
            InvalidInputError: ``log_id`` is not 32 bytes.
        """
        key = as_bytes("log_id", log_id, 32)
        if _core.check_public_key(key) != "valid":
            return False
        return _core.verify_checkpoint(key, self.tree_size, self.root, self.signature)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: bytes as lowercase hex, ``None`` kept."""
        return {
            f.name: (v.hex() if isinstance(v := getattr(self, f.name), bytes) else v)
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """The inverse of :meth:`to_dict`; ``tx_hash``/``block_number`` may be absent."""
        kwargs: dict[str, Any] = {}
        for name in ("tree_size", "root", "signature", "tx_hash", "block_number"):
            if name not in data:
                if name in ("tx_hash", "block_number"):
                    continue
                raise InvalidInputError(f"checkpoint field '{name}' is missing")
            value = data[name]
            if name in _SIZES and value is not None:
                if not isinstance(value, str):
                    raise InvalidInputError(f"{name} must be a hex string")
                try:
                    value = bytes.fromhex(value)
                except ValueError:
                    raise InvalidInputError(f"{name} is not valid hex: {value!r}") from None
            kwargs[name] = value
        return cls(**kwargs)


def parse_log_id(log_id: bytes | bytearray | memoryview | str) -> bytes:
    """A relay identity as 32 bytes, from bytes or 64 hex characters."""
    if isinstance(log_id, str):
        try:
            raw = bytes.fromhex(log_id)
        except ValueError:
            raise InvalidInputError(
                f"log_id must be 64 hex characters, got {echo(log_id)}"
            ) from None
    else:
        raw = bytes(log_id)
    if len(raw) != 32:
        raise InvalidInputError(f"log_id must be 32 bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a checkpoint was anchored on an EVM chain (SPEC 2.2)."""

    tx_hash: bytes  # 32
    block_number: int | None  # None while the transaction is not yet in a block
    evm_chain_id: int
    contract: str  # 0x-prefixed, 40 hex digits
    final: bool  # buried under the configured confirmations
    updated_ms: int


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A relay's checkpoint as it keeps it: the whole signed note of SPEC v2 2.2 (with
    every signature line it holds), the size and root its body names, and its anchor
    once there is one."""

    tree_size: int
    root: bytes  # 32
    note: bytes  # the C2SP signed note
    created_ms: int
    anchor: Anchor | None = None
