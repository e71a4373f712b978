"""hashcore: proof that patient-reported data was not altered, deleted, back-dated or forged.

Devices keep signed hashchains (:class:`Device`), a relay appends every record to an
RFC 9162 Merkle log and signs checkpoints, and auditors check everything in bulk with
:func:`verify_bulk` / :func:`audit_bundle`. The wire contract is SPEC.md (docs/protocol.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import merkle
from ._core import PROTOCOL_VERSION, chain_id_for_key, commitment
from .bundle import Bundle, read_bundle, write_bundle
from .bundle_audit import audit_bundle
from .checkpoint import Checkpoint
from .device import Device
from .device_trust import DeviceReceipt, LogPin
from .errors import (
    BundleError,
    ColumnError,
    ColumnTypeError,
    DeviceError,
    HashcoreError,
    InvalidInputError,
    InvalidKeyError,
    PolicyError,
    RelayError,
    RelayTrustError,
)
from .policy import Policy, load_policy, parse_policy
from .record import Kind, Record

if TYPE_CHECKING:
    from .relay.client import RelayClient
from .audit import (
    CHECKPOINT_VERDICT_CODES,
    VERDICT_CODES,
    AuditReportV2,
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
    "AuditReportV2",
    "Bundle",
    "BundleError",
    "Checkpoint",
    "CheckpointResult",
    "ColumnError",
    "ColumnTypeError",
    "Device",
    "DeviceError",
    "DeviceReceipt",
    "Failure",
    "HashcoreError",
    "InvalidInputError",
    "InvalidKeyError",
    "Kind",
    "LogPin",
    "Policy",
    "PolicyError",
    "Record",
    "RelayClient",
    "RelayError",
    "RelayTrustError",
    "VerifyReport",
    "__version__",
    "audit_bundle",
    "chain_id_for_key",
    "commitment",
    "load_policy",
    "merkle",
    "parse_policy",
    "read_bundle",
    "verify_bulk",
    "write_bundle",
]


def __getattr__(name: str) -> Any:
    # The relay client pulls in grpc; import it only when it is asked for.
    if name == "RelayClient":
        from .relay.client import RelayClient

        return RelayClient
    raise AttributeError(f"module 'hashcore' has no attribute {name!r}")
