"""``make demo``: a synthetic trial bundle, its audit, and the audit of a tampered copy.

Until the relay exists (issue 3) this is the whole story on embedded defaults: a bundle as
a relay would export it, audited clean, then a copy in which someone edited one diary entry
and deleted another, audited again so that the auditor names both and what follows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

from .bundle import read_bundle, write_bundle
from .cli import main as cli_main
from .sample import make_sample


def tamper(src: Path, dst: Path) -> tuple[int, int]:
    """Copy ``src`` to ``dst`` editing one data record's payload and deleting another.

    Returns the log indexes of the edited and the deleted record.
    """
    bundle = read_bundle(src)
    records = bundle.records.sort_by("log_index")
    data_rows = pc.indices_nonzero(pc.equal(records["kind"], 1)).to_pylist()
    edited, deleted = data_rows[len(data_rows) // 3], data_rows[len(data_rows) // 2]
    payloads = records["payload"].to_pylist()
    entry = bytearray(payloads[edited])
    # Shave a few minutes off the reported sleep-onset latency: a plausible, small lie.
    entry[-2] = ord("1") if entry[-2] != ord("1") else ord("2")
    payloads[edited] = bytes(entry)
    records = records.set_column(
        records.schema.get_field_index("payload"), "payload", pa.array(payloads, pa.binary())
    )
    edited_li = int(records["log_index"][edited].as_py())
    deleted_li = int(records["log_index"][deleted].as_py())
    records = records.filter(pc.not_equal(records["log_index"], deleted_li))
    write_bundle(dst, records, bundle.checkpoints, log_id=bundle.log_id, evm=bundle.evm)
    return edited_li, deleted_li


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hashcore.demo", description=__doc__)
    parser.add_argument("--out", type=Path, help="directory to keep the bundles in")
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--days", type=int, default=56)
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    out = args.out or Path(tempfile.mkdtemp(prefix="hashcore-demo-"))
    clean, tampered = out / "bundle", out / "tampered"
    for p in (clean, tampered):
        if p.exists():
            shutil.rmtree(p)

    console.rule("1. a trial's evidence bundle")
    info = make_sample(
        clean,
        devices=args.participants,
        records=args.days + 1,
        seed=2026,
        checkpoint_every=500,
        rotate_every=28,
    )
    console.print(
        f"{info.records} records from {args.participants} participants "
        f"({args.days} diary days each, key rotations every 28 days) -> {clean}"
    )

    console.rule("2. audit of the bundle as exported")
    first = cli_main(["audit", str(clean), "--log-id", info.log_id.hex()])

    console.rule("3. someone edits one diary entry and deletes another")
    edited, deleted = tamper(clean, tampered)
    console.print(
        f"edited the payload at log_index {edited}; deleted log_index {deleted} -> {tampered}"
    )

    console.rule("4. audit of the tampered copy")
    second = cli_main(
        [
            "audit",
            str(tampered),
            "--log-id",
            info.log_id.hex(),
            "--json",
            str(out / "tampered-report.json"),
        ]
    )
    console.rule("result")
    ok = first == 0 and second == 1
    console.print(
        f"clean bundle: exit {first} (expected 0); tampered copy: exit {second} (expected 1)"
    )
    console.print(f"files are in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
