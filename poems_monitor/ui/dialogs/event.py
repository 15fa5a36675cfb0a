"""A clinical event (thrombosis, relapse, hospitalisation, death, ...) for one patient.

Saves through `services.patients.add_event`; refusals show under the field they name.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtWidgets import QComboBox, QLineEdit, QPlainTextEdit, QWidget

from poems_monitor.domain.catalogue import EVENT_TYPES
from poems_monitor.domain.timeline import EventRecord
from poems_monitor.services.access import Actor
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.patients import add_event
from poems_monitor.ui.dialogs.base import ServiceDialog, date_edit


class EventDialog(ServiceDialog):
    def __init__(self, db: Database, actor: Actor, mrn: str | None = None, parent: QWidget | None = None, *,
                 today: date | None = None):
        super().__init__(db, actor, parent, today)
        self.setWindowTitle(self.tr("Record an event"))
        self.heading.setText(self.tr("Event for {mrn}").format(mrn=mrn) if mrn else self.tr("Record an event"))
        self.mrn_edit = QLineEdit(mrn or "")
        self.mrn_edit.setObjectName("mrn")
        if mrn is not None:
            self.mrn_edit.setReadOnly(True)
        else:
            self.add_field("mrn", self.tr("&MRN"), self.mrn_edit)
        self.type_combo = QComboBox()
        self.type_combo.setObjectName("type")
        for event in EVENT_TYPES.values():
            self.type_combo.addItem(event.label + (self.tr(" (thrombotic)") if event.thrombotic else ""), event.code)
        self.date_edit = date_edit(self._today, name="date")
        self.date_edit.setMaximumDate(self._today)
        self.note_edit = QPlainTextEdit()
        self.note_edit.setObjectName("note")
        self.note_edit.setTabChangesFocus(True)
        self.note_edit.setFixedHeight(72)
        self.note_edit.setPlaceholderText(self.tr("site, treatment, outcome (optional)"))
        self.add_field("type", self.tr("&Event"), self.type_combo,
                       hint=self.tr("Thrombotic events raise a thrombosis-watch flag."))
        self.add_field("date", self.tr("&Date"), self.date_edit)
        self.add_field("note", self.tr("N&ote"), self.note_edit)
        self.type_combo.setFocus()

    def event_record(self) -> EventRecord:
        return EventRecord(type=self.type_combo.currentData(), date=self.date_edit.date().toPython(),
                           note=self.note_edit.toPlainText().strip())

    def submit(self) -> int:
        mrn = self.mrn_edit.text().strip()
        if not mrn:
            from poems_monitor.services.errors import FieldProblem, InputRefused

            raise InputRefused([FieldProblem("mrn", self.tr("Which patient? Enter the MRN"))])
        return add_event(self._db, self._actor, mrn, self.event_record(), today=self._today)
