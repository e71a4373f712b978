"""``python fuzz/python/run.py TARGET [libFuzzer flags...]``: one atheris target.

New inputs go to ``fuzz/python/corpus/TARGET`` (pass it as the first directory, as
``make fuzz`` does); a crash is written where libFuzzer says (``-artifact_prefix=``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports():
    import hashcore.bundle.format_v2
    import hashcore.policy
    import hashcore.safe_read  # noqa: F401

from targets import TARGETS, run_one


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.stderr.write(f"usage: run.py {{{','.join(TARGETS)}}} [libFuzzer flags]\n")
        raise SystemExit(2)
    target = sys.argv[1]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], lambda data: run_one(target, data))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
