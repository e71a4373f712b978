"""``hashcore audit BUNDLE --log-url URL``: the bundle against the published tiled log
(:mod:`hashcore.tiles.log_check`), under the audit's log identity (the policy's, else the
bundle manifest's), and its lines in the summary."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..tiles.log_check import LogUrlCheck

__all__ = ["check_log_url", "print_log_check"]


def check_log_url(
    bundle: str | os.PathLike[str], url: str, policy: str | os.PathLike[str] | None
) -> LogUrlCheck:
    from ..bundle.io_v2 import read_bundle_v2
    from ..policy import load_policy
    from ..tiles.log_check import check_against_log

    read = read_bundle_v2(Path(bundle))
    if policy is not None:
        trusted = load_policy(policy)
        origin, log_key = trusted.origin, trusted.log_key
    else:
        origin, log_key = read.manifest.origin, read.manifest.log_key
    return check_against_log(url, read.records, read.checkpoints, origin, log_key)


def print_log_check(console: Console, check: LogUrlCheck) -> None:
    where = escape(check.url)
    if check.error is not None:
        console.print(f"[red]log-url[/] {where}: the published log is unusable: "
                      f"{escape(check.error)}")  # fmt: skip
    else:
        console.print(
            f"log-url {where}: published tree_size {check.published_tree_size}; "
            f"{check.entries_compared} entries compared, {check.mismatch_count} differ, "
            f"{check.entries_beyond_published} beyond the published log"
        )
    for index, mine, theirs in check.mismatches[:20]:
        console.print(
            f"[red]ENTRY_DIFFERS[/] log_index {index}: bundle {mine.hex()}, published "
            f"{theirs.hex()}"
        )
    for size, code in check.checkpoints:
        if code != "CONSISTENT":
            colour = "red" if code == "INCONSISTENT" else "yellow"
            console.print(f"[{colour}]{code}[/] checkpoint tree_size {size} against the "
                          "published checkpoint")  # fmt: skip
    if check.clean:
        console.print("log-url: [green]CONSISTENT[/] with the published log")
    else:
        console.print("log-url: [red]NOT CLEAN[/]: the bundle's log is not the published one")
