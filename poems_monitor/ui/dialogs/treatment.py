"""A line of therapy: regimen, dates, thromboprophylaxis and, for ASCT, infusion and engraftment.

Saves through `services.patients.add_treatment` (or `update_treatment` / `delete_treatment`
with a reason when a saved treatment is corrected); refusals show under the field they name.
Fields show only where they apply: the name for "other", engraftment for ASCT, the melphalan
dose for melphalan-containing lines; an IMiD line reminds that thromboprophylaxis is expected.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QLocale
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QWidget

from poems_monitor.domain.catalogue import REGIMENS, THROMBOPROPHYLAXIS, THROMBOPROPHYLAXIS_NAMES
from poems_monitor.domain.safety_flags import MELPHALAN_REGIMENS  # the regimens whose dose is summed
from poems_monitor.domain.timeline import TreatmentRecord
from poems_monitor.services.access import Actor
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.errors import FieldProblem, InputRefused, RecordNotFound
from poems_monitor.services.patients import add_treatment, delete_treatment, stored_treatment, update_treatment
from poems_monitor.ui.dialogs.base import OptionalDate, ServiceDialog, date_edit
from poems_monitor.ui.entry.marks import show_problem
from poems_monitor.ui.theme import theme


class TreatmentDialog(ServiceDialog):
    """Add a treatment for `mrn`, or (with `treatment_id`) correct or remove a saved one."""

    def __init__(self, db: Database, actor: Actor, mrn: str | None = None, parent: QWidget | None = None, *,
                 treatment_id: int | None = None, today: date | None = None):
        super().__init__(db, actor, parent, today)
        self._treatment_id = treatment_id
        self._version = 1
        self.deleted = False
        row = None  # the saved treatment being corrected (TreatmentNotFound when it is gone)
        if treatment_id is not None:
            stored = stored_treatment(db, treatment_id)
            mrn, self._version, row = stored.mrn, stored.version, stored.treatment
        self.setWindowTitle(self.tr("Treatment") if row is None else self.tr("Correct treatment"))
        self.heading.setText((self.tr("New line of therapy for {mrn}") if row is None
                              else self.tr("Correct a treatment of {mrn}")).format(mrn=mrn or "…"))
        self.mrn_edit = QLineEdit(mrn or "")
        self.mrn_edit.setObjectName("mrn")
        if mrn is None:
            self.add_field("mrn", self.tr("&MRN"), self.mrn_edit)
        self.regimen = QComboBox()
        self.regimen.setObjectName("regimen")
        for regimen in REGIMENS.values():
            self.regimen.addItem(regimen.label, regimen.code)
        self.name_edit = QLineEdit(row.name or "" if row else "")
        self.name_edit.setObjectName("name")
        self.name_edit.setPlaceholderText(self.tr("name of the regimen"))
        self.start = date_edit(row.start if row else self._today, name="start")
        self.stop = OptionalDate(self.tr("stopped on"), row.stop if row else None, default=self._today, name="stop")
        self.prophylaxis = QComboBox()
        self.prophylaxis.setObjectName("thromboprophylaxis")
        for code in THROMBOPROPHYLAXIS:
            self.prophylaxis.addItem(self.tr(THROMBOPROPHYLAXIS_NAMES[code]), code)
        self.prophylaxis.setCurrentIndex(self.prophylaxis.findData(
            row.thromboprophylaxis if row and row.thromboprophylaxis else "unknown"))
        self.engraftment = OptionalDate(self.tr("engrafted on"), row.engraftment_date if row else None,
                                        default=self._today, name="engraftment_date")
        self.melphalan = QLineEdit("" if not row or row.melphalan_mg is None else f"{row.melphalan_mg:g}")
        self.melphalan.setObjectName("melphalan_mg")
        validator = QDoubleValidator(0.0, 100000.0, 1, self.melphalan)
        validator.setLocale(QLocale.c())
        self.melphalan.setValidator(validator)
        self.melphalan.setPlaceholderText(self.tr("mg, total of this line"))
        self.note = QPlainTextEdit(row.note if row else "")
        self.note.setObjectName("note")
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(64)

        self.add_field("regimen", self.tr("&Regimen"), self.regimen)
        self.add_field("name", self.tr("&Name"), self.name_edit)
        self.start_label = self.add_field("start", self.tr("S&tart"), self.start)
        self.add_field("stop", self.tr("Sto&p"), self.stop, hint=self.tr("Leave unticked while the line runs."))
        self.add_field("thromboprophylaxis", self.tr("T&hromboprophylaxis"), self.prophylaxis)
        self.imid_hint = QLabel(self.tr("⚠ IMiD regimen: thromboprophylaxis (aspirin or LMWH) is expected; "
                                        "“Not documented” raises a thrombosis-watch flag."))
        self.imid_hint.setObjectName("imid_hint")
        self.imid_hint.setWordWrap(True)
        self.imid_hint.setStyleSheet(f"color: {theme().warning};")
        self.form.addRow("", self.imid_hint)
        self.add_field("engraftment_date", self.tr("&Engraftment"), self.engraftment,
                       hint=self.tr("Neutrophil engraftment; anchors the engraftment-syndrome watch."))
        self.add_field("melphalan_mg", self.tr("Melphalan &dose"), self.melphalan)
        self.add_field("note", self.tr("N&ote"), self.note)
        self.reason_edit: QLineEdit | None = None
        if row is not None:
            self.reason_edit = QLineEdit()
            self.reason_edit.setObjectName("reason")
            self.reason_edit.setPlaceholderText(self.tr("why the treatment is corrected or removed"))
            self.add_field("reason", self.tr("Re&ason"), self.reason_edit)
            self.delete_button = QPushButton(self.tr("Remove (entered in error)…"))
            self.delete_button.setObjectName("delete_button")
            self.buttons.addButton(self.delete_button, self.buttons.ButtonRole.DestructiveRole)
            self.delete_button.clicked.connect(self._delete)
        self.regimen.currentIndexChanged.connect(self._regimen_changed)
        self.prophylaxis.currentIndexChanged.connect(self._prophylaxis_changed)
        self.regimen.setCurrentIndex(max(self.regimen.findData(row.regimen if row else "lenalidomide_dexamethasone"), 0))
        self._regimen_changed()
        self.regimen.setFocus()

    def _regimen_changed(self) -> None:
        code = self.regimen.currentData()
        self.set_field_visible("name", code == "other")
        self.set_field_visible("engraftment_date", code == "asct")
        self.set_field_visible("melphalan_mg", code in MELPHALAN_REGIMENS)
        self.start_label.setText(self.tr("Infusion (day &0)") if code == "asct" else self.tr("S&tart"))
        self._prophylaxis_changed()

    def _prophylaxis_changed(self) -> None:
        """The IMiD reminder shows while no thromboprophylaxis is documented, and goes once one is."""
        regimen = REGIMENS.get(self.regimen.currentData())
        imid = regimen is not None and "imid" in regimen.drug_classes
        self.imid_hint.setVisible(imid and self.prophylaxis.currentData() in ("none", "unknown"))
        self.refit()

    def treatment_record(self) -> TreatmentRecord:
        code = self.regimen.currentData()
        text = self.melphalan.text().strip().replace(",", ".")
        return TreatmentRecord(
            regimen=code, start=self.start.date().toPython(), stop=self.stop.value(),
            thromboprophylaxis=self.prophylaxis.currentData(),
            name=self.name_edit.text().strip() or None if code == "other" else None,
            engraftment_date=self.engraftment.value() if code == "asct" else None,
            melphalan_mg=float(text) if text and code in MELPHALAN_REGIMENS else None,
            note=self.note.toPlainText().strip(),
        )

    def submit(self) -> int:
        if self._treatment_id is not None:
            self.changes = update_treatment(self._db, self._actor, self._treatment_id, self._version,
                                            self.treatment_record(), self.reason_edit.text() if self.reason_edit else "",
                                            today=self._today)
            return self._treatment_id
        mrn = self.mrn_edit.text().strip()
        if not mrn:
            raise InputRefused([FieldProblem("mrn", self.tr("Which patient? Enter the MRN"))])
        return add_treatment(self._db, self._actor, mrn, self.treatment_record(), today=self._today)

    def _delete(self) -> None:
        self.clear_problems()
        try:
            self.changes = delete_treatment(self._db, self._actor, self._treatment_id,
                                            self.reason_edit.text() if self.reason_edit else "")
        except InputRefused as refused:
            self.show_problems(refused.problems)
            return
        except RecordNotFound as exc:
            show_problem(self.general_problem, str(exc))
            return
        self.deleted = True
        self.saved_id = self._treatment_id
        self.saved.emit(self._treatment_id)
        self.done(self.DialogCode.Accepted)
