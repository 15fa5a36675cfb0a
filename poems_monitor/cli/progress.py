"""A progress bar for long commands (demo, import, export, export-csv) on a terminal.

Services report progress through a callable (services/progress.py); this turns the calls into a
`rich` progress bar on stderr, so that stdout keeps only the result line. When stderr is not a
terminal (a pipe, a log file, a test) nothing is drawn and rich is not even imported.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from poems_monitor.services.progress import Progress


@contextmanager
def progress_bar(stream=None) -> Iterator[Progress | None]:  # noqa: ANN001
    """Yield a progress callable drawing a bar on `stream` (default stderr) if it is a terminal,
    else None (the services then report nothing)."""
    stream = stream or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress as Bar, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
             TimeRemainingColumn(), console=Console(file=stream), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        unknown: list[TaskID] = []  # steps of unknown length: shown done when the next step starts

        def report(what: str, done: int, total: int) -> None:
            known = total or None  # 0: a step of unknown length (rich pulses the bar)
            if what not in tasks:
                for task in unknown:
                    bar.update(task, total=1, completed=1)
                unknown.clear()
                tasks[what] = bar.add_task(what, total=known)
            if known is None:
                unknown.append(tasks[what])
            bar.update(tasks[what], completed=done, total=known)

        yield report
