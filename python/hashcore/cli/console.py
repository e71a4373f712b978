"""Terminal output of the commands: a summary console, a spinner and a progress bar, each
quiet when the output is piped or redirected (logs and scripts get whole plain lines)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

from rich.console import Console


def summary_console(*, stderr: bool) -> Console:
    """A console for the summary; wide when not a terminal, so logs keep whole lines."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


@contextmanager
def spinner(console: Console, message: str) -> Iterator[None]:
    """A spinner on an interactive terminal; nothing at all when piped or redirected."""
    with console.status(message) if console.is_terminal else nullcontext():
        yield


@contextmanager
def progress_bar(console: Console, message: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar with records/s on an interactive terminal; nothing when piped or
    redirected (the callback is then None)."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(message, total=None, rate="")
        start = time.perf_counter()

        def update(done: int, total: int) -> None:
            elapsed = time.perf_counter() - start
            rate = f"{done / elapsed:,.0f} records/s" if done and elapsed > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        yield update
