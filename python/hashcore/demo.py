"""``hashcore demo`` (``make demo``, ``python -m hashcore.demo``): the whole story on
embedded defaults.

1. A real relay on loopback (SQLite in ``DIR/relay/``, its embedded EVM chain).
2. A simulated insomnia-therapy trial through it (:func:`hashcore.trial.simulate_trial`):
   phones enrolled with one-time tokens, a sleep diary every morning, offline spells
   synced later in batches, key rotations, one right-to-erasure request. The relay signs
   a checkpoint at the end of every trial week and anchors it on chain.
3. The relay's store exported as an audit bundle (``DIR/bundle/``) and audited against
   the chain with the relay's trusted log_id: it must be clean.
4. The fraud simulation: one tampered copy per attack (``DIR/attacks/<name>/`` with its
   ``expected.json``), each audited and compared with what it must give, verdict by
   verdict and position by position; then its checkpoints are checked against the
   anchors on chain, which reveals what no bundle-only audit can.
5. ``DIR/report.json`` and ``DIR/report.html`` tell the story; ``DIR/participants.json``
   is the site's enrollment register (chain_id -> participant id), which the bundle
   does not carry (SPEC section 3).

Exit status: 0 when the clean bundle is clean and every attack's audit matches its
expectation exactly, 1 otherwise, 2 when the demo could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import HashcoreError

if TYPE_CHECKING:
    from .relay.background import BackgroundRelay

__all__ = ["DemoError", "DemoOptions", "main", "run_demo"]

T = TypeVar("T")

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_UNUSABLE = 2

#: Blocks (the anchoring one included) before an anchor counts as final.
CONFIRMATIONS = 2
#: The relay signs a checkpoint (and anchors it) at the end of every trial week.
WEEK_DAYS = 7
#: Failures listed per attack in report.json (the tampered copy's audit has them all).
_LISTED_FAILURES = 12
_WAIT_S = 120.0


class DemoError(HashcoreError):
    """The demo could not run (one line says why)."""


@dataclass(frozen=True)
class DemoOptions:
    out: Path | None = None
    participants: int = 200
    days: int = 56
    seed: int = 0


# --------------------------------------------------------------------------- the relay


def _relay_config(relay_dir: Path) -> Any:
    from .relay.server import RelayConfig

    return RelayConfig(
        store=str(relay_dir / "relay.db"),
        listen="127.0.0.1:0",
        plaintext=True,
        # The demo signs and anchors one checkpoint per trial week itself, between days,
        # so the bundle's checkpoint sizes depend on the seed only, never on timing: no
        # size- or time-triggered checkpoints, and the anchorer's own loop (which would
        # race our passes) waits an hour. A production relay uses both timers instead.
        checkpoint_every=10**12,
        checkpoint_interval_s=3600.0,
        evm="embedded",
        confirmations=CONFIRMATIONS,
        anchor_interval_s=3600.0,
        grace_s=5.0,
    )


def _anchor_final(relay: BackgroundRelay, operator: Any) -> int:
    """Sign a checkpoint over the whole log, anchor it and bury it until final; returns
    its tree_size. Blocks are mined explicitly: no waiting for the chain's clock."""
    server = relay.server
    cp = operator.create_checkpoint()
    relay.call(server.anchorer.anchor_once())
    for _ in range(CONFIRMATIONS + 2):
        if (server.anchorer.status.final_tree_size or -1) >= cp.tree_size:
            return int(cp.tree_size)
        server.chain.mine(1)
        relay.call(server.anchorer.follow_once())
    raise DemoError(
        f"the checkpoint of tree_size {cp.tree_size} did not become final: "
        f"{server.anchorer.status.last_error or 'no error reported'}"
    )


@contextmanager
def _relay_log(path: Path) -> Iterator[None]:
    """Send the relay's and the anchorer's log lines to ``path``, not over the progress."""
    logger = logging.getLogger("hashcore")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        handler.close()
        logger.handlers[:], logger.level, logger.propagate = saved


# --------------------------------------------------------------------------- the story


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _run_trial(
    relay: BackgroundRelay, opts: DemoOptions, console: Console
) -> tuple[Any, list[int]]:
    """The trial, with a checkpoint anchored at the end of every week; (TrialResult,
    the anchored tree sizes)."""
    from .relay.client import RelayClient
    from .trial import simulate_trial

    server = relay.server
    target = f"127.0.0.1:{server.port}"
    anchored: list[int] = []
    with (
        RelayClient(target, plaintext=True) as phones,
        RelayClient(target, plaintext=True, operator_token=server.operator_token) as operator,
        _progress(console) as progress,
    ):
        task = progress.add_task("trial days", total=opts.days)

        def day_done(day: int, days: int) -> None:
            progress.update(task, completed=day)
            if day % WEEK_DAYS == 0 and day < days:
                size = _anchor_final(relay, operator)
                anchored.append(size)
                progress.console.print(
                    f"  week {day // WEEK_DAYS}: checkpoint of {size:,} records anchored"
                )

        trial = simulate_trial(
            phones,
            operator,
            participants=opts.participants,
            days=opts.days,
            seed=opts.seed,
            progress=day_done,
        )
        # After the erasure request (which keeps the log as it is) and the last day.
        size = _anchor_final(relay, operator)
        if not anchored or anchored[-1] != size:
            anchored.append(size)
    return trial, anchored


def _trial_json(trial: Any, opts: DemoOptions) -> dict[str, Any]:
    erasure = None
    if trial.erased is not None:
        who, chain_id, seq, log_index = trial.erased
        erasure = {
            "participant": who,
            "chain_id": chain_id.hex(),
            "seq": seq,
            "log_index": log_index,
        }
    return {
        "participants": len(trial.participants),
        "days": opts.days,
        "seed": opts.seed,
        "records": trial.records,
        "syncs": trial.syncs,
        "batches": trial.batches,
        "offline_spells": sum(1 for p in trial.participants if p.offline_days),
        "rotations": trial.rotations,
        "erasure": erasure,
    }


def _relay_json(store_path: Path, server: Any) -> dict[str, Any]:
    """The relay's log as its store holds it once stopped: size, checkpoints, anchors."""
    from .relay.store import open_store

    with open_store(str(store_path), readonly=True) as store:
        size = store.tree_size()
        checkpoints = store.list_checkpoints()
    return {
        "log_id": server.ledger.log_id.hex(),
        "log_size": size,
        "evm_chain_id": server.chain.chain_id(),
        "contract": server.contract,
        "confirmations": CONFIRMATIONS,
        "checkpoints": [
            {
                "tree_size": cp.tree_size,
                "root": cp.root.hex(),
                "tx_hash": "0x" + cp.anchor.tx_hash.hex() if cp.anchor else None,
                "block_number": cp.anchor.block_number if cp.anchor else None,
                "final": bool(cp.anchor and cp.anchor.final),
            }
            for cp in sorted(checkpoints, key=lambda c: c.tree_size)
        ],
    }


def _chain_check(path: Path, chain: Any, log_id: bytes) -> dict[str, Any] | None:
    """What the anchors on chain say of a bundle's checkpoints, beyond the bundle audit:
    checkpoints without a final anchor of their own root, and an anchor larger than the
    bundle's largest checkpoint (a log cut short or a checkpoint withheld, which a
    bundle-only audit can't see). None when the manifest names no chain."""
    from .anchor.audit import check_anchors
    from .bundle import read_bundle

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
    return _on_chain_summary(checks, on_chain, max(sizes, default=0))


def _on_chain_summary(checks: Sequence[Any], on_chain: int, largest: int) -> dict[str, Any]:
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


def _clean_audit(
    bundle: Path, server: Any, log_id: bytes, trial_records: int
) -> tuple[dict[str, Any], list[str]]:
    """The clean bundle's audit JSON (with per-chain rows and the chain check), and what
    is wrong with it (empty when it is clean with every record of the trial)."""
    from .anchor.audit import audit_bundle_with_evm

    audit = audit_bundle_with_evm(bundle, server.chain, log_id=log_id)
    body = audit.to_json()
    # The EVM audit already checked every anchor and read the log's anchored size.
    on_chain = None
    if audit.evm_chain_id is not None:
        largest = max((c.tree_size for c in audit.anchors if c.tree_size is not None), default=0)
        on_chain = _on_chain_summary(audit.anchors, audit.anchored_tree_size or 0, largest)
    body["on_chain"] = on_chain
    problems = []
    if not audit.clean:
        problems.append(f"the exported bundle does not audit clean: {audit.report!r}")
    if audit.report.records != trial_records:
        problems.append(
            f"the bundle holds {audit.report.records} records, the trial made {trial_records}"
        )
    if on_chain is not None:
        problems += on_chain["findings"]
    return body, problems


def _where(
    failures: Sequence[Any],
    checkpoints: Sequence[Any],
    missing: Sequence[Sequence[int]],
    participants: dict[str, str],
) -> dict[str, Any]:
    """Where an audit found things: the primary failures (with participant), NOT_LOGGED
    as log ranges, the non-OK checkpoints and the missing positions."""
    from .report_html import ranges

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
    from .report_html import ranges_text

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
    from .bundle import audit_bundle
    from .fraud import compare, expected_summary

    base: dict[str, Any] = {"name": result.name, "description": result.description}
    if result.path is None or result.expected is None:
        return {**base, "skipped": result.skipped, "caught": None, "outcome": "skipped"}
    expected = result.expected
    report = audit_bundle(result.path, log_id=log_id)
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


def _run_attacks(
    out: Path,
    chain: Any,
    log_id: bytes,
    log_seed: bytes,
    opts: DemoOptions,
    participants: dict[str, str],
    console: Console,
) -> list[dict[str, Any]]:
    from .fraud import simulate_fraud

    with console.status("writing one tampered copy of the bundle per attack ..."):
        results = simulate_fraud(out / "bundle", out / "attacks", log_seed=log_seed, seed=opts.seed)
    attacks = []
    with _progress(console) as progress:
        task = progress.add_task("auditing attacks", total=len(results))
        for result in results:
            progress.update(task, description=f"auditing {result.name}")
            attacks.append(_audit_attack(result, chain, log_id, participants))
            progress.advance(task)
    return attacks


# --------------------------------------------------------------------------- output


_OUTCOME_STYLES = {"caught": "green", "caught on chain": "green", "clean, as expected": "yellow"}


def _print_attacks(console: Console, attacks: Sequence[dict[str, Any]]) -> None:
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


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _prepare_out(out: Path | None, console: Console) -> Path:
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="hashcore-demo-"))
        console.print(f"output directory: {out} (a fresh temporary directory)")
        return out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        # Old bundles or attacks in there would be mixed with this run's.
        raise DemoError(f"{out}: exists and is not an empty directory; give a new --out DIR")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _console() -> Console:
    """A console for the story; wide when not a terminal (a log or CI keeps whole lines)."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=160)
    return console


def run_demo(opts: DemoOptions, console: Console | None = None) -> int:
    """Run the demo; returns the exit status (0, 1 or 2; see the module docstring)."""
    console = console or _console()
    try:
        with contextlib.ExitStack() as cleanup:
            return _run(opts, console, cleanup)
    except (HashcoreError, OSError) as exc:
        print(f"hashcore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_UNUSABLE


def _chain_read_back(config: Any, cleanup: contextlib.ExitStack) -> Any:
    """The relay's embedded chain, started again from its state file: the relay stopped
    its anvil, and the audits ask the chain about the anchors."""
    from .anchor import EvmChain
    from .anchor.embedded import EmbeddedAnvil

    node = EmbeddedAnvil.start(config.resolved_evm_state_file())
    cleanup.callback(node.stop)
    return EvmChain.connect(node.url)


def _run(opts: DemoOptions, console: Console, cleanup: contextlib.ExitStack) -> int:
    from .relay.export import export_bundle
    from .relay.keys import load_key
    from .report_html import render_demo_html, write_html

    started = time.perf_counter()
    out = _prepare_out(opts.out, console)
    relay_dir = out / "relay"
    relay_dir.mkdir(exist_ok=True)
    config = _relay_config(relay_dir)

    console.rule(f"1. trial: {opts.participants} participants x {opts.days} days, real relay")
    with _relay_log(relay_dir / "relay.log"):
        with console.status("starting the relay and its embedded EVM chain ..."):
            from .relay.background import BackgroundRelay

            relay = BackgroundRelay(config, wait_s=_WAIT_S).start()
        try:
            server = relay.server
            trial, anchored = _run_trial(relay, opts, console)
            assert server.ledger is not None  # set by start()
            log_id: bytes = server.ledger.log_id
        finally:
            relay.stop()
    server.chain = _chain_read_back(config, cleanup)
    trial_json = _trial_json(trial, opts)
    participants = {p.device.chain_id.hex(): p.participant for p in trial.participants}
    _write_json(out / "participants.json", participants)
    console.print(
        f"{trial.records:,} records from {len(trial.participants)} participants; "
        f"{trial.syncs:,} syncs in {trial.batches:,} batches; "
        f"{trial_json['offline_spells']} offline spells; {trial.rotations} key rotations; "
        f"1 erasure; {len(anchored)} checkpoints anchored (final after {CONFIRMATIONS} blocks)"
    )

    console.rule("2. export and audit against the chain")
    exported = export_bundle(config.store, out / "bundle", confirmations=CONFIRMATIONS)
    clean, problems = _clean_audit(out / "bundle", server, log_id, trial.records)
    status = "[green]CLEAN[/]" if not problems else "[red]NOT CLEAN[/]"
    anchors = clean["evm"]["anchors"]
    final = sum(1 for a in anchors if a["state"] == "final")
    console.print(
        f"bundle {out / 'bundle'}: {exported.records:,} records, {exported.checkpoints} "
        f"checkpoints, {final} of {len(anchors)} anchored final on chain; audit {status}"
    )
    for p in problems:
        console.print(f"[red]{escape(p)}[/]")

    console.rule("3. fraud simulation: tampered copies, audited")
    log_seed = load_key(config.resolved_key_file())
    attacks = _run_attacks(out, server.chain, log_id, log_seed, opts, participants, console)
    _print_attacks(console, attacks)

    ran = [a for a in attacks if not a["skipped"]]
    mismatched = [a["name"] for a in ran if not a["caught"]]
    ok = not problems and not mismatched
    demo = {
        "format": "hashcore-demo-report",
        "version": 1,
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "out_dir": str(out),
        "bundle": str(out / "bundle"),
        "ok": ok,
        "trial": trial_json,
        "relay": _relay_json(Path(config.store), server),
        "clean_audit": clean,
        "clean_audit_problems": problems,
        "attacks": attacks,
        "participants": participants,
    }
    _write_json(out / "report.json", demo)
    write_html(out / "report.html", render_demo_html(demo))

    console.rule("result")
    caught = len(ran) - len(mismatched)
    style = "green" if ok else "red"
    console.print(
        f"[{style}]clean bundle {'clean' if not problems else 'NOT clean'}; "
        f"{caught} of {len(ran)} attacks got exactly the audit they must get[/]"
        + (f" (not: {', '.join(mismatched)})" if mismatched else "")
    )
    by_outcome = Counter(a["outcome"] for a in attacks)
    console.print(
        f"{by_outcome['caught']} caught by the bundle audit, {by_outcome['caught on chain']} "
        f"only by the anchors on chain, {by_outcome['clean, as expected']} clean as the SPEC "
        "says they must be (an erasure is allowed; relay receive times are not signed)"
        + (f", {by_outcome['skipped']} skipped" if by_outcome["skipped"] else "")
    )
    console.print(f"report: {out / 'report.html'} (and report.json)")
    console.print(f"bundle: {out / 'bundle'}; attacks: {out / 'attacks'}; relay: {relay_dir}")
    console.print(f"took {demo['elapsed_s']} s")
    return EXIT_OK if ok else EXIT_MISMATCH


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashcore.demo [--out DIR] [--participants N] [--days D] [--seed S]``."""
    from . import cli_demo

    parser = argparse.ArgumentParser(
        prog="python -m hashcore.demo", description=cli_demo.DESCRIPTION
    )
    cli_demo.add_arguments(parser)
    return cli_demo.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
