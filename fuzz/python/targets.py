"""The Python-side fuzz harnesses (atheris), one function per target.

Each takes the fuzzer's bytes and must either return or raise a :class:`HashcoreError`
subclass: any other exception (``RecursionError``, ``KeyError``, a ``ValueError`` from
``int()``, a PyO3 ``PanicException``) is a bug and fails the run. ``fuzz/python/run.py``
drives them under atheris (``make fuzz``); ``tests/test_fuzz_corpus.py`` replays the
committed corpora through the same functions on every ``make test``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from hashcore import _core
from hashcore.bundle.format_v2 import read_manifest_v2
from hashcore.errors import HashcoreError
from hashcore.policy import parse_policy

__all__ = ["TARGETS", "run_one"]

_LOG_KEY = bytes.fromhex("5a6c5ebd37b4e5c2dfc9c8b9cbf1a5d3e97b6a0d0b4f3c7b6a4e3b1c0d9e8f7a")
_ORIGIN = "relay.fuzz.example/trial"


def policy(data: bytes) -> None:
    """SPEC 3: a policy file's bytes give a Policy or a PolicyError."""
    parse_policy(data)


def note(data: bytes) -> None:
    """SPEC 2.2 through the bindings: notes and checkpoint bodies of any bytes."""
    _core.note_parse(data)


def note_verify(data: bytes) -> None:
    _core.note_verify(data, _ORIGIN, _LOG_KEY)


def checkpoint_body(data: bytes) -> None:
    _core.checkpoint_parse_body(data)


_MANIFEST_DIR = Path(tempfile.mkdtemp(prefix="hashcore-fuzz-manifest-"))


def manifest(data: bytes) -> None:
    """SPEC 4 / decision 13: a manifest.json of any bytes gives a manifest or a BundleError."""
    (_MANIFEST_DIR / "manifest.json").write_bytes(data)
    read_manifest_v2(_MANIFEST_DIR)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "policy": policy,
    "note": note,
    "note_verify": note_verify,
    "checkpoint_body": checkpoint_body,
    "manifest": manifest,
}


def run_one(target: str, data: bytes) -> None:
    """Runs one input; raises AssertionError naming the escape when the contract breaks."""
    try:
        TARGETS[target](data)
    except HashcoreError:
        pass
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise AssertionError(
            f"{target}: {type(exc).__name__} escaped instead of a HashcoreError: {exc}"
        ) from exc
