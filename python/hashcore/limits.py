"""The limits an auditor applies to a bundle it did not write, in one place.

A bundle comes from a relay the auditor need not trust, so nothing in it may make the
auditor crash, hang or allocate without bound. Each limit is documented in the README
("Limits").
"""

from __future__ import annotations

from . import _core
from .errors import InvalidInputError

__all__ = [
    "MAX_ECHO_CHARS",
    "MAX_ERROR_LINE_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT_DIGITS",
    "MAX_MANIFEST_BYTES",
    "MAX_THREADS",
    "MIN_ROW_BYTES",
    "check_threads",
    "echo",
    "one_line",
]

#: The longest integer (in decimal digits) a manifest may hold. The largest value a manifest
#: legitimately holds is an EVM chain id, a uint256 (78 digits); Python itself refuses to
#: convert more than 4,300 digits, with a ValueError that is not a HashcoreError.
MAX_JSON_INT_DIGITS = 78

#: The deepest nesting of arrays and objects a manifest may have (a real one is 2 deep: the
#: evm object). Checked before decoding: Python's C decoder recurses once per level, and in
#: a process that raised the recursion limit (py-evm sets 100,000 on import, so every
#: ``hashcore audit --evm-url``) a deep enough document overflows the C stack: a segfault.
MAX_JSON_DEPTH = 64

#: The largest manifest.json read (1 MiB). A real one is ~200 bytes; the limit is checked
#: against the file's size before anything is read, so a huge manifest costs nothing.
MAX_MANIFEST_BYTES = 1 << 20

#: The fewest bytes a row of records.parquet or checkpoints.parquet can take in its file.
#: Every record carries a 64-byte signature and a 32-byte link, every checkpoint a 64-byte
#: signature and a 32-byte root: hash and signature bytes that no Parquet encoding or
#: compression shrinks. 32 leaves a factor of 3 for files with many duplicated rows. A
#: footer claiming more rows than its file can hold at this size is refused before anything
#: is allocated for them (the audit allocates ~33 bytes per claimed row up front).
MIN_ROW_BYTES = 32

#: The most worker threads an audit may be asked for. A fixed number, so a command line
#: valid on one machine is valid on every other; far above the parallelism the audit uses
#: well (more threads than cores only add start-up and scheduling cost: 1,024 threads
#: took 17 s on a 30-record bundle that 2 audit in 1.6 s).
MAX_THREADS: int = _core.MAX_THREADS

#: How much of a value from the bundle an error message repeats.
MAX_ECHO_CHARS = 200

#: The longest error line the CLI prints (paths included).
MAX_ERROR_LINE_CHARS = 1000


def check_threads(threads: object) -> int | None:
    """``threads`` if it is None or 1..MAX_THREADS, else an InvalidInputError.

    Too many threads are refused, not clamped: the number is the caller's explicit choice
    (a script may have passed a record count by mistake), refusing says so, and the
    verdicts do not depend on it.
    """
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"threads must be a positive integer, got {echo(threads)}")
    if threads > MAX_THREADS:
        raise InvalidInputError(f"threads must be at most {MAX_THREADS}, got {threads}")
    return threads


def echo(value: object) -> str:
    """``repr(value)`` for an error message, cut to MAX_ECHO_CHARS characters."""
    text = repr(value)
    if len(text) <= MAX_ECHO_CHARS:
        return text
    return f"{text[:MAX_ECHO_CHARS]}... ({len(text)} characters)"


def one_line(message: str) -> str:
    """``message`` on one line of at most about MAX_ERROR_LINE_CHARS characters."""
    # Only the head is split and joined: a message may be megabytes long.
    text = " ".join(message[: 2 * MAX_ERROR_LINE_CHARS].split())
    if len(text) <= MAX_ERROR_LINE_CHARS and len(message) <= 2 * MAX_ERROR_LINE_CHARS:
        return text
    return f"{text[:MAX_ERROR_LINE_CHARS]}... ({len(message)} characters)"
