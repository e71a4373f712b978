"""What every ``hashcore`` command shares: exit codes, argument types, the argument parser
and the one-line error (``hashcore: error: ...`` on stderr, exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..limits import one_line

#: The command did what was asked and found nothing wrong.
EXIT_OK = 0
#: The input is unusable: bad arguments, an unreadable file, a failed run.
EXIT_UNUSABLE = 2


def int_at_least(
    low: int, *, not_int: str | None = None, too_small: str | None = None
) -> Callable[[str], int]:
    """An argument type: an integer >= ``low``. The errors say ``expected <what>, got ...``
    with ``not_int`` for a non-number (default "an integer") and ``too_small`` below ``low``
    (default "an integer >= low")."""
    not_int_text = not_int or "an integer"
    too_small_text = too_small or f"an integer >= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {not_int_text}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {too_small_text}, got {value}")
        return value

    return parse


#: ``--threads N`` and other counts.
positive_int = int_at_least(1, not_int="a positive integer", too_small="a positive integer")
#: ``--seed S`` and other values that may be 0.
non_negative_int = int_at_least(0, not_int="an integer >= 0")


class Parser(argparse.ArgumentParser):
    """argparse that reports errors in the one-line ``hashcore: error:`` form."""

    def error(self, message: str) -> Any:  # argparse declares NoReturn; we exit too
        self.exit(EXIT_UNUSABLE, f"hashcore: error: {message} (see '{self.prog} --help')\n")


def fail(message: str) -> int:
    # One line, whatever the exception text contained.
    print(f"hashcore: error: {one_line(message)}", file=sys.stderr)
    return EXIT_UNUSABLE


def read_participants(path: Path) -> dict[str, str]:
    """{chain_id hex: participant id}, checked (ValueError names what is wrong)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError("expected a JSON object of chain_id hex -> participant id strings")
    return data


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """Seconds from '90', '90s', '15m', '12h' or '7d'."""
    unit = text[-1:] if text[-1:] in _DURATION_UNITS else "s"
    number = text[:-1] if text[-1:] in _DURATION_UNITS else text
    try:
        value = int(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 3600, 15m, 12h or 7d, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return value * _DURATION_UNITS[unit]


def positive_float(text: str) -> float:
    """A number above 0 (seconds, a factor)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def call_rate(text: str) -> float:
    """Calls a second, 0 for no limit."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected calls a second (0: no limit), got {text!r}"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected calls a second (0: no limit), got {text!r}")
    return value
