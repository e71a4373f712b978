"""The one exception hierarchy of hashcore.

Everything hashcore raises on bad input is a ``HashcoreError``. Where Python has a matching
built-in category the class also derives from it, so ``except ValueError`` keeps working.
The Rust extension raises these same classes (its errors are mapped in one place,
``rust/src/python/errors.rs``).
"""

from __future__ import annotations


class HashcoreError(Exception):
    """Base class of every error hashcore raises on purpose."""


class InvalidInputError(HashcoreError, ValueError):
    """An argument has the right type but a wrong value: a wrong size, a bad range."""


class InvalidKeyError(InvalidInputError):
    """Bytes that should be an Ed25519 public key are not a usable (large-order) point."""


class ColumnError(InvalidInputError):
    """A column of a records/checkpoints table is missing, the wrong length or malformed."""


class ColumnTypeError(HashcoreError, TypeError):
    """A column has an Arrow type that the SPEC section 3 table does not allow."""


class OutOfMemoryError(HashcoreError, MemoryError):
    """The input is valid, but the machine has no memory for what its size needs (the
    engine could not reserve it up front, so nothing was half done)."""


class ThreadPoolError(HashcoreError, RuntimeError):
    """The engine could not start its worker threads (the OS refused them)."""


class BundleError(HashcoreError):
    """An audit bundle cannot be read: no manifest, wrong format/version, corrupt Parquet."""


class PolicyError(InvalidInputError):
    """A trust policy (SPEC v2 section 3) is not exactly what the SPEC allows."""


class DeviceError(HashcoreError):
    """A device state file is missing, corrupt or inconsistent."""


class RelayTrustError(DeviceError):
    """A relay answered with something a device must not accept: a receipt that does not
    verify under the log key it pinned, a checkpoint note that does not verify, lacks the
    witness quorum, or is inconsistent with the last one the device verified (SPEC v2
    1.5, 2.4). The device changed nothing: the records stay unsent, the beacon as it was."""


class StoreError(HashcoreError):
    """The relay's store refused an operation or is unusable (schema, connection, conflict)."""


class TokenRejectedError(StoreError):
    """An enrollment token is unknown, already used or expired (``reason`` says which)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        #: "unknown", "used" or "expired".
        self.reason = reason


class ConflictError(StoreError):
    """A write collides with what the store holds: a log position or (chain_id, seq) taken."""


class RelayError(HashcoreError):
    """A relay call failed; ``code`` is the gRPC status code name (e.g. "INVALID_ARGUMENT")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.details = message


class AnchorError(HashcoreError):
    """Anchoring on the EVM chain failed or is misconfigured (contract, chain id, key)."""


class WitnessError(HashcoreError):
    """A witness (C2SP tlog-witness) refused a request, or is misconfigured; ``status`` is
    the HTTP status it answers (0 where no answer was had)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


__all__ = [
    "AnchorError",
    "BundleError",
    "ColumnError",
    "ColumnTypeError",
    "ConflictError",
    "DeviceError",
    "HashcoreError",
    "InvalidInputError",
    "InvalidKeyError",
    "OutOfMemoryError",
    "PolicyError",
    "RelayError",
    "RelayTrustError",
    "StoreError",
    "ThreadPoolError",
    "TokenRejectedError",
    "WitnessError",
]
