"""Other workstations' saves, live: a window on a clinic server hears them and its screens reload.

A `services.live_updates.ChangeListener` waits on its own connection in a QThread (never on the
GUI thread); every announcement from another workstation (not this window's own echo: it
published its own saves already) is posted on the window's change bus, where the dashboard, the
patient list, the worklist and the review list decide for themselves what to reload, and is
offered to an open visit entry form (`VisitEntryForm.changed_elsewhere`). While the listener
cannot reach the server the status bar says "clinic server unreachable, retrying", and clears
when it is back; whatever was missed meanwhile reloads everything once.

Started for a window on PostgreSQL (`start_live_updates`), stopped when the window closes or
locks, started again when it unlocks. On SQLite it does nothing.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, SignalInstance
from PySide6.QtWidgets import QLabel, QMainWindow

from poems_monitor.i18n import tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.changes import Changes
from poems_monitor.services.live_updates import Announcement, ChangeListener
from poems_monitor.ui.changes import ChangeBus

log = logging.getLogger(__name__)

# How long one wait on the connection lasts: the longest a stop waits for the thread to notice.
WAIT_SECONDS = 0.2
# Threads asked to stop that were still inside a (re)connect: kept referenced until they end.
_finishing: set[QThread] = set()


class _ListenerThread(QThread):
    """Waits for announcements off the GUI thread; its signals arrive queued on the GUI thread."""

    announced = Signal(object)  # an Announcement
    reachability = Signal(bool)

    def __init__(self, db: Database):
        super().__init__()
        self._listener = ChangeListener(db)
        self._stop = False

    def run(self) -> None:
        listener, reachable = self._listener, True
        listener.connect()
        try:
            while not self._stop:
                if listener.reachable != reachable:
                    reachable = listener.reachable
                    self.reachability.emit(reachable)
                for announcement in listener.wait(WAIT_SECONDS):
                    if self._stop:
                        break
                    self.announced.emit(announcement)
                if listener.reachable != reachable and not self._stop:
                    reachable = listener.reachable
                    self.reachability.emit(reachable)
        finally:
            listener.close()

    def request_stop(self) -> None:
        self._stop = True


class LiveUpdates(QObject):
    """The window's listener: `start()`, `stop()`; `unreachable` while it cannot reconnect.
    `received` tells what another workstation changed (after the bus has it)."""

    received = Signal(object)  # an Announcement from another workstation

    def __init__(self, window: QMainWindow, db: Database, bus: ChangeBus,
                 locked_changed: SignalInstance | None = None):
        super().__init__(window)
        self._window, self._db, self._bus = window, db, bus
        self._thread: _ListenerThread | None = None
        self.unreachable = False
        self.notice = QLabel("")
        self.notice.setObjectName("serverUnreachable")
        self.notice.setStyleSheet("color: #a33; font-weight: bold;")
        self.notice.setVisible(False)
        window.statusBar().addPermanentWidget(self.notice)
        if locked_changed is not None:  # the window's lock: stop listening while locked
            locked_changed.connect(self._on_locked)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)  # a running thread must not outlive the application

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        thread = _ListenerThread(self._db)
        thread.announced.connect(self._on_announced)
        thread.reachability.connect(self._on_reachability)
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        """Ask the thread to end; waits at most one wait's length (never on a connect attempt)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.announced.disconnect(self._on_announced)
        thread.reachability.disconnect(self._on_reachability)
        thread.request_stop()
        if not thread.wait(int(WAIT_SECONDS * 1000) + 300):
            _finishing.add(thread)  # inside a connect: it ends by itself within the connect timeout
            thread.finished.connect(lambda: _finishing.discard(thread))
        self._show_unreachable(False)

    def _on_locked(self, locked: bool) -> None:
        if locked:
            self.stop()
        elif self._window is not None:
            self.start()
            self._bus.post(Changes.everything())  # whatever was saved elsewhere while locked

    def _on_announced(self, announcement: Announcement) -> None:
        if announcement.origin == self._db.origin:
            return  # this window's own save: published already
        self._bus.post(announcement.changes)
        self.received.emit(announcement)
        _offer_to_entry_forms(self._window, announcement.changes)

    def _on_reachability(self, reachable: bool) -> None:
        was_unreachable = self.unreachable
        self._show_unreachable(not reachable)
        if reachable and was_unreachable:
            self._bus.post(Changes.everything())  # saves announced while we were away are lost: reload

    def _show_unreachable(self, unreachable: bool) -> None:
        self.unreachable = unreachable
        self.notice.setText(tr("clinic server unreachable, retrying") if unreachable else "")
        self.notice.setVisible(unreachable)


def _offer_to_entry_forms(window: QMainWindow, changes: Changes) -> None:
    from poems_monitor.ui.entry.form import VisitEntryForm

    for form in window.findChildren(VisitEntryForm):
        form.changed_elsewhere(changes)


def start_live_updates(window: QMainWindow, db: Database, bus: ChangeBus,
                       locked_changed: SignalInstance | None = None) -> LiveUpdates | None:
    """A running listener for a window on a clinic server; None on SQLite (one file: nothing to hear)."""
    if db.is_sqlite:
        return None
    live = LiveUpdates(window, db, bus, locked_changed)
    live.start()
    return live
