"""``compare``: the differences between an expected.json and an audit report, one line each."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...audit.verify import VerifyReport
from .model import OK

_MAX_LISTED_DIFFERENCES = 20


def _listed(kind: str, items: Counter[Any]) -> list[str]:
    lines = [f"{kind}: {item}" for item in sorted(items.elements())]
    if len(lines) > _MAX_LISTED_DIFFERENCES:
        more = len(lines) - _MAX_LISTED_DIFFERENCES
        lines = [*lines[:_MAX_LISTED_DIFFERENCES], f"{kind}: ... and {more} more"]
    return lines


def compare(expected: dict[str, Any], report: VerifyReport) -> list[str]:
    """Differences between ``expected`` (an expected.json) and an audit ``report``.

    Empty when the report names exactly the expected record failures (same log index,
    chain, seq and verdict; duplicates counted), the same non-OK checkpoints, the same
    missing log positions and the same clean flag. Each difference is one line.
    """
    want = Counter(
        (f["log_index"], f["chain_id"], f["seq"], f["verdict"]) for f in expected["failures"]
    )
    got = Counter(
        (f.log_index, f.chain_id.hex() if f.chain_id is not None else None, f.seq, f.code)
        for f in report.failures
    )
    diffs = _listed("expected failure not reported", want - got)
    diffs += _listed("unexpected failure reported", got - want)

    want_cp = Counter((c["tree_size"], c["verdict"]) for c in expected["checkpoints"])
    got_cp = Counter((c.tree_size, c.code) for c in report.checkpoints if c.code != OK)
    diffs += _listed("expected checkpoint verdict not reported", want_cp - got_cp)
    diffs += _listed("unexpected checkpoint verdict reported", got_cp - want_cp)

    want_missing = [list(m) for m in expected["missing_log_positions"]]
    got_missing = [list(m) for m in report.missing_log_positions]
    if want_missing != got_missing:
        diffs.append(f"missing log positions: expected {want_missing}, reported {got_missing}")
    if bool(expected["clean"]) != report.clean:
        diffs.append(f"clean: expected {expected['clean']}, reported {report.clean}")
    return diffs
