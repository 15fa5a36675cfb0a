"""Pausing Python's cyclic garbage collector during clinic-wide work, for every caller at once.

An import, a cold rules evaluation or the clinic overview allocates millions of small acyclic
objects (records, rows, results). Each allocation burst triggers collections that rescan
everything already alive (the rules memo, the parsed batch), holding the interpreter lock: a
third of a cold evaluation, and pauses of 300-450 ms that froze the GUI thread mid-keystroke on
a 5,000-patient clinic. Reference counting still frees every batch. `collector_paused()` turns
the collector off while any such work runs in this process (threads nest: it comes back when the
last one ends, and only if it was on before).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_state = {"holds": 0, "was_enabled": True}


@contextmanager
def collector_paused(freeze_after: int | None = None) -> Iterator[None]:
    """No automatic collection inside the block. With `freeze_after`: if, when the collector
    comes back, more than that many objects were allocated and kept since the last collection
    (a memo filled by a first pass), they are moved to the permanent generation (`gc.freeze`), so
    later collections do not rescan them."""
    with _LOCK:
        if _state["holds"] == 0:
            _state["was_enabled"] = gc.isenabled()
            gc.disable()
        _state["holds"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _state["holds"] -= 1
            if _state["holds"] == 0 and _state["was_enabled"]:
                if freeze_after is not None and gc.get_count()[0] > freeze_after:
                    gc.freeze()
                gc.enable()


def pause_collector() -> Callable[[], None]:
    """`collector_paused()` for work that ends in a later event or call (the command line loading
    its modules; the desktop app's start-up until its first paint: imports and widgets allocate
    in bursts that would trigger full collections of a growing heap, about a sixth of a cold
    start). Call the returned function to end it (once; again does nothing)."""
    pause = collector_paused()
    pause.__enter__()
    ended = []

    def end() -> None:
        if not ended:
            ended.append(True)
            pause.__exit__(None, None, None)

    return end


__all__ = ["collector_paused", "pause_collector"]
