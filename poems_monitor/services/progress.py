"""How a long piece of work (import, export, demo) tells its caller how far it is.

A service takes an optional `progress` callable and calls it with what it is doing, how much is
done and the total; it never prints. The command line turns the calls into a progress bar on a
terminal (cli/progress.py).
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
