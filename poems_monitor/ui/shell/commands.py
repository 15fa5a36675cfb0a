"""The menu commands that open a window or a file of their own and change nothing in the window:
the patient summary (preview, print, PDF), a chart's export, a patient's history of changes, the
accounts dialog, the keyboard shortcuts and About.

Owns which patient a command is for (the window's current one; "Choose a patient first."
otherwise) and the history windows it opened (closed with the main window). The documents are
`ui.report`, the history table `ui.history_view`, the accounts `ui.accounts_dialog`; each is
imported when its command is first used (the window's first paint does not need them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDialog, QMainWindow, QMessageBox, QVBoxLayout

from poems_monitor.i18n import tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.access import Actor, Permission
from poems_monitor.services.changes import Changes
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.patients import patient_id_for
from poems_monitor.ui.dashboard.view import DashboardView
from poems_monitor.ui.shortcuts_help import ShortcutsDialog

if TYPE_CHECKING:
    from poems_monitor.ui.accounts_dialog import AccountsDialog


class HistoryWindow(QDialog):
    """Every change to one patient's record (old, new, who, when, why), beside the main window."""

    def __init__(self, db: Database, patient_id: int, title: str, parent: QMainWindow):
        from poems_monitor.ui.history_view import HistoryView

        super().__init__(parent)
        self.setObjectName("historyWindow")
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.view = HistoryView(db, patient_id, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.view)
        self.resize(1100, 560)


class WindowCommands(QObject):
    """The commands of `window` for the patient `current_mrn()` names (shown in `dashboard`);
    `as_of`: the day the documents are dated (None: today)."""

    def __init__(self, window: QMainWindow, db: Database, actor: Actor, dashboard: DashboardView, *,
                 current_mrn: Callable[[], str | None], as_of: date | None = None, read_only: bool = False):
        super().__init__(window)
        self._window = window
        self.db = db
        self.actor = actor
        self.dashboard = dashboard
        self._current_mrn = current_mrn
        self.as_of = as_of
        self.read_only = read_only
        self.history_windows: list[QDialog] = []

    # --- settings (the dialogs are imported when first opened: the first paint does not need them) --
    def show_settings(self, set_idle_lock: Callable[[int | None], None] | None) -> None:
        """File › Settings…; `set_idle_lock`: how a new idle time applies to this window (None: it does not lock)."""
        from poems_monitor.ui.settings_dialog import open_settings

        open_settings(self._window, set_idle_lock)

    def show_units(self, publish: Callable[[Changes], None]) -> None:
        """File › Clinic units…: the unit each measure is typed and read in (the protocol's
        [units]); a saved change redraws every screen, as any protocol change does (`publish`)."""
        from poems_monitor.ui.units_dialog import open_units

        saved = open_units(self._window, self.db, self.actor, read_only=self.read_only)
        if saved is not None:
            publish(saved.changes)

    # --- printing and export ---------------------------------------------------------------------
    def _summary_target(self) -> str | None:
        mrn = self._current_mrn()
        if mrn is None:
            self._window.statusBar().showMessage(tr("Choose a patient first."), 4000)
        return mrn

    # The report module is loaded on first use: it brings the PDF and printing libraries, which the
    # window's first paint does not need.
    def preview_summary(self) -> None:
        if (mrn := self._summary_target()) is not None:
            from poems_monitor.ui.report.actions import show_summary_preview

            show_summary_preview(self._window, self.db, mrn, self.as_of, generated_by=self.actor.name)

    def print_summary(self) -> None:
        if (mrn := self._summary_target()) is not None:
            from poems_monitor.ui.report.actions import print_summary

            print_summary(self._window, self.db, mrn, self.as_of, generated_by=self.actor.name)

    def save_summary_pdf(self, path: Path | None = None) -> Path | None:
        if (mrn := self._summary_target()) is None:
            return None
        from poems_monitor.ui.report.actions import save_summary_pdf

        written = save_summary_pdf(self._window, self.db, mrn, self.as_of, generated_by=self.actor.name, path=path)
        if written is not None:
            self._window.statusBar().showMessage(tr("Summary saved to {path}").format(path=written), 6000)
        return written

    def export_chart(self) -> Path | None:
        if self._summary_target() is None or self.dashboard.dashboard is None:
            return None
        from poems_monitor.ui.report.actions import export_chart_dialog

        return export_chart_dialog(self._window, self.dashboard.dashboard)

    # --- history of changes ----------------------------------------------------------------------
    def show_history(self) -> QDialog | None:
        """A window with every change to the current patient's record (old, new, who, when, why)."""
        mrn = self._current_mrn()
        if not mrn:
            QMessageBox.information(self._window, tr("History of changes"), tr("Choose a patient first."))
            return None
        try:
            patient_id = patient_id_for(self.db, mrn)
        except PatientNotFound as exc:
            QMessageBox.warning(self._window, tr("Patient not found"), str(exc))
            return None
        shown = self.dashboard.dashboard
        name = shown.name if self.dashboard.mrn == mrn and shown else mrn
        window = HistoryWindow(self.db, patient_id, tr("History of changes — {name} ({mrn})").format(name=name, mrn=mrn),
                               self._window)
        self.history_windows.append(window)
        window.destroyed.connect(lambda *_: self.history_windows.remove(window) if window in self.history_windows else None)
        window.show()
        return window

    def close_windows(self) -> None:
        """The main window closes: its history windows go with it."""
        for window in list(self.history_windows):
            window.close()

    # --- administration and help -----------------------------------------------------------------
    def manage_accounts(self) -> AccountsDialog | None:
        """File › Accounts… (administrators): the accounts table and its audited changes."""
        if not self.actor.may(Permission.MANAGE_USERS) or self.read_only:
            return None
        from poems_monitor.ui.accounts_dialog import AccountsDialog

        dialog = AccountsDialog(self.db, self.actor, self._window)
        dialog.open()
        return dialog

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self._window).exec()

    def about(self) -> None:
        """Help › About: version, licence and the third-party licences of what is installed."""
        from poems_monitor.ui.about_dialog import AboutDialog

        AboutDialog(self._window).exec()

    def show_user_guide(self) -> None:
        """Help › User guide: the guide shipped with the program (offline)."""
        from poems_monitor.ui.user_guide import open_user_guide

        open_user_guide(self._window)
