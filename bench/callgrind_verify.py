"""Instruction counts of ``verify_bulk`` on protocol v1 and v2 (valgrind --tool=callgrind),
which, unlike wall time, do not move with the load of a shared machine.

    .venv/bin/python bench/callgrind_verify.py [--devices 100] [--records 100] [--versions v2]

Writes a v1 and a v2 bundle of the same shape (``hashcore.sim.sample_v1`` and
``bench/v2_sample.py``), then runs, each under callgrind in a process of its own: reading
the bundle only, and reading it plus one ``verify_bulk`` (1 thread; with and without
signatures). The difference is the audit's own instructions; it prints them per record
and the v2 / v1 ratios.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import sys
sys.path.insert(0, {here!r})
import hashcore
from hashcore.bundle import read_bundle, read_bundle_v2
version, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
if version == "v1":
    b = read_bundle(path)
    if mode != "read":
        r = hashcore.verify_bulk(b.records, checkpoints=b.checkpoints, log_id=b.log_id,
                                 threads=1, check_signatures=(mode == "full"))
        assert r.clean
else:
    from hashcore.policy import load_policy
    b = read_bundle_v2(path)
    if mode != "read":
        r = hashcore.verify_bulk(b.records, checkpoints=b.checkpoints,
                                 policy=load_policy(path + ".policy.json"), threads=1,
                                 check_signatures=(mode == "full"))
        assert r.clean, r
"""


def instructions(script: Path, *args: str) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         str(script), *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    m = re.search(r"Collected : (\d+)", out.stderr)
    assert m, out.stderr[-2000:]
    return int(m.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument(
        "--versions", default="v1,v2", help="which to measure (v2 alone: no ratios printed)"
    )
    args = parser.parse_args()
    versions = args.versions.split(",")
    sys.path.insert(0, str(HERE))
    from hashcore.sim.sample_v1 import make_sample_v1
    from v2_sample import make_v2_sample

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        if "v1" in versions:
            make_sample_v1(t / "v1", devices=args.devices, records=args.records, seed=2026)
        _, policy = make_v2_sample(t / "v2", devices=args.devices, records=args.records, seed=2026)
        (t / "v2.policy.json").write_bytes(policy.read_bytes())
        script = t / "child.py"
        script.write_text(CHILD.format(here=str(HERE)))
        n = args.devices * args.records
        per = {}
        for version in versions:
            base = instructions(script, version, str(t / version), "read")
            for mode in ("full", "nosig"):
                total = instructions(script, version, str(t / version), mode)
                per[(version, mode)] = (total - base) / n
        print(f"{n:,} records, 1 thread, instructions per record (callgrind):")
        for mode in ("full", "nosig"):
            if len(versions) == 1:
                print(f"  {mode:>5}: {versions[0]} {per[(versions[0], mode)]:,.0f}")
                continue
            v1, v2r = per[("v1", mode)], per[("v2", mode)]
            print(f"  {mode:>5}: v1 {v1:,.0f}  v2 {v2r:,.0f}  v2/v1 {v2r / v1:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
