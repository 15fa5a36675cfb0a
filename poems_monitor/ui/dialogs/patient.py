"""New patient, or a correction of a patient's identity data (with a reason).

Saves through `services.patients.create_patient` / `update_patient`; their refusals show under
the fields they name.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtWidgets import QComboBox, QLineEdit, QWidget

from poems_monitor.i18n import N_
from poems_monitor.domain.catalogue import SEXES
from poems_monitor.services.access import Actor
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.patients import PatientInput, create_patient, stored_patient, update_patient
from poems_monitor.ui.dialogs.base import DateField, OptionalDate, ServiceDialog

_SEX_NAMES = {"female": N_("Female"), "male": N_("Male"), "other": N_("Other"), "unknown": N_("Not known")}


class PatientDialog(ServiceDialog):
    """`mrn=None`: a new patient. With an MRN: correct that patient (a reason is required)."""

    def __init__(self, db: Database, actor: Actor, mrn: str | None = None, parent: QWidget | None = None, *,
                 today: date | None = None):
        super().__init__(db, actor, parent, today)
        self._patient_id: int | None = None
        self._version = 1
        existing = None
        if mrn is not None:
            existing = stored_patient(db, mrn)  # PatientNotFound when another workstation changed the MRN
            self._patient_id, self._version = existing.patient_id, existing.version
        self.setWindowTitle(self.tr("New patient") if existing is None else self.tr("Correct patient data"))
        self.heading.setText(self.tr("New patient") if existing is None
                             else self.tr("Correct the data of {mrn}").format(mrn=mrn))
        self.mrn_edit = QLineEdit(existing.mrn if existing else "")
        self.mrn_edit.setObjectName("mrn")
        self.mrn_edit.setMaxLength(64)
        self.mrn_edit.setPlaceholderText(self.tr("hospital number, e.g. H-000123"))
        self.name_edit = QLineEdit(existing.name if existing else "")
        self.name_edit.setObjectName("name")
        self.name_edit.setMaxLength(200)
        self.sex_combo = QComboBox()
        self.sex_combo.setObjectName("sex")
        self.sex_combo.addItem(self.tr("— choose —"), None)  # nothing assumed: the nurse chooses
        for sex in SEXES:
            self.sex_combo.addItem(self.tr(_SEX_NAMES.get(sex, sex)), sex)
        self.sex_combo.setCurrentIndex(max(self.sex_combo.findData(existing.sex), 0) if existing is not None else 0)
        self.birth_edit = DateField(existing.birth_date if existing else None, name="birth_date", field="birth_date")
        self.diagnosis = OptionalDate(self.tr("known"), existing.diagnosis_date if existing else None,
                                      default=self._today, name="diagnosis_date")
        self.add_field("mrn", self.tr("&MRN"), self.mrn_edit)
        self.add_field("name", self.tr("&Name"), self.name_edit)
        self.add_field("sex", self.tr("S&ex"), self.sex_combo,
                       hint=self.tr("Sets the sex-specific limits (haemoglobin, haematocrit, hormones)."))
        self.add_field("birth_date", self.tr("&Birth date"), self.birth_edit)
        self.add_field("diagnosis_date", self.tr("&Diagnosis date"), self.diagnosis,
                       hint=self.tr("Date of the POEMS diagnosis, when known."))
        self.reason_edit: QLineEdit | None = None
        if existing is not None:
            self.reason_edit = QLineEdit()
            self.reason_edit.setObjectName("reason")
            self.reason_edit.setPlaceholderText(self.tr("why the data is corrected"))
            self.add_field("reason", self.tr("&Reason"), self.reason_edit)
        self.mrn_edit.setFocus()

    def patient_input(self) -> PatientInput:
        return PatientInput(
            mrn=self.mrn_edit.text().strip(), name=self.name_edit.text().strip(), sex=self.sex_combo.currentData(),
            birth_date=self.birth_edit.checked_value(self.tr("Birth date")), diagnosis_date=self.diagnosis.value(),
        )

    def submit(self) -> int:
        if self._patient_id is None:
            return create_patient(self._db, self._actor, self.patient_input(), today=self._today)
        self.changes = update_patient(self._db, self._actor, self._patient_id, self._version, self.patient_input(),
                                      self.reason_edit.text() if self.reason_edit else "", today=self._today).changes
        return self._patient_id

    @property
    def mrn(self) -> str:
        return self.mrn_edit.text().strip()
