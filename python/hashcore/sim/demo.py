"""``hashcore demo`` (``make demo``, ``python -m hashcore.cli.demo``): the whole story on
embedded defaults.

1. A real relay on loopback (SQLite in ``DIR/relay/``, its embedded EVM chain).
2. A simulated insomnia-therapy trial through it (:func:`hashcore.sim.trial.simulate_trial`):
   phones enrolled with one-time tokens, a sleep diary every morning, offline spells
   synced later in batches, key rotations, one right-to-erasure request. The relay signs
   a checkpoint at the end of every trial week and anchors it on chain.
3. The relay's store exported as a v2 audit bundle (``DIR/bundle/``) and audited with
   every receipt and checkpoint note the phones verified: it must be clean, with every
   receipt RECEIPT_OK.
4. The fraud simulation (protocol v2, :mod:`hashcore.sim.demo_attacks`) on that export:
   one tampered copy per attack (``DIR/attacks/<name>/`` with its evidence, policy and
   ``expected.json``), each audited with the phones' receipts and notes under the policy
   and compared with what it must give, field by field. Every attack is caught and
   localised but the erasure. The demo plays the relay and the phones in the attacks that
   need their keys (``DIR/keys.json``: the demo's own keys, written for that).
5. ``DIR/report.json`` and ``DIR/report.html`` tell the story; ``DIR/participants.json``
   is the site's enrollment register (chain_id -> participant id), which the bundle
   does not carry (SPEC section 3).

Exit status: 0 when the clean bundle is clean and every attack's audit matches its
expectation exactly, 1 otherwise, 2 when the demo could not run.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.markup import escape

from .._atomic import write_atomically
from ..errors import HashcoreError
from .demo_attacks import AttackInput, outcome_line, print_attacks, progress_bar, run_attacks
from .demo_relay import (
    CONFIRMATIONS,
    ORIGIN,
    WAIT_S,
    DemoError,
    anchor_final,
    attack_chain,
    chain_read_back,
    relay_config,
    relay_json,
    relay_log,
)
from .demo_witnesses import QUORUM, WITNESSES, DemoWitnesses

if TYPE_CHECKING:
    from ..relay.background import BackgroundRelay

__all__ = ["DemoError", "DemoOptions", "run_demo"]

T = TypeVar("T")

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_UNUSABLE = 2
#: The relay signs a checkpoint (and anchors it) at the end of every trial week.
WEEK_DAYS = 7


@dataclass(frozen=True)
class DemoOptions:
    out: Path | None = None
    participants: int = 200
    days: int = 56
    seed: int = 0


# --------------------------------------------------------------------------- the story


def _run_trial(
    relay: BackgroundRelay, opts: DemoOptions, console: Console, clock: Any
) -> tuple[Any, list[int]]:
    """The trial, with a checkpoint anchored at the end of every week; (TrialResult,
    the anchored tree sizes)."""
    from ..relay.client import RelayClient
    from .trial import simulate_trial

    server = relay.server
    target = f"127.0.0.1:{server.port}"
    anchored: list[int] = []
    with (
        RelayClient(target, plaintext=True) as phones,
        RelayClient(target, plaintext=True, operator_token=server.operator_token) as operator,
        progress_bar(console) as progress,
    ):
        task = progress.add_task("trial days", total=opts.days)

        def day_done(day: int, days: int) -> None:
            progress.update(task, completed=day)
            if day % WEEK_DAYS == 0 and day < days:
                size = anchor_final(relay, operator)
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
            relay_clock=clock,
        )
        # After the erasure request (which keeps the log as it is) and the last day.
        size = anchor_final(relay, operator)
        if not anchored or anchored[-1] != size:
            anchored.append(size)
        # Every phone checks in once after the trial and verifies the final checkpoint:
        # the note it keeps is the evidence that the relay signed the whole log.
        for p in trial.participants:
            phones.refresh_beacon(p.device)
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


def _clean_audit(
    bundle: Path, store_path: Path, trial: Any, trial_records: int, policy: Path
) -> tuple[dict[str, Any], list[str]]:
    """The clean bundle's v2 audit JSON under the trial's policy (the relay's identity,
    2 of the 3 witnesses), with the phones' receipts and notes (the evidence held outside
    the relay), the anchors as the relay's store holds them, and what is wrong with it
    (empty when it is clean with every record and receipt of the trial)."""
    from ..audit import audit_bundle
    from ..evidence import notes_table, receipts_table
    from ..relay.store import open_store

    devices = [p.device for p in trial.participants]
    receipts = receipts_table(r for d in devices for r in d.receipts())
    notes = notes_table(n for d in devices for n in d.notes())
    report = audit_bundle(bundle, policy=policy, receipts=[receipts], notes=[notes])
    body = report.to_json()
    with open_store(str(store_path), readonly=True) as store:
        checkpoints = store.list_checkpoints()
    body["evm"] = {
        "anchors": [
            {
                "tree_size": cp.tree_size,
                "state": "final" if cp.anchor.final else "pending",
                "tx_hash": "0x" + cp.anchor.tx_hash.hex(),
            }
            for cp in checkpoints
            if cp.anchor is not None
        ]
    }
    body["on_chain"] = None
    problems = []
    if not report.clean:
        problems.append(f"the exported bundle does not audit clean: {report!r}")
    if report.records != trial_records:
        problems.append(
            f"the bundle holds {report.records} records, the trial made {trial_records}"
        )
    not_ok = [r for r in report.receipts if r.code != "RECEIPT_OK"]
    if len(report.receipts) != trial_records or not_ok:
        problems.append(
            f"{len(report.receipts)} receipts audited for {trial_records} records, "
            f"{len(not_ok)} not RECEIPT_OK"
        )
    return body, problems


# --------------------------------------------------------------------------- output


def _write_json(path: Path, data: Any) -> None:
    write_atomically(path, json.dumps(data, indent=2) + "\n")


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


def _attack_input(out: Path, relay_dir: Path, trial: Any, witnesses: DemoWitnesses) -> AttackInput:
    """What the fraud stage attacks: the relay's v2 export, the policy that trusts it and
    2 of its 3 witnesses (``DIR/policy.json``), the phones' receipts and notes
    (``DIR/evidence/``), and the keys of the relay, the witnesses and every phone
    (``DIR/keys.json``), so that attacks can act as any of them."""
    import pyarrow.parquet as pq

    from ..bundle.format_v2 import read_manifest_v2
    from ..evidence import notes_table, receipts_table
    from ..relay.keys import load_key
    from .sample_keys import SampleKeys, write_json

    manifest = read_manifest_v2(out / "bundle")
    devices = [p.device for p in trial.participants]
    seeds = {}
    state_dir = out / "phones"
    state_dir.mkdir(exist_ok=True)
    for d in devices:
        # The phone's state file holds the seed of the key in force (after rotations).
        path = d.path or d.save(state_dir / f"{d.chain_id.hex()}.json")
        seeds[d.chain_id] = bytes.fromhex(json.loads(path.read_text())["secret_seed"])
    keys = SampleKeys(
        origin=manifest.origin,
        log_seed=load_key(relay_dir / "relay.key"),
        witnesses=witnesses.seeds(),
        witness_quorum=QUORUM,
        device_seeds=seeds,
    )
    write_json(out / "keys.json", keys.to_json())
    write_json(out / "policy.json", keys.policy())
    evidence = out / "evidence"
    evidence.mkdir(exist_ok=True)
    receipts = receipts_table(r for d in devices for r in d.receipts())
    pq.write_table(receipts, evidence / "receipts.parquet")
    pq.write_table(notes_table(n for d in devices for n in d.notes()), evidence / "notes.parquet")
    return AttackInput(
        out / "bundle",
        out / "policy.json",
        receipts=[evidence / "receipts.parquet"],
        notes=[evidence / "notes.parquet"],
        keys=out / "keys.json",
    )


def _run(opts: DemoOptions, console: Console, cleanup: contextlib.ExitStack) -> int:
    from ..relay.export import export_bundle
    from ..report import render_demo_html, write_html

    started = time.perf_counter()
    out = _prepare_out(opts.out, console)
    relay_dir = out / "relay"
    relay_dir.mkdir(exist_ok=True)
    from .. import _core
    from ..relay.keys import load_key, load_or_create_key
    from .trial import TrialClock

    clock = TrialClock()
    # The relay's key is made now: its witnesses are told the log they witness first.
    seed, _ = load_or_create_key(relay_dir / "relay.key")
    witnesses = DemoWitnesses(out / "witnesses", ORIGIN, _core.public_key_from_seed(seed), clock)
    cleanup.callback(witnesses.start().stop)
    config = relay_config(relay_dir, clock, witnesses)

    console.rule(f"1. trial: {opts.participants} participants x {opts.days} days, real relay")
    with relay_log(relay_dir / "relay.log"):
        with console.status("starting the relay and its embedded EVM chain ..."):
            from ..relay.background import BackgroundRelay

            relay = BackgroundRelay(config, wait_s=WAIT_S).start()
        try:
            server = relay.server
            trial, anchored = _run_trial(relay, opts, console, clock)
            assert server.ledger is not None  # set by start()
        finally:
            relay.stop()
    server.chain = chain_read_back(config, cleanup)
    relay_info = relay_json(Path(config.store), server, witnesses)
    trial_json = _trial_json(trial, opts)
    participants = {p.device.chain_id.hex(): p.participant for p in trial.participants}
    _write_json(out / "participants.json", participants)
    console.print(
        f"{trial.records:,} records from {len(trial.participants)} participants; "
        f"{trial.syncs:,} syncs in {trial.batches:,} batches; "
        f"{trial_json['offline_spells']} offline spells; {trial.rotations} key rotations; "
        f"1 erasure; {len(anchored)} checkpoints anchored (final after {CONFIRMATIONS} blocks)"
    )
    # Still up: the witnesses are shown a fork of the log the relay signed (a split view).
    split_view = witnesses.show_split_view(
        load_key(relay_dir / "relay.key"), ORIGIN, relay_info["log_size"]
    )
    cosigned = sum(1 for c in relay_info["checkpoints"] if len(c["cosigned_by"]) == len(WITNESSES))
    console.print(
        "witnesses, on the trial's clock: "
        + ", ".join(f"{who} ({name})" for name, who in WITNESSES)
        + f"; {cosigned} of {len(relay_info['checkpoints'])} checkpoints cosigned by all "
        f"{len(WITNESSES)}; the policy asks for {QUORUM} of {len(WITNESSES)}"
    )
    refused = sum(1 for status in split_view.values() if status != 200)
    console.print(
        f"a split view (another root at tree size {relay_info['log_size']:,}, signed by the "
        f"relay's key) shown to the witnesses: refused by {refused} of {len(split_view)} "
        f"(HTTP {', '.join(sorted({str(v) for v in split_view.values()}))})"
    )

    console.rule("2. export and audit with the phones' receipts")
    exported = export_bundle(config.store, out / "bundle")
    attack_input = _attack_input(out, relay_dir, trial, witnesses)
    clean, problems = _clean_audit(
        out / "bundle", Path(config.store), trial, trial.records, out / "policy.json"
    )
    status = "[green]CLEAN[/]" if not problems else "[red]NOT CLEAN[/]"
    anchors = clean["evm"]["anchors"]
    final = sum(1 for a in anchors if a["state"] == "final")
    console.print(
        f"bundle {out / 'bundle'}: {exported.records:,} records, {exported.checkpoints} "
        f"checkpoints, {final} of {len(anchors)} anchored final on chain; audit {status}"
    )
    for p in problems:
        console.print(f"[red]{escape(p)}[/]")

    console.rule("3. fraud simulation: tampered copies, audited with the phones' evidence")
    attacks = run_attacks(
        attack_input,
        out / "attacks",
        seed=opts.seed,
        participants=participants,
        console=console,
        evm_url=attack_chain(out / "attack-chain", cleanup),
    )
    print_attacks(console, attacks)

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
        "relay": relay_info,
        "witnesses": {
            "quorum": QUORUM,
            "split_view_answers": split_view,
            "witnesses": [
                {"name": name, "who": who, "key": e.key.hex()}
                for (name, who), e in zip(WITNESSES, witnesses.endpoints(), strict=True)
            ],
        },
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
    console.print(outcome_line(attacks))
    console.print(f"report: {out / 'report.html'} (and report.json)")
    console.print(f"bundle: {out / 'bundle'}; attacks: {out / 'attacks'}; relay: {relay_dir}")
    console.print(f"took {demo['elapsed_s']} s")
    return EXIT_OK if ok else EXIT_MISMATCH
