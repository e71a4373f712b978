"""Every committed atheris input (``fuzz/python/corpus/<target>/``, and the crashes once
found, ``fuzz/python/regressions/<target>/``) replayed through the harness ``make fuzz``
runs: each input returns or raises a HashcoreError, nothing else escapes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "fuzz" / "python"


def _targets_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("hashcore_fuzz_targets", ROOT / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


targets = _targets_module()


def _inputs(target: str) -> list[Path]:
    return sorted(
        p for d in ("corpus", "regressions") for p in (ROOT / d / target).glob("*") if p.is_file()
    )


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_corpus_replays(target: str) -> None:
    inputs = _inputs(target)
    assert inputs, f"no committed corpus for {target}"
    for file in inputs:
        targets.run_one(target, file.read_bytes())


def test_escape_is_reported() -> None:
    # The harness itself must be able to fail: a non-HashcoreError is named.
    targets.TARGETS["boom"] = lambda data: int("x")
    try:
        with pytest.raises(AssertionError, match="boom: ValueError escaped instead of a Hash"):
            targets.run_one("boom", b"")
    finally:
        del targets.TARGETS["boom"]
