"""The change bus: one Qt object per window that tells the screens what a write changed.

Whoever saves (the visit form's window, a dialog's caller, the dashboard's acknowledgement, the
review list's sign-off, a restore) publishes the `services.changes.Changes` the write service
returned; the dashboard, the patient list, the worklist and the review list subscribe to
`changed` and each decides for itself whether the change concerns what it shows. No screen
reloads another. Later, changes announced by other workstations (PostgreSQL LISTEN/NOTIFY,
`Changes.from_payload`) come in through `post`, which merges a burst into one reload.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from poems_monitor.services.changes import NO_CHANGES, Changes, changes_of


class ChangeBus(QObject):
    """`changed(Changes)`: something was written. `publish` tells the subscribers at once (the
    saving window shows the result right after); `post` merges everything posted within one
    turn of the event loop and tells them once."""

    changed = Signal(object)  # a services.changes.Changes, never empty

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pending: Changes = NO_CHANGES
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(0)
        self._flush_timer.timeout.connect(self._flush)

    def publish(self, result: object) -> Changes:
        """Tell every subscriber now what `result` (a `Changes`, or a service result carrying
        `.changes`) changed; returns that `Changes` (empty ones are not published)."""
        changes = changes_of(result)
        if changes:
            self.changed.emit(changes)
        return changes

    def post(self, result: object) -> None:
        """Tell the subscribers at the next turn of the event loop, merged with whatever else is
        posted before then (another workstation's saves arrive in bursts)."""
        changes = changes_of(result)
        if changes:
            self._pending = self._pending | changes
            self._flush_timer.start()

    def _flush(self) -> None:
        pending, self._pending = self._pending, NO_CHANGES
        if pending:
            self.changed.emit(pending)
