"""Audit bundles (SPEC v2 section 4): the file names and the manifest object (format), the
v2 format's schemas and manifest (format_v2), writing and reading a bundle (io_v2)."""

from __future__ import annotations

from .format import BUNDLE_FORMAT
from .format_v2 import BUNDLE_VERSION_V2
from .io_v2 import BundleV2, read_bundle_v2, write_bundle_v2

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION_V2",
    "BundleV2",
    "read_bundle_v2",
    "write_bundle_v2",
]
