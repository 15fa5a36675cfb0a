"""The main window's status bar: the last save's confirmation, the backup indicator, the database
and who is signed in.

Owns the labels and the save's confirmation text (the form's sentence and the flags raised at the
saved visit's date), which stays in view after the window shows the dashboard, until another
patient is opened or the next save.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QMainWindow, QWidget

from poems_monitor.domain.catalogue import display_name
from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor
from poems_monitor.services.clinic_database import Database

if TYPE_CHECKING:
    from poems_monitor.services.dashboard import PatientDashboard


class StatusLine:
    def __init__(self, window: QMainWindow, db: Database, actor: Actor, backup_status: QWidget):
        bar = window.statusBar()
        self.db_label = QLabel(tr("Database: {db}").format(db=db.describe()))
        self.db_label.setToolTip(db.describe())
        self.user_label = QLabel(tr("Signed in: {name} ({role})").format(name=actor.name, role=actor.role.label))
        self.user_label.setObjectName("userLabel")
        self.last_save = QLabel("")
        self.last_save.setObjectName("last_save")
        self.last_save.setVisible(False)
        bar.addPermanentWidget(self.last_save, 1)
        bar.addPermanentWidget(backup_status)
        bar.addPermanentWidget(self.db_label)
        bar.addPermanentWidget(self.user_label)

    def patient_opened(self, mrn: str) -> None:
        if self.last_save.property("mrn") != mrn:
            self.last_save.setVisible(False)

    def confirm_save(self, mrn: str, confirmation: str | None, day: date | None, shown: PatientDashboard | None) -> None:
        """The form's `confirmation` and the flags raised at the saved visit's date `day`, kept in view."""
        text = confirmation or tr("Visit saved.")
        new = [e.flag for e in (shown.unacknowledged if shown else ()) if day is not None and e.flag.date == day]
        if new:
            text += " " + tr("New flags: {flags}.").format(flags="; ".join(
                f"{f.kind.value.replace('_', ' ')} ({display_name(f.code)})" for f in new))
        self.last_save.setText("✔ " + text)
        self.last_save.setToolTip(text)
        self.last_save.setProperty("mrn", mrn)
        self.last_save.setVisible(True)
