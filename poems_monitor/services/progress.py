"""How a long piece of work (import, export, demo) tells its caller how far it is.

A service takes an optional `progress` callable and calls it with what it is doing, how much is
done and the total; it never prints. The command line turns the calls into a progress bar on a
terminal (cli/progress.py), the desktop app into a progress dialog (ui/workers.py).

Cancelling: the caller's callable raises `Cancelled`; the service does not catch it, so its one
transaction rolls back and nothing of the work is written.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


class Cancelled(Exception):
    """Raised by a progress callable to stop the work: the service's transaction rolls back."""
