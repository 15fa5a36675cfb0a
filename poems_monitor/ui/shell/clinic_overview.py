"""The clinic overview of the patient list: the flag and overdue counts of every patient.

Owns recomputing them (off the GUI thread when the window runs in the background, in the window's
worker process for a large clinic file (`ui.worker_process`), else at once),
running one computation at a time (a request while one runs starts one more when it ends), and
the status bar's words about it. What the counts are is `services.dashboard.clinic_overview`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow

from poems_monitor.i18n import tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.dashboard import clinic_overview
from poems_monitor.ui.workers import run_in_worker_process


class ClinicOverview(QObject):
    """`updated(status)`: the counts by MRN arrived (for the patient list); `done`: then the status
    bar said so."""

    updated = Signal(object)
    done = Signal()

    def __init__(self, window: QMainWindow, db: Database, as_of: Callable[[], date], patients: Callable[[], int], *,
                 background: bool):
        super().__init__(window)
        self._window, self._db, self._as_of, self._background = window, db, as_of, background
        self._patients = patients  # how many patients the list holds (a large clinic computes in a process)
        self.running = False
        self._again = False

    def refresh(self) -> None:
        """Recompute the flag and overdue counts of every patient, off the GUI thread."""
        if not self._background:
            self._arrived(clinic_overview(self._db, self._as_of()))
            return
        if self.running:
            self._again = True
            return
        self.running = True
        self._window.statusBar().showMessage(tr("Checking flags and follow-up for every patient…"))
        db, as_of = self._db, self._as_of()
        run_in_worker_process(clinic_overview, db, (as_of,), self._arrived, self._failed, self._window, self._patients())

    def _arrived(self, status) -> None:  # noqa: ANN001
        self.running = False
        self.updated.emit(status)
        self._window.statusBar().showMessage(tr("Patient list up to date"), 3000)
        self.done.emit()
        if self._again:
            self._again = False
            self.refresh()

    def _failed(self, exc: Exception) -> None:
        self.running = False
        self._window.statusBar().showMessage(tr("Could not check flags: {error}").format(error=exc), 10000)
