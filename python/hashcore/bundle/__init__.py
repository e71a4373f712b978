"""Audit bundles (SPEC section 3): the directory format, writing and reading it; v2 bundles
(SPEC v2 section 4) in format_v2 and io_v2."""

from __future__ import annotations

from .format import BUNDLE_FORMAT, BUNDLE_VERSION
from .format_v2 import BUNDLE_VERSION_V2, is_v2_bundle
from .io import (
    Bundle,
    BundleHeader,
    open_bundle,
    read_bundle,
    write_bundle,
)
from .io_v2 import BundleV2, read_bundle_v2, write_bundle_v2

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "BUNDLE_VERSION_V2",
    "Bundle",
    "BundleHeader",
    "BundleV2",
    "is_v2_bundle",
    "open_bundle",
    "read_bundle",
    "read_bundle_v2",
    "write_bundle",
    "write_bundle_v2",
]
