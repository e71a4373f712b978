"""What every ``hashcore`` command shares: exit codes, argument types, the argument parser
and the one-line error (``hashcore: error: ...`` on stderr, exit 2)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: The command did what was asked and found nothing wrong.
EXIT_OK = 0
#: The input is unusable: bad arguments, an unreadable file, a failed run.
EXIT_UNUSABLE = 2


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def log_id_hex(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("--log-id must be 64 hex digits") from None
    if len(raw) != 32:
        raise argparse.ArgumentTypeError(f"--log-id must be 64 hex digits, got {len(text)}")
    return raw


class Parser(argparse.ArgumentParser):
    """argparse that reports errors in the one-line ``hashcore: error:`` form."""

    def error(self, message: str) -> Any:  # argparse declares NoReturn; we exit too
        self.exit(EXIT_UNUSABLE, f"hashcore: error: {message} (see '{self.prog} --help')\n")


def fail(message: str) -> int:
    # One line, whatever the exception text contained.
    print(f"hashcore: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_UNUSABLE
