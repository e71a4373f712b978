"""The bundle format (SPEC section 3): file names, the manifest, and tables conformed to the
SPEC Arrow schemas. The writer, the reader and the relay's export all use these."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import BundleError, ColumnError, ColumnTypeError
from ..limits import MAX_MANIFEST_BYTES, echo
from ..safe_read import parquet_parts, parse_json, read_small_text

BUNDLE_FORMAT = "hashcore-bundle"


BUNDLE_VERSION = 1


MANIFEST = "manifest.json"


RECORDS_FILE = "records.parquet"


RECORDS_DIR = "records"


CHECKPOINTS_FILE = "checkpoints.parquet"


_CONTRACT_RE = re.compile(r"0x[0-9a-fA-F]{40}")


def check_evm(evm: object) -> dict[str, Any] | None:
    """Validate the manifest's ``evm`` member; raise ValueError with what is wrong."""
    if evm is None:
        return None
    if not isinstance(evm, Mapping):
        raise ValueError(f"evm must be an object or null, got {type(evm).__name__}")
    out: dict[str, Any] = dict(evm)
    for key in ("chain_id", "confirmations"):
        value = out.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"evm.{key} must be a non-negative integer, got {echo(value)}")
    contract = out.get("contract")
    if not isinstance(contract, str) or not _CONTRACT_RE.fullmatch(contract):
        raise ValueError(f"evm.contract must be '0x' and 40 hex digits, got {echo(contract)}")
    return out


def new_manifest(log_id: bytes, evm: dict[str, Any] | None) -> dict[str, Any]:
    return {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "log_id": log_id.hex(), "evm": evm}


def load_manifest_object(path: Path) -> tuple[Path, dict[str, Any]]:
    """The bundle's manifest file and its JSON object, read under the hostile-input rules
    (a regular file of at most MAX_MANIFEST_BYTES, depth-limited JSON); the v1 and v2
    readers check its members each by their own version."""
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


def read_manifest(path: Path) -> tuple[dict[str, Any], bytes, dict[str, Any] | None]:
    file, manifest = load_manifest_object(path)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{file}: format is {echo(manifest.get('format'))}, expected {BUNDLE_FORMAT!r}"
        )
    version = manifest.get("version")
    # bool is an int in Python, and JSON true must not pass for version 1.
    if isinstance(version, bool) or version != BUNDLE_VERSION:
        raise BundleError(f"{file}: version is {echo(version)}, expected {BUNDLE_VERSION}")
    raw_log_id = manifest.get("log_id")
    if not isinstance(raw_log_id, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", raw_log_id):
        raise BundleError(f"{file}: log_id must be 64 hex digits, got {echo(raw_log_id)}")
    if "evm" not in manifest:
        raise BundleError(f"{file}: evm is missing (it may be null)")
    try:
        evm = check_evm(manifest["evm"])
    except ValueError as exc:
        raise BundleError(f"{file}: {exc}") from None
    return manifest, bytes.fromhex(raw_log_id), evm


def conform(table: pa.Table | pa.RecordBatch, schema: pa.Schema, what: str) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, types and nullability, or an error."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise ColumnTypeError(f"{what} must be a pyarrow.Table, RecordBatch or iterable")
    unknown = [name for name in table.column_names if name not in schema.names]
    if unknown:
        # Silently dropping columns would lose data the caller meant to keep.
        raise ColumnError(f"{what} table has column(s) not in SPEC section 3: {unknown}")
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            if not f.nullable:
                raise ColumnError(f"{what} table has no column '{f.name}'")
            col: pa.ChunkedArray = pa.chunked_array([pa.nulls(table.num_rows, f.type)])
        else:
            col = table.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type, safe=True)
            except pa.ArrowNotImplementedError:
                raise ColumnTypeError(
                    f"{what} column '{f.name}' has type {col.type}; SPEC section 3 needs {f.type}"
                ) from None
            except pa.ArrowInvalid as exc:
                # The type converts but a value doesn't (a wrong-size value, an overflow).
                raise ColumnError(
                    f"{what} column '{f.name}' cannot be written as {f.type}: {exc}"
                ) from None
        if not f.nullable and col.null_count:
            raise ColumnError(
                f"{what} column '{f.name}' has {col.null_count} null value(s); it is required"
            )
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)
