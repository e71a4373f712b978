"""Shared test setup: tests/ is on sys.path (so ``v2.chain_bundles``, ``reference`` and
``parquet_footer`` import), and the path of the conformance vectors."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).parent / "vectors"
