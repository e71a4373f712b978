"""``hashcore device export-evidence STATE... --out DIR``: the receipts and checkpoint
notes that devices verified (SPEC v2 section 4 evidence), for a participant or a site to
hand to an auditor (``hashcore audit BUNDLE --receipts DIR/receipts.parquet --notes
DIR/notes.parquet``). ``import-evidence FILE.json... --out DIR`` does the same from the
evidence the TypeScript SDK exports (``hashcore-device-evidence`` v2 JSON)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import HashcoreError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    device = sub.add_parser("device", help="a device's evidence (receipts, checkpoint notes)")
    dsub = device.add_subparsers(dest="device_command", required=True, parser_class=type(device))
    ev = dsub.add_parser(
        "export-evidence",
        help="write receipts.parquet and notes.parquet from device state files",
        description="Write every receipt and every checkpoint note the devices verified "
        "(from their state files) as DIR/receipts.parquet and DIR/notes.parquet (SPEC 4).",
    )
    ev.add_argument("states", nargs="+", type=Path, metavar="STATE")
    ev.add_argument("--out", required=True, type=Path, metavar="DIR")
    imp = dsub.add_parser(
        "import-evidence",
        help="write receipts.parquet and notes.parquet from TypeScript devices' evidence JSON",
        description="Read the evidence files apps export with @hashcore/device "
        "(exportEvidenceJson(): format hashcore-device-evidence, version 2), all of one log, "
        "and write DIR/receipts.parquet and DIR/notes.parquet for `hashcore audit`.",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE.json")
    imp.add_argument("--out", required=True, type=Path, metavar="DIR")


def run(args: argparse.Namespace) -> int:
    """Run a ``device`` subcommand; HashcoreError becomes exit 2 with one line."""
    from ..evidence import export_evidence
    from ..evidence_json import import_evidence

    try:
        if args.device_command == "import-evidence":
            result = import_evidence(args.files, args.out)
        else:
            result = export_evidence(args.states, args.out)
    except HashcoreError as exc:
        print(f"hashcore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(
        f"wrote {result.receipts_file} ({result.receipts} receipts) and "
        f"{result.notes_file} ({result.notes} notes) from {result.devices} device(s)"
    )
    return 0
