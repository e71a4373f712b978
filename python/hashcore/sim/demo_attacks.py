"""The demo's fraud part: every tampered copy audited, compared with its expectation, located
(participant, log ranges) and its checkpoints checked against the anchors on chain; and the
terminal table of the outcomes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    pass


#: Failures listed per attack in report.json (the tampered copy's audit has them all).
_LISTED_FAILURES = 12


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _chain_check(path: Path, chain: Any, log_id: bytes) -> dict[str, Any] | None:
    """What the anchors on chain say of a bundle's checkpoints, beyond the bundle audit:
    checkpoints without a final anchor of their own root, and an anchor larger than the
    bundle's largest checkpoint (a log cut short or a checkpoint withheld, which a
    bundle-only audit can't see). None when the manifest names no chain."""
    from ..anchor.audit import check_anchors
    from ..bundle import read_bundle

    bundle = read_bundle(path)
    if bundle.evm is None:
        return None
    contract = str(bundle.evm["contract"])
    checks = check_anchors(
        bundle.checkpoints,
        log_id,
        chain,
        contract,
        int(bundle.evm["confirmations"]),
        chain_id=int(bundle.evm["chain_id"]),
    )
    _, on_chain = chain.anchor_state(contract, log_id)
    sizes = [int(s) for s in bundle.checkpoints.column("tree_size").to_pylist() if s is not None]
    return on_chain_summary(checks, on_chain, max(sizes, default=0))


def on_chain_summary(checks: Sequence[Any], on_chain: int, largest: int) -> dict[str, Any]:
    """Checkpoints without a final anchor, and an anchored size beyond the bundle's."""
    not_final = [
        {"tree_size": c.tree_size, "state": c.state, "verdict": c.verdict, "reason": c.reason}
        for c in checks
        if c.state != "final"
    ]
    findings = [
        f"checkpoint of tree size {c['tree_size']:,}: {c['verdict']} ({c['reason']})"
        for c in not_final
    ]
    if on_chain > largest:
        findings.append(
            f"the chain holds this log's anchor of tree size {on_chain:,}, but the bundle's "
            f"checkpoints stop at {largest:,}: {on_chain - largest:,} log positions withheld"
        )
    return {
        "anchors": dict(Counter(str(c.state) for c in checks)),
        "not_final": not_final,
        "chain_tree_size": on_chain,
        "bundle_tree_size": largest,
        "findings": findings,
    }


def _chain_text(on_chain: dict[str, Any] | None) -> str:
    """The chain check in a few words, for the console table."""
    if not on_chain:
        return ""
    parts = [f"checkpoint {c['tree_size']:,} {c['verdict']}" for c in on_chain["not_final"]]
    if on_chain["chain_tree_size"] > on_chain["bundle_tree_size"]:
        parts.append(
            f"anchored log of {on_chain['chain_tree_size']:,} > bundle's "
            f"{on_chain['bundle_tree_size']:,}"
        )
    return "; ".join(parts)


def _where(
    failures: Sequence[Any],
    checkpoints: Sequence[Any],
    missing: Sequence[Sequence[int]],
    participants: dict[str, str],
) -> dict[str, Any]:
    """Where an audit found things: the primary failures (with participant), NOT_LOGGED
    as log ranges, the non-OK checkpoints and the missing positions."""
    from ..report import ranges

    primary = [f for f in failures if f.code != "NOT_LOGGED"]
    unlogged = [f.log_index for f in failures if f.code == "NOT_LOGGED"]
    listed = []
    for f in primary[:_LISTED_FAILURES]:
        chain = f.chain_id.hex() if f.chain_id is not None else None
        listed.append(
            {
                "log_index": f.log_index,
                "chain_id": chain,
                "participant": participants.get(chain or ""),
                "seq": f.seq,
                "verdict": f.code,
            }
        )
    return {
        "failures": listed,
        "primary_failures": len(primary),
        "not_logged": {"count": len(unlogged), "ranges": [list(r) for r in ranges(unlogged)]},
        "checkpoints": [
            {"tree_size": c.tree_size, "verdict": c.code} for c in checkpoints if c.code != "OK"
        ],
        "missing_log_positions": [list(m) for m in missing],
    }


def _where_text(where: dict[str, Any]) -> str:
    """One compact line: ``BAD_COMMIT @4,512 P0042/17; NOT_LOGGED 9,800–11,411; ...``
    (a failure as verdict, log index, participant/seq)."""
    from ..report import ranges_text

    parts = []
    for f in where["failures"][:2]:
        who = f["participant"] or (f["chain_id"] or "?")[:8]
        parts.append(f"{f['verdict']} @{f['log_index']:,} {who}/{f['seq']}")
    if where["primary_failures"] > 2:
        parts.append(f"+{where['primary_failures'] - 2} more")
    if where["not_logged"]["count"]:
        parts.append(f"NOT_LOGGED {ranges_text(where['not_logged']['ranges'], 2)}")
    for c in where["checkpoints"][:2]:
        parts.append(f"checkpoint {c['tree_size']:,} {c['verdict']}")
    if len(where["checkpoints"]) > 2:
        parts.append(f"+{len(where['checkpoints']) - 2} checkpoints")
    if where["missing_log_positions"]:
        runs = [(a, b - 1) for a, b in where["missing_log_positions"]]
        parts.append(f"missing {ranges_text(runs, 2)}")
    return "; ".join(parts) or "–"


def _counts(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(str(i["verdict"]) for i in items).items()))


def _audit_attack(
    result: Any, chain: Any, log_id: bytes, participants: dict[str, str]
) -> dict[str, Any]:
    """Audit one tampered copy (bundle only, trusted log_id: what its expected.json is
    for), compare, locate, and check its checkpoints against the anchors on chain."""
    from ..audit import audit_bundle_v1
    from .fraud import compare, expected_summary

    base: dict[str, Any] = {"name": result.name, "description": result.description}
    if result.path is None or result.expected is None:
        return {**base, "skipped": result.skipped, "caught": None, "outcome": "skipped"}
    expected = result.expected
    report = audit_bundle_v1(result.path, log_id=log_id)
    differences = compare(expected, report)
    # The audit in expected.json's shape, so that expected_summary() words both alike.
    found: dict[str, Any] = {
        "clean": report.clean,
        "failures": [{"verdict": f.code} for f in report.failures],
        "checkpoints": [{"verdict": c.code} for c in report.checkpoints if c.code != "OK"],
        "missing_log_positions": [list(m) for m in report.missing_log_positions],
    }
    where = _where(report.failures, report.checkpoints, report.missing_log_positions, participants)
    on_chain = _chain_check(result.path, chain, log_id)
    caught = not differences
    revealed = bool(on_chain and on_chain["findings"])
    if not caught:
        outcome = "NOT AS EXPECTED"
    elif not report.clean:
        outcome = "caught"
    else:
        outcome = "caught on chain" if revealed else "clean, as expected"
    return {
        **base,
        "skipped": None,
        "path": str(result.path),
        "expected": {
            "clean": expected["clean"],
            "records": _counts(expected["failures"]),
            "checkpoints": _counts(expected["checkpoints"]),
            "missing_log_positions": expected["missing_log_positions"],
            "target": expected.get("target"),
            "summary": expected_summary(expected),
        },
        "found": {
            "clean": report.clean,
            "records": _counts(found["failures"]),
            "checkpoints": _counts(found["checkpoints"]),
            "missing_log_positions": found["missing_log_positions"],
            "summary": expected_summary(found),
        },
        "differences": differences,
        "caught": caught,
        "detected": not report.clean,
        "revealed_on_chain": revealed,
        "outcome": outcome,
        "where": where,
        "where_text": _where_text(where),
        "on_chain": on_chain,
        "on_chain_text": _chain_text(on_chain),
    }


def run_attacks(
    out: Path,
    chain: Any,
    log_id: bytes,
    log_seed: bytes,
    seed: int,
    participants: dict[str, str],
    console: Console,
) -> list[dict[str, Any]]:
    from .fraud import simulate_fraud

    with console.status("writing one tampered copy of the bundle per attack ..."):
        results = simulate_fraud(out / "bundle", out / "attacks", log_seed=log_seed, seed=seed)
    attacks = []
    with progress_bar(console) as progress:
        task = progress.add_task("auditing attacks", total=len(results))
        for result in results:
            progress.update(task, description=f"auditing {result.name}")
            attacks.append(_audit_attack(result, chain, log_id, participants))
            progress.advance(task)
    return attacks


_OUTCOME_STYLES = {"caught": "green", "caught on chain": "green", "clean, as expected": "yellow"}


def print_attacks(console: Console, attacks: Sequence[dict[str, Any]]) -> None:
    table = Table(title="fraud simulation", title_justify="left", show_lines=False)
    table.add_column("attack", no_wrap=True)
    table.add_column("audit found")
    table.add_column("where")
    table.add_column("result", no_wrap=True)
    for a in attacks:
        style = _OUTCOME_STYLES.get(a["outcome"], "red" if a["outcome"] != "skipped" else "dim")
        if a["skipped"]:
            found, where = escape(str(a["skipped"])), ""
        else:
            found = escape(a["found"]["summary"])
            where = escape(a["where_text"])
            if a["on_chain_text"]:
                where += f"\n[cyan]on chain:[/] {escape(a['on_chain_text'])}"
        table.add_row(escape(a["name"]), found, where, f"[{style}]{escape(a['outcome'])}[/]")
    console.print(table)
