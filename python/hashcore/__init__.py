"""hashcore: proof that patient-reported data was not altered, deleted, back-dated or forged.

Devices keep signed hashchains (:class:`Device`), a relay appends every record to an
RFC 9162 Merkle log and signs checkpoints, and auditors check everything in bulk with
:func:`verify_bulk` / :func:`audit_bundle`. The wire contract is SPEC.md (docs/protocol.md).
"""

from __future__ import annotations

from . import merkle
from ._core import PROTOCOL_VERSION, chain_id_for_key, commitment
from .errors import (
    BundleError,
    ColumnError,
    ColumnTypeError,
    DeviceError,
    HashcoreError,
    InvalidInputError,
    InvalidKeyError,
)
from .verify import (
    CHECKPOINT_VERDICT_CODES,
    VERDICT_CODES,
    CheckpointResult,
    Failure,
    VerifyReport,
    verify_bulk,
)

__version__ = "0.1.0"

__all__ = [
    "CHECKPOINT_VERDICT_CODES",
    "PROTOCOL_VERSION",
    "VERDICT_CODES",
    "BundleError",
    "CheckpointResult",
    "ColumnError",
    "ColumnTypeError",
    "DeviceError",
    "Failure",
    "HashcoreError",
    "InvalidInputError",
    "InvalidKeyError",
    "VerifyReport",
    "__version__",
    "chain_id_for_key",
    "commitment",
    "merkle",
    "verify_bulk",
]
