"""Reading the files of a bundle the auditor did not write (see :mod:`hashcore.limits`).

Every refusal is a :class:`~hashcore.errors.BundleError` naming the file, never a builtin
exception or a pyarrow one: the CLI turns it into one line and exit code 2.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from itertools import accumulate
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .errors import BundleError
from .limits import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS

__all__ = ["check_parquet_claims", "parse_json"]


#: A JSON string (linear: every alternative consumes a character); its brackets don't nest.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (0 for a scalar), without decoding it."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def parse_json(text: str, file: Path) -> Any:
    """``text`` parsed as JSON, or a BundleError naming ``file`` (bad JSON, an integer of
    more than MAX_JSON_INT_DIGITS digits, nesting deeper than MAX_JSON_DEPTH)."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise BundleError(f"{file}: JSON nested deeper than {MAX_JSON_DEPTH} levels is not read")

    def parse_int(digits: str) -> int:
        # Called by the decoder before it converts: a long integer never becomes an int.
        length = len(digits.lstrip("-"))
        if length > MAX_JSON_INT_DIGITS:
            raise BundleError(
                f"{file}: holds an integer of {length} digits; at most {MAX_JSON_INT_DIGITS} "
                "are accepted"
            )
        return int(digits)

    try:
        return json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{file}: not valid JSON: {exc}") from None
    except RecursionError:  # not reached after json_depth; kept in case the limit is low
        raise BundleError(f"{file}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. a float Python cannot represent
        raise BundleError(f"{file}: not valid JSON: {exc}") from None


def check_parquet_claims(file: Path, parquet: pq.ParquetFile) -> int:
    """The row count ``parquet``'s footer claims, after checking that the claims are
    possible: no negative row counts, row groups that add up to the file's count, no
    column name twice (pyarrow would pick one, or fail with an ArrowInvalid)."""
    meta = parquet.metadata
    rows = int(meta.num_rows)
    if rows < 0:
        raise BundleError(f"{file}: Parquet metadata claims {rows} rows")
    group_rows = [int(meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
    if any(n < 0 for n in group_rows) or sum(group_rows) != rows:
        raise BundleError(
            f"{file}: Parquet metadata claims {rows} rows, but its row groups claim "
            f"{group_rows[:10]}{' ...' if len(group_rows) > 10 else ''}"
        )
    repeated = [(name, n) for name, n in Counter(parquet.schema_arrow.names).items() if n > 1]
    if repeated:
        name, n = repeated[0]
        raise BundleError(f"{file}: column '{name}' appears {n} times")
    return rows
