"""JSON read from files the reader did not write (a bundle's manifest, a policy file): the
limits of :mod:`hashcore.limits` applied before Python's decoder can be made to recurse too
deeply or to convert a 100,000-digit integer, so every refusal is a HashcoreError naming
the file, never a ``RecursionError`` or the ``ValueError`` of ``int()``'s digit limit."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path
from typing import Any

from .errors import BundleError, HashcoreError
from .limits import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS

__all__ = ["json_depth", "parse_json"]

#: A JSON string (linear: every alternative consumes a character); its brackets don't nest.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (0 for a scalar), without decoding it."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def parse_json(text: str, file: Path | str, error: type[HashcoreError] = BundleError) -> Any:
    """``text`` parsed as JSON, or an ``error`` (BundleError unless told) naming ``file``:
    bad JSON, an integer of more than MAX_JSON_INT_DIGITS digits, nesting deeper than
    MAX_JSON_DEPTH."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise error(f"{file}: JSON nested deeper than {MAX_JSON_DEPTH} levels is not read")

    def parse_int(digits: str) -> int:
        # Called by the decoder before it converts: a long integer never becomes an int.
        length = len(digits.lstrip("-"))
        if length > MAX_JSON_INT_DIGITS:
            raise error(
                f"{file}: holds an integer of {length} digits; at most {MAX_JSON_INT_DIGITS} "
                "are accepted"
            )
        return int(digits)

    try:
        return json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise error(f"{file}: not valid JSON: {exc}") from None
    except RecursionError:  # not reached after json_depth; kept in case the limit is low
        raise error(f"{file}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. a float Python cannot represent
        raise error(f"{file}: not valid JSON: {exc}") from None
