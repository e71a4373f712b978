"""Audit bundles (SPEC section 3): the directory format, writing and reading it."""

from __future__ import annotations

from .format import BUNDLE_FORMAT, BUNDLE_VERSION
from .io import (
    Bundle,
    BundleHeader,
    open_bundle,
    read_bundle,
    write_bundle,
)

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "Bundle",
    "BundleHeader",
    "open_bundle",
    "read_bundle",
    "write_bundle",
]
