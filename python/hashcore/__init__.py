"""hashcore: proof that patient-reported data was not altered, deleted, back-dated or forged.

Devices keep signed hashchains (:class:`Device`), a relay appends every record to an
RFC 6962 SHA-256 log (C2SP tlog-tiles) and signs checkpoints as C2SP signed notes, and
auditors check everything in bulk with :func:`verify_bulk` / :func:`audit_bundle`. The
wire contract is protocol v2's SPEC.md (docs/protocol.md says where it is and how this
project reads it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import PROTOCOL_VERSION, chain_id_for_key, commitment
from .bundle import BundleV2, read_bundle_v2, write_bundle_v2
from .bundle_audit import audit_bundle
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
from .audit import AuditReportV2, verify_bulk

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_VERSION",
    "AuditReportV2",
    "BundleError",
    "BundleV2",
    "ColumnError",
    "ColumnTypeError",
    "Device",
    "DeviceError",
    "DeviceReceipt",
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
    "__version__",
    "audit_bundle",
    "chain_id_for_key",
    "commitment",
    "load_policy",
    "parse_policy",
    "read_bundle_v2",
    "verify_bulk",
    "write_bundle_v2",
]


def __getattr__(name: str) -> Any:
    # The relay client pulls in grpc; import it only when it is asked for.
    if name == "RelayClient":
        from .relay.client import RelayClient

        return RelayClient
    raise AttributeError(f"module 'hashcore' has no attribute {name!r}")
