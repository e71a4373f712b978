"""The expectation model: from what an attack did (the verdict it states for the rows it
changed, which log positions it touched, what each checkpoint, note and receipt signs and
over which log) and the SPEC v2 section 5 rules, what an auditor must report. Derived,
never observed: nothing here runs the auditor, and no root is recomputed from the copy;
whether a root still holds follows from the first position the attack changed."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...policy import Policy
from .model import (
    ANCHOR_BEYOND_BUNDLE,
    ANCHOR_CONTRADICTED,
    ANCHOR_OK,
    ANCHOR_UNCONFIRMED,
    BAD_BEACON,
    BAD_CHECKPOINT_SIG,
    BEACON_REGRESSED,
    EQUIVOCATION,
    EXPECT,
    INCOMPLETE,
    INCONSISTENT,
    MALFORMED,
    NOT_ANCHORED,
    NOT_LOGGED,
    NOTE_REJECTED,
    OK,
    OK_REDACTED,
    ORIGINAL,
    RECEIPT_BAD_SIG,
    RECEIPT_CONFLICT,
    RECEIPT_CONTRADICTED,
    RECEIPT_OK,
    RECEIPT_PENDING,
    RECEIPT_WITHHELD,
    ROOT_MISMATCH,
    ROOT_OF,
    ROW_MATCHES,
    SIG_OK,
    SIGNED,
    TAMPERED,
    TIME_AFTER_RECEIPT,
    TIME_AFTER_WITNESS,
    TIME_BEFORE_BEACON,
    UNCONFIRMED,
    UNWITNESSED,
    WITNESS_TIMES,
    Anchor,
    Base,
    Row,
    Tampered,
    where_of,
)

__all__ = ["derive_expectation", "expected_summary"]

_UNCLEAN_RECEIPTS = frozenset({RECEIPT_CONFLICT, RECEIPT_CONTRADICTED, RECEIPT_WITHHELD})


def expected_summary(expected: dict[str, Any]) -> str:
    """``BAD_SIGNATURE 1, NOT_LOGGED 7; checkpoints ROOT_MISMATCH 2; ...`` (or ``clean``)."""
    parts = []
    records = Counter(f["verdict"] for f in expected["failures"])
    if records:
        parts.append(", ".join(f"{code} {n}" for code, n in sorted(records.items())))
    checkpoints = Counter(c["verdict"] for c in expected["checkpoints"] if c["verdict"] != OK)
    if checkpoints:
        parts.append("checkpoints " + ", ".join(f"{c} {n}" for c, n in sorted(checkpoints.items())))
    receipts = {k: v for k, v in expected["receipt_counts"].items() if k != RECEIPT_OK}
    if receipts:
        parts.append("receipts " + ", ".join(f"{c} {n}" for c, n in sorted(receipts.items())))
    notes = Counter(n["verdict"] for n in expected["notes"] if n["verdict"] != OK)
    if notes:
        parts.append("notes " + ", ".join(f"{c} {n}" for c, n in sorted(notes.items())))
    anchors = Counter(
        a["verdict"] for a in expected.get("anchors", []) if a["verdict"] != ANCHOR_OK
    )
    if anchors:
        parts.append("anchors " + ", ".join(f"{c} {n}" for c, n in sorted(anchors.items())))
    findings = Counter(t["code"] for t in expected["time_findings"])
    if findings:
        parts.append("time " + ", ".join(f"{c} {n}" for c, n in sorted(findings.items())))
    if expected["missing_log_positions"]:
        spans = ", ".join(f"[{a}, {b})" for a, b in expected["missing_log_positions"])
        parts.append(f"missing {spans}")
    if expected["incomplete"]:
        parts.append("INCOMPLETE")
    if not parts:
        return "clean"
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class _Log:
    """What the copy's rows did to the log, by position."""

    #: position -> the distinct entries (link, received_ms) rows give it.
    entries: dict[int, frozenset[tuple[bytes, int]]]
    #: Length of the longest prefix that can be rebuilt (every position held, by rows of
    #: one entry): SPEC 5.1's "can't be rebuilt" stops at the first other position.
    rebuildable: int
    #: First position whose entry differs from the clean log's (changed, missing,
    #: ambiguous or extra); the clean log's roots of sizes up to it still hold.
    first_changed: int

    def holds(self, size: int, root_of: str) -> bool:
        """Whether a root of ``root_of`` over ``size`` entries is the copy's MTH."""
        if root_of == ORIGINAL:
            return size <= min(self.first_changed, self.rebuildable)
        if root_of == TAMPERED:
            return size <= self.rebuildable
        return False

    def entry(self, position: int) -> tuple[bytes, int] | None:
        found = self.entries.get(position, frozenset())
        return next(iter(found)) if len(found) == 1 else None


def _log(base: Base, rows: list[Row]) -> _Log:
    entries: dict[int, set[tuple[bytes, int]]] = {}
    for row in rows:
        entries.setdefault(row["log_index"], set()).add((row["link"], row["received_ms"]))
    rebuildable = 0
    while len(entries.get(rebuildable, ())) == 1:
        rebuildable += 1
    end = max(base.size, max(entries, default=-1) + 1)
    original = [(r["link"], r["received_ms"]) for r in base.rows]
    first_changed = next(
        (p for p in range(end) if p >= base.size or entries.get(p) != {original[p]}), end
    )
    return _Log({p: frozenset(e) for p, e in entries.items()}, rebuildable, first_changed)


def _qth(values: list[int], q: int, greatest: bool) -> int | None:
    ordered = sorted(values, reverse=greatest)
    return ordered[q - 1] if len(ordered) >= q else None


@dataclass
class _Checkpoints:
    verdicts: list[str]
    attesting: list[Row]
    #: A: the largest attesting tree size (0: none); T: the largest signed body size.
    attested: int
    covered: int


def _checkpoints(
    cps: list[Row], log: _Log, policy: Policy, anchors: list[Anchor] | None
) -> _Checkpoints:
    # What the relay signed counts by the note's body, even where the row differs from
    # it (decision 2): such a row is BAD_CHECKPOINT_SIG, but its note still attests.
    attests = [cp[SIGNED] is not None and log.holds(cp[SIGNED][0], cp[ROOT_OF]) for cp in cps]
    names = {w.name for w in policy.witnesses}
    verdicts = []
    for j, cp in enumerate(cps):
        if cp[SIGNED] is None or not cp[ROW_MATCHES]:
            verdicts.append(BAD_CHECKPOINT_SIG)
        elif not attests[j]:
            verdicts.append(ROOT_MISMATCH)
        elif any(
            # A consistency proof built from the bundle proves the copy's root of the
            # smaller size; it fails exactly against a signed root that isn't it.
            k != j
            and other[SIGNED] is not None
            and other[SIGNED][0] <= cp[SIGNED][0]
            and not attests[k]
            for k, other in enumerate(cps)
        ):
            verdicts.append(INCONSISTENT)
        elif sum(1 for n in names if cp[WITNESS_TIMES].get(n)) < policy.witness_quorum:
            verdicts.append(UNWITNESSED)
        else:
            verdicts.append(OK)
    # A checkpoint attests when its relay line verifies and the log rebuilds its root.
    attesting = [
        {"tree_size": cp[SIGNED][0], "root": cp[SIGNED][1], WITNESS_TIMES: cp[WITNESS_TIMES]}
        for cp, a in zip(cps, attests, strict=True)
        if a
    ]
    if policy.evm is not None and anchors is not None:
        final = {(a.tree_size, a.root) for a in anchors if a.by_anchorer and a.final}
        pending = {(a.tree_size, a.root) for a in anchors if a.by_anchorer and not a.final}
        for j, cp in enumerate(cps):
            if verdicts[j] != OK:
                continue
            # A later attesting checkpoint's anchor vouches for this one (5.2).
            keys = {cp[SIGNED]} | {
                (a["tree_size"], a["root"]) for a in attesting if a["tree_size"] > cp[SIGNED][0]
            }
            if not keys & final:
                verdicts[j] = UNCONFIRMED if keys & pending else NOT_ANCHORED
    signed_sizes = [cp[SIGNED][0] for cp in cps if cp[SIGNED] is not None]
    return _Checkpoints(
        verdicts,
        attesting,
        max((cp["tree_size"] for cp in attesting), default=0),
        max(signed_sizes, default=0),
    )


@dataclass
class _Clocks:
    q: int
    names: list[str]
    attesting: list[Row]

    def late(self) -> int | None:
        greatest = [
            max(t for cp in self.attesting for t in cp[WITNESS_TIMES].get(n, []))
            for n in self.names
            if any(cp[WITNESS_TIMES].get(n) for cp in self.attesting)
        ]
        return _qth(greatest, self.q, True)

    def early(self, log_index: int) -> int | None:
        """W_early of a record at ``log_index``: over the attesting checkpoints that cover
        it (tree_size > log_index), each witness's smallest time, the q-th smallest."""
        if self._sizes is None:
            self._index_covering()
        assert self._sizes is not None
        return self._early[bisect.bisect_right(self._sizes, log_index)]

    _sizes: list[int] | None = field(default=None, init=False)
    _early: list[int | None] = field(default_factory=list, init=False)

    def _index_covering(self) -> None:
        # The checkpoints covering a position are those of the sizes above it: a suffix of
        # the distinct sizes in order. W_early for each suffix, from the largest size down,
        # keeping each witness's smallest time so far (once per size, not per record).
        sizes = sorted({cp["tree_size"] for cp in self.attesting})
        smallest: dict[str, int] = {}
        early: list[int | None] = [None] * (len(sizes) + 1)
        for k in range(len(sizes) - 1, -1, -1):
            for cp in self.attesting:
                if cp["tree_size"] != sizes[k]:
                    continue
                for n in self.names:
                    for t in cp[WITNESS_TIMES].get(n, []):
                        smallest[n] = min(smallest.get(n, t), t)
            early[k] = _qth(list(smallest.values()), self.q, False)
        self._sizes, self._early = sizes, early


def _signed_bodies(cps: list[Row], notes: list[Row]) -> list[tuple[int, bytes]]:
    return [x[SIGNED] for x in [*cps, *notes] if x[SIGNED] is not None]


def _records(
    rows: list[Row], log: _Log, cps: _Checkpoints, bodies: set[tuple[int, bytes]]
) -> tuple[list[dict[str, Any]], dict[int, bool]]:
    """Failures, and per row (by list index) whether its beacon was judged and right."""
    failures = []
    right: dict[int, bool] = {}
    for i, row in enumerate(rows):
        verdict = row.get(EXPECT) or (OK_REDACTED if row["payload"] is None else OK)
        b, li = row["beacon_size"], row["log_index"]
        root_of = row.get(ROOT_OF, ORIGINAL)
        judged = any(cp["tree_size"] >= b for cp in cps.attesting)
        wrong = b > 0 and (b > li or (judged and not log.holds(b, root_of)))
        if b == 0 or (not wrong and judged):
            right[i] = True
        if verdict in (OK, OK_REDACTED):
            # A beacon that is wrong is the record's fault unless the relay signed it:
            # then the relay signed two histories (decision 1).
            if wrong and (b, row["beacon_root"]) not in bodies:
                verdict = BAD_BEACON
            elif li >= cps.attested:
                verdict = NOT_LOGGED
        if verdict not in (OK, OK_REDACTED):
            failures.append({**where_of(row), "verdict": verdict})
    failures.sort(key=lambda f: (f["log_index"], f["verdict"], f["chain_id"], f["seq"]))
    return failures, right


def _time_findings(
    rows: list[Row], log: _Log, right: dict[int, bool], clocks: _Clocks, skew: int
) -> list[dict[str, Any]]:
    previous: dict[tuple[bytes, int], int] = {}
    for row in rows:
        if row.get(EXPECT) != MALFORMED:
            key = (row["chain_id"], row["seq"])
            previous[key] = min(previous.get(key, row["beacon_size"]), row["beacon_size"])
    findings = []
    for i, row in enumerate(rows):
        if row.get(EXPECT) == MALFORMED or not right.get(i):
            continue
        b, t = row["beacon_size"], row["time_ms"]
        below = log.entry(b - 1) if b else None
        lower = below[1] if below is not None else None
        upper = row["received_ms"]
        early = clocks.early(row["log_index"])
        witnessed = 1000 * early if early is not None else None
        before = previous.get((row["chain_id"], row["seq"] - 1)) if row["seq"] else None
        code = None
        if lower is not None and t < lower - skew:
            code = TIME_BEFORE_BEACON
        elif t > upper + skew:
            code = TIME_AFTER_RECEIPT
        elif witnessed is not None and t > witnessed + skew:
            code = TIME_AFTER_WITNESS
        elif before is not None and b < before:
            code = BEACON_REGRESSED
        if code is not None:
            findings.append(
                {
                    "log_index": row["log_index"],
                    "chain_id": row["chain_id"].hex(),
                    "seq": row["seq"],
                    "code": code,
                    "time_ms": t,
                    "lower": lower,
                    "upper": upper,
                    "upper_witnessed": witnessed,
                }
            )
    findings.sort(key=lambda f: (f["log_index"], f["code"]))
    return findings


def _receipts(
    receipts: list[Row], log: _Log, attested: int, deadline: int | None, delay: int
) -> list[dict[str, Any]]:
    promised: dict[int, set[tuple[bytes, int]]] = {}
    for r in receipts:
        if r[SIG_OK]:
            promised.setdefault(r["log_index"], set()).add((r["link"], r["received_ms"]))
    out = []
    for r in receipts:
        li, entry = r["log_index"], (r["link"], r["received_ms"])
        if not r[SIG_OK]:
            verdict = RECEIPT_BAD_SIG
        elif len(promised[li]) > 1:
            verdict = RECEIPT_CONFLICT
        elif li < attested:
            verdict = RECEIPT_OK if log.entry(li) == entry else RECEIPT_CONTRADICTED
        elif deadline is not None and r["received_ms"] + delay <= deadline:
            verdict = RECEIPT_WITHHELD
        else:
            verdict = RECEIPT_PENDING
        out.append(
            {"log_index": li, "chain_id": r["chain_id"].hex(), "seq": r["seq"], "verdict": verdict}
        )
    return out


def _notes(notes: list[Row], cps: list[Row], log: _Log, covered: int) -> list[dict[str, Any]]:
    roots_by_size: dict[int, set[bytes]] = {}
    for size, root in _signed_bodies(cps, notes):
        roots_by_size.setdefault(size, set()).add(root)
    out = []
    for n in notes:
        if n[SIGNED] is None:
            out.append({"tree_size": n.get("_parsed_size"), "verdict": NOTE_REJECTED})
            continue
        size, _ = n[SIGNED]
        if (size <= covered and not log.holds(size, n[ROOT_OF])) or len(roots_by_size[size]) > 1:
            verdict = EQUIVOCATION
        elif size > covered:
            verdict = INCOMPLETE
        else:
            verdict = OK
        out.append({"tree_size": size, "verdict": verdict})
    return out


def _missing(held: set[int], top: int) -> list[list[int]]:
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


def derive_expectation(
    base: Base, tampered: Tampered, policy: Policy | None = None
) -> dict[str, Any]:
    """The audit the tampered copy and its evidence must get (SPEC v2 5) under ``policy``
    (default: the base's), from what the attack changed."""
    policy = base.policy if policy is None else policy
    log = _log(base, tampered.rows)
    cps = _checkpoints(tampered.checkpoints, log, policy, tampered.anchors)
    clocks = _Clocks(
        max(1, policy.witness_quorum), [w.name for w in policy.witnesses], cps.attesting
    )
    bodies = set(_signed_bodies(tampered.checkpoints, tampered.notes))
    failures, right = _records(tampered.rows, log, cps, bodies)
    findings = _time_findings(tampered.rows, log, right, clocks, policy.max_clock_skew_ms)

    deadline = None
    if cps.attesting:
        covered_received = [e[1] for p in range(cps.attested) if (e := log.entry(p)) is not None]
        late = clocks.late()
        deadline = max([*covered_received, *([1000 * late] if late is not None else [])])
    receipts = _receipts(tampered.receipts, log, cps.attested, deadline, policy.max_merge_delay_ms)
    notes = _notes(tampered.notes, tampered.checkpoints, log, cps.covered)
    anchors: list[dict[str, Any]] = []
    incomplete = any(n["verdict"] == INCOMPLETE for n in notes)
    if policy.evm is not None and tampered.anchors is not None:
        for a in tampered.anchors:
            if not a.by_anchorer:
                continue  # SPEC 2.5: only the policy's anchorer counts
            if a.tree_size <= cps.covered and not log.holds(a.tree_size, a.root_of):
                verdict = ANCHOR_CONTRADICTED
            elif not a.final:
                verdict = ANCHOR_UNCONFIRMED
            elif a.tree_size > cps.covered:
                verdict = ANCHOR_BEYOND_BUNDLE  # the relay anchored more than it exported
            else:
                verdict = ANCHOR_OK
            anchors.append({"tree_size": a.tree_size, "verdict": verdict})
            incomplete = incomplete or (a.final and a.tree_size > cps.covered)
    checkpoints = [
        {"tree_size": cp["tree_size"], "verdict": v}
        for cp, v in zip(tampered.checkpoints, cps.verdicts, strict=True)
    ]
    missing = _missing(set(log.entries), cps.covered)
    receipt_counts = dict(sorted(Counter(r["verdict"] for r in receipts).items()))
    clean = (
        not failures
        and all(c["verdict"] == OK for c in checkpoints)
        and not missing
        and not any(r["verdict"] in _UNCLEAN_RECEIPTS for r in receipts)
        and not any(n["verdict"] == EQUIVOCATION for n in notes)
        and not any(a["verdict"] == ANCHOR_CONTRADICTED for a in anchors)
        and not incomplete
    )
    return {
        "clean": clean,
        "clean_with_strict_time": clean and not findings,
        "failures": failures,
        "checkpoints": checkpoints,
        "receipts": [r for r in receipts if r["verdict"] != RECEIPT_OK],
        "receipt_counts": receipt_counts,
        "notes": notes,
        "time_findings": findings,
        "missing_log_positions": missing,
        "incomplete": incomplete,
        "covered_size": cps.covered,
        "deadline_clock_ms": deadline,
        "anchors": anchors,
        "derivation": {
            "first_changed_position": log.first_changed,
            "rebuildable_prefix": log.rebuildable,
            "attested_size": cps.attested,
            "largest_signed_tree_size": cps.covered,
            "anchors_checked": tampered.anchors is not None and policy.evm is not None,
        },
    }
