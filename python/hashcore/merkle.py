"""RFC 9162 Merkle tree over record links, with BLAKE3 (SPEC section 2).

``links`` may be a list of 32-byte links or one bytes-like of ``n * 32`` bytes (for example
the data buffer of a pyarrow ``fixed_size_binary(32)`` column), which is read without a copy.
"""

from __future__ import annotations

from ._core import (
    MerkleLog,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ._core import merkle_leaf_hash as leaf_hash
from ._core import merkle_root as root

EMPTY_ROOT = bytes.fromhex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")

__all__ = [
    "EMPTY_ROOT",
    "MerkleLog",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]
