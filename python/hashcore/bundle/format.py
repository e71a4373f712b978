"""The bundle's files (SPEC v2 section 4): their names, the manifest's JSON object read
under the hostile-input rules, the records files in their order. The writer, the reader
(:mod:`.format_v2`, :mod:`.io_v2`) and the relay's export all use these."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..limits import MAX_MANIFEST_BYTES
from ..safe_read import parquet_parts, parse_json, read_small_text

BUNDLE_FORMAT = "hashcore-bundle"


MANIFEST = "manifest.json"


RECORDS_FILE = "records.parquet"


RECORDS_DIR = "records"


CHECKPOINTS_FILE = "checkpoints.parquet"


def load_manifest_object(path: Path) -> tuple[Path, dict[str, Any]]:
    """The bundle's manifest file and its JSON object, read under the hostile-input rules
    (a regular file of at most MAX_MANIFEST_BYTES, depth-limited JSON); the v2 reader
    (:func:`hashcore.bundle.format_v2.read_manifest_v2`) checks its members."""
    file = path / MANIFEST
    try:
        text = read_small_text(file, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise BundleError(f"{file}: missing; not a hashcore bundle") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{file}: unreadable: {exc}") from None
    manifest = parse_json(text, file)
    if not isinstance(manifest, dict):
        raise BundleError(f"{file}: must be a JSON object")
    return file, manifest


def record_files(root: Path) -> list[Path]:
    """``records.parquet`` then ``records/*.parquet`` by name (both are read); a link or
    a pipe among them is refused when it is opened, never skipped."""
    files: list[Path] = []
    if os.path.lexists(root / RECORDS_FILE):
        files.append(root / RECORDS_FILE)
    files.extend(parquet_parts(root / RECORDS_DIR))
    if not files:
        raise BundleError(f"{root}: no {RECORDS_FILE} and no {RECORDS_DIR}/*.parquet")
    return files
