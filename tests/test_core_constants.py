"""The protocol's constants: Rust (``hashcore._core``) is their source of truth; the
Python-side tables that still spell them out must say exactly the same, so the two can't
drift apart until the Python side reads them from ``_core``."""

from __future__ import annotations

import hashcore
import pyarrow as pa
import pytest
from hashcore import _core, device, errors, record
from hashcore.bundle import format_v2


def test_protocol_version() -> None:
    assert hashcore.PROTOCOL_VERSION == _core.PROTOCOL_VERSION == _core.V2_VERSION == 2


def test_sizes() -> None:
    assert (_core.CHAIN_ID_LEN, _core.LINK_LEN, _core.COMMIT_LEN) == (16, 32, 32)
    assert (_core.SIGNATURE_LEN, _core.SALT_LEN, _core.KEY_LEN) == (64, 16, 32)
    assert _core.V2_HEADER_LEN == 1 + _core.CHAIN_ID_LEN + 8 + 8 + 1 + _core.LINK_LEN + 32 + 8 + 32
    assert bytes(_core.LINK_LEN) == record.ZERO_LINK
    assert record._SALT_SIZE == device._SALT_SIZE == _core.SALT_LEN


def test_bundle_schema_widths_are_the_sizes() -> None:
    widths = {
        f.name: f.type.byte_width
        for f in format_v2.RECORD_SCHEMA_V2
        if pa.types.is_fixed_size_binary(f.type)
    }
    assert widths == {
        "chain_id": _core.CHAIN_ID_LEN,
        "prev": _core.LINK_LEN,
        "commit": _core.COMMIT_LEN,
        "beacon_root": 32,
        "link": _core.LINK_LEN,
        "signature": _core.SIGNATURE_LEN,
    }


def test_kinds() -> None:
    assert _core.KINDS == {"GENESIS": 0, "DATA": 1, "ROTATION": 2}
    assert {k.name: int(k) for k in hashcore.Kind} == _core.KINDS
    assert (_core.KIND_GENESIS, _core.KIND_DATA, _core.KIND_ROTATION) == (0, 1, 2)


def test_reject_codes() -> None:
    assert _core.REJECT_CODES == {
        1: ("bad_commit", "commit is not KDF(salt || payload)"),
        2: ("bad_key", "the payload is not a valid (large-order) Ed25519 public key"),
        3: ("bad_signature", "the signature does not verify under the chain's key"),
    }


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [(errors.OutOfMemoryError, MemoryError), (errors.ThreadPoolError, RuntimeError)],
)
def test_resource_errors_are_hashcore_errors_and_builtins(
    cls: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(cls, errors.HashcoreError)
    assert issubclass(cls, builtin)
    assert not issubclass(cls, errors.InvalidInputError)
    assert str(cls("not enough memory to audit 9 records")) == (
        "not enough memory to audit 9 records"
    )
