"""The menu commands that write through a dialog of their own: New patient, Add treatment, Add
event, Import lab results.

Owns opening the dialog for the right patient ("Choose a patient first." otherwise) and telling
the window what was written: the dialog's save is published on the change bus (`publish`), so
every screen reloads itself, and the window is told which patient to show (callbacks). The dialogs save through the
services, which check who may (`ui.dialogs`, `ui.lab_import_dialog`); they are imported when a
command first opens one (the window's first paint does not need them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMainWindow, QMessageBox

from poems_monitor.i18n import tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.access import Actor
from poems_monitor.services.changes import Changes
from poems_monitor.services.patients import list_patients

if TYPE_CHECKING:
    from poems_monitor.ui.dialogs.base import ServiceDialog
    from poems_monitor.ui.lab_import_dialog import LabImportDialog


class RecordCommands(QObject):
    """The writing commands of `window` for the patient `current_mrn()` names. After a write:
    `publish(changes)` (what the save changed, for the change bus), then `patient_added(mrn)`
    (None: the dialog saved but no new patient is listed) or `patient_changed(mrn)` (a treatment
    or an event: the window shows that patient)."""

    def __init__(self, window: QMainWindow, db: Database, actor: Actor, *, current_mrn: Callable[[], str | None],
                 publish: Callable[[Changes], None], patient_added: Callable[[str | None], None],
                 patient_changed: Callable[[str], None], as_of: date | None = None):
        super().__init__(window)
        self._window = window
        self.db = db
        self.actor = actor
        self.as_of = as_of
        self._current_mrn = current_mrn
        self._patient_added = patient_added
        self._patient_changed = patient_changed
        self._publish = publish

    def _dialog(self, dialog_class: Callable[..., ServiceDialog], mrn: str | None) -> bool:
        """Run a saving dialog; what its save changed is published on the bus."""
        dialog = dialog_class(self.db, self.actor, mrn=mrn, parent=self._window, today=self.as_of)
        accepted = bool(dialog.exec())
        if accepted:
            self._publish(getattr(dialog, "changes", None) or Changes(patient_list=True))
        return accepted

    def new_patient(self) -> None:
        from poems_monitor.ui.dialogs import PatientDialog

        before = {r.mrn for r in list_patients(self.db)}
        if self._dialog(PatientDialog, None):
            added = [r.mrn for r in list_patients(self.db) if r.mrn not in before]
            self._patient_added(added[0] if added else None)

    def _patient_dialog(self, dialog_class: Callable[..., ServiceDialog]) -> None:
        mrn = self._current_mrn()
        if not mrn:
            QMessageBox.information(self._window, tr("Choose a patient"), tr("Choose a patient first."))
            return
        if self._dialog(dialog_class, mrn):
            self._patient_changed(mrn)

    def new_treatment(self) -> None:
        from poems_monitor.ui.dialogs import TreatmentDialog

        self._patient_dialog(TreatmentDialog)

    def new_event(self) -> None:
        from poems_monitor.ui.dialogs import EventDialog

        self._patient_dialog(EventDialog)

    def import_lab_results(self) -> LabImportDialog:
        """File › Import lab results: the preview dialog (all rows or none)."""
        from poems_monitor.ui.lab_import_dialog import LabImportDialog

        dialog = LabImportDialog(self.db, self.actor, self._window, today=self.as_of)
        dialog.imported.connect(lambda summary: self._publish(summary.changes))  # the summary says what changed
        dialog.open()
        return dialog
