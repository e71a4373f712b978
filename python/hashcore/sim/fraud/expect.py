"""The expectation model: from the log positions an attack touched and the checkpoint sizes,
what an auditor must report (SPEC section 4's log rules), derived, never observed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .model import (
    BAD_CHECKPOINT_SIG,
    EXPECT,
    INCONSISTENT,
    NOT_LOGGED,
    OK,
    OK_REDACTED,
    ORIGINAL,
    ROOT_MISMATCH,
    ROOT_OF,
    SIG_OK,
    TAMPERED,
    Base,
    Row,
    Tampered,
    where_of,
)


def expected_summary(expected: dict[str, Any]) -> str:
    """``BAD_SIGNATURE 1, NOT_LOGGED 7; checkpoints ROOT_MISMATCH 2`` (or ``clean``)."""
    if expected["clean"]:
        return "clean"
    records = Counter(f["verdict"] for f in expected["failures"])
    checkpoints = Counter(c["verdict"] for c in expected["checkpoints"])
    parts = [", ".join(f"{code} {n}" for code, n in sorted(records.items())) or "records OK"]
    if checkpoints:
        parts.append("checkpoints " + ", ".join(f"{c} {n}" for c, n in sorted(checkpoints.items())))
    if expected["missing_log_positions"]:
        spans = ", ".join(f"[{a}, {b})" for a, b in expected["missing_log_positions"])
        parts.append(f"missing {spans}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class _LogState:
    """What the tampered rows did to the Merkle log, by position."""

    #: Positions held by at least one row.
    held: frozenset[int]
    #: Length of the longest prefix that can be rebuilt (every position held, by rows
    #: that agree on one link): SPEC 4's "can't be rebuilt" stops at the first other one.
    rebuildable: int
    #: First position whose leaf differs from the clean log's (a changed, missing,
    #: ambiguous or extra leaf); the clean log's roots of sizes up to it still hold.
    first_changed: int


def _log_state(base: Base, rows: list[Row]) -> _LogState:
    links: dict[int, set[bytes]] = {}
    for row in rows:
        links.setdefault(row["log_index"], set()).add(row["link"])
    rebuildable = 0
    while len(links.get(rebuildable, ())) == 1:
        rebuildable += 1
    end = max(base.size, max(links, default=-1) + 1)
    first_changed = next(
        (p for p in range(end) if p >= base.size or links.get(p) != {base.rows[p]["link"]}),
        end,
    )
    return _LogState(frozenset(links), rebuildable, first_changed)


def _root_holds(cp: Row, log: _LogState) -> bool:
    """Whether ``cp``'s root is the root of the first tree_size stored links."""
    size: int = cp["tree_size"]
    if cp[ROOT_OF] == ORIGINAL:
        # The clean log's root of size s is still right iff leaves 0..s-1 are unchanged.
        return size <= min(log.first_changed, log.rebuildable)
    if cp[ROOT_OF] == TAMPERED:
        # Signed over exactly the links written to the copy.
        return size <= log.rebuildable
    return False


def _checkpoint_verdicts(cps: list[Row], log: _LogState) -> list[str]:
    """SPEC 4 checkpoint verdicts; the anchors are not checked (no NOT_ANCHORED)."""
    holds = [cp[SIG_OK] and _root_holds(cp, log) for cp in cps]
    verdicts = []
    for j, cp in enumerate(cps):
        if not cp[SIG_OK]:
            verdicts.append(BAD_CHECKPOINT_SIG)
        elif not holds[j]:
            verdicts.append(ROOT_MISMATCH)
        elif any(
            # A consistency proof built from the bundle's links proves the true root of
            # the smaller size; it fails exactly against a signed root that isn't it.
            k != j and other[SIG_OK] and other["tree_size"] <= cp["tree_size"] and not holds[k]
            for k, other in enumerate(cps)
        ):
            verdicts.append(INCONSISTENT)
        else:
            verdicts.append(OK)
    return verdicts


def _missing_ranges(held: frozenset[int], top: int) -> list[list[int]]:
    """[start, end) runs of positions below ``top`` that no row holds."""
    ranges: list[list[int]] = []
    for p in range(top):
        if p in held:
            continue
        if ranges and ranges[-1][1] == p:
            ranges[-1][1] = p + 1
        else:
            ranges.append([p, p + 1])
    return ranges


def derive_expectation(base: Base, tampered: Tampered) -> dict[str, Any]:
    """The audit the tampered copy must get (SPEC 4), from what the attack changed."""
    log = _log_state(base, tampered.rows)
    cps = tampered.checkpoints
    cp_verdicts = _checkpoint_verdicts(cps, log)
    # A checkpoint attests when its signature verifies and its root rebuilds:
    # INCONSISTENT ones attest too, ROOT_MISMATCH and BAD_CHECKPOINT_SIG ones don't.
    attested = max(
        (
            cp["tree_size"]
            for cp, v in zip(cps, cp_verdicts, strict=True)
            if v in (OK, INCONSISTENT)
        ),
        default=0,
    )
    largest_signed = max((cp["tree_size"] for cp in cps if cp[SIG_OK]), default=0)

    failures = []
    for row in tampered.rows:
        verdict = row.get(EXPECT) or (OK_REDACTED if row["payload"] is None else OK)
        if verdict in (OK, OK_REDACTED) and row["log_index"] >= attested:
            verdict = NOT_LOGGED  # after every rule but OK: only otherwise-valid records
        if verdict not in (OK, OK_REDACTED):
            failures.append({**where_of(row), "verdict": verdict})
    failures.sort(key=lambda f: (f["log_index"], f["verdict"], f["chain_id"], f["seq"]))
    checkpoints = sorted(
        (
            {"tree_size": cp["tree_size"], "verdict": v}
            for cp, v in zip(cps, cp_verdicts, strict=True)
            if v != OK
        ),
        key=lambda c: (c["tree_size"], c["verdict"]),
    )
    missing = _missing_ranges(log.held, largest_signed)
    return {
        "clean": not failures and not checkpoints and not missing,
        "failures": failures,
        "checkpoints": checkpoints,
        "missing_log_positions": missing,
        "derivation": {
            "first_changed_leaf": log.first_changed,
            "rebuildable_prefix": log.rebuildable,
            "attested_size": attested,
            "largest_signed_tree_size": largest_signed,
        },
    }
