"""The patient, treatment and event dialogs: typed into like a person would, saved through the
services into a real SQLite file, refusals shown under the field they name."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.patients import PatientInput, create_patient, list_patients
from poems_monitor.ui.dialogs import EventDialog, PatientDialog, TreatmentDialog
from tests.conftest import TODAY

MRN = "H-000123"


@pytest.fixture
def clinic(db, nurse):
    create_patient(db, nurse, PatientInput(MRN, "Jane Example", "female", date(1971, 4, 2)), today=TODAY)
    return db


def timeline(db, mrn=MRN):
    with db.read() as session:
        return load_timelines(session, mrns=[mrn])[0]


def open_dialog(qtbot, dialog, active: bool = False):
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    if active:  # mnemonics (Alt+letter) act in the active window only
        from PySide6.QtWidgets import QApplication

        dialog.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=3000)
    return dialog


def test_a_new_patient_is_typed_in_and_saved(qtbot, db, nurse):
    dialog = open_dialog(qtbot, PatientDialog(db, nurse, today=TODAY))
    qtbot.keyClicks(dialog.mrn_edit, "H-000777")
    qtbot.keyClicks(dialog.name_edit, "Nora Newcomer")
    dialog.sex_combo.setCurrentIndex(dialog.sex_combo.findData("female"))
    dialog.birth_edit.setDate(date(1980, 6, 1))
    dialog.diagnosis.set_value(date(2026, 2, 1))
    with qtbot.waitSignal(dialog.saved):
        qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)  # Enter = Save
    assert dialog.result() == QDialog.DialogCode.Accepted
    row = next(p for p in list_patients(db) if p.mrn == "H-000777")
    assert (row.name, row.sex, row.birth_date, row.diagnosis_date) == (
        "Nora Newcomer", "female", date(1980, 6, 1), date(2026, 2, 1))


def test_patient_problems_show_under_their_fields(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, PatientDialog(clinic, nurse, today=TODAY))
    qtbot.keyClicks(dialog.mrn_edit, MRN)  # exists already, and no name
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "A patient with MRN H-000123 exists already" in dialog.problem_text("mrn")
    assert "Name must be 1 to 200 characters" in dialog.problem_text("name")
    assert "Birth date is required" in dialog.problem_text("birth_date")  # never assumed
    assert dialog.mrn_edit.property("tier") == "refused"
    assert len(list_patients(clinic)) == 1


def test_correcting_a_patient_needs_a_reason(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, PatientDialog(clinic, nurse, MRN, today=TODAY))
    assert dialog.name_edit.text() == "Jane Example"
    dialog.name_edit.setText("Jane Exampel-Smith")
    dialog.accept()
    assert "needs a reason" in dialog.problem_text("reason")
    qtbot.keyClicks(dialog.reason_edit, "Name changed at marriage")
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert list_patients(clinic)[0].name == "Jane Exampel-Smith"


def test_an_asct_with_engraftment_and_melphalan_is_saved(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, TreatmentDialog(clinic, nurse, MRN, today=TODAY))
    dialog.regimen.setCurrentIndex(dialog.regimen.findData("asct"))
    assert dialog.start_label.text().startswith("Infusion")
    assert dialog.engraftment.isVisibleTo(dialog) and dialog.melphalan.isVisibleTo(dialog)
    assert not dialog.name_edit.isVisibleTo(dialog)
    dialog.start.setDate(date(2026, 3, 1))
    dialog.engraftment.set_value(date(2026, 3, 12))
    qtbot.keyClicks(dialog.melphalan, "280")
    dialog.prophylaxis.setCurrentIndex(dialog.prophylaxis.findData("lmwh"))
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    (t,) = timeline(clinic).treatments
    assert (t.regimen, t.start, t.engraftment_date, t.melphalan_mg, t.thromboprophylaxis, t.stop) == (
        "asct", date(2026, 3, 1), date(2026, 3, 12), 280.0, "lmwh", None)


def test_treatment_problems_show_under_their_fields(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, TreatmentDialog(clinic, nurse, MRN, today=TODAY))
    dialog.regimen.setCurrentIndex(dialog.regimen.findData("other"))
    assert dialog.name_edit.isVisibleTo(dialog)
    dialog.start.setDate(date(2026, 5, 1))
    dialog.stop.set_value(date(2026, 4, 1))
    dialog.accept()
    assert "needs a name" in dialog.problem_text("name")
    assert "Stop 2026-04-01 is before start 2026-05-01" in dialog.problem_text("stop")
    assert timeline(clinic).treatments == ()


def test_an_imid_line_reminds_about_thromboprophylaxis(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, TreatmentDialog(clinic, nurse, MRN, today=TODAY))
    dialog.regimen.setCurrentIndex(dialog.regimen.findData("lenalidomide_dexamethasone"))
    assert dialog.imid_hint.isVisibleTo(dialog) and "thromboprophylaxis" in dialog.imid_hint.text()
    dialog.regimen.setCurrentIndex(dialog.regimen.findData("bortezomib_dexamethasone"))
    assert not dialog.imid_hint.isVisibleTo(dialog)


def test_a_saved_treatment_is_corrected_or_removed_with_a_reason(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, TreatmentDialog(clinic, nurse, MRN, today=TODAY))
    dialog.regimen.setCurrentIndex(dialog.regimen.findData("lenalidomide_dexamethasone"))
    dialog.start.setDate(date(2026, 1, 5))
    dialog.accept()
    treatment_id = dialog.saved_id
    edit = open_dialog(qtbot, TreatmentDialog(clinic, nurse, treatment_id=treatment_id, today=TODAY))
    assert edit.start.date().toPython() == date(2026, 1, 5)
    edit.prophylaxis.setCurrentIndex(edit.prophylaxis.findData("aspirin"))
    edit.accept()
    assert "needs a reason" in edit.problem_text("reason")
    qtbot.keyClicks(edit.reason_edit, "prophylaxis documented late")
    edit.accept()
    assert timeline(clinic).treatments[0].thromboprophylaxis == "aspirin"
    remove = open_dialog(qtbot, TreatmentDialog(clinic, nurse, treatment_id=treatment_id, today=TODAY))
    qtbot.keyClicks(remove.reason_edit, "entered for the wrong patient")
    qtbot.mouseClick(remove.delete_button, Qt.MouseButton.LeftButton)
    assert remove.deleted and timeline(clinic).treatments == ()


def test_an_event_is_saved(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, EventDialog(clinic, nurse, MRN, today=TODAY))
    dialog.type_combo.setCurrentIndex(dialog.type_combo.findData("dvt"))
    assert "(thrombotic)" in dialog.type_combo.currentText()
    dialog.date_edit.setDate(date(2026, 10, 2))
    dialog.note_edit.setFocus()
    qtbot.keyClicks(dialog.note_edit, "left calf")
    with qtbot.waitSignal(dialog.saved):
        dialog.accept()
    (e,) = timeline(clinic).events
    assert (e.type, e.date, e.note) == ("dvt", date(2026, 10, 2), "left calf")


def test_an_event_for_an_unknown_patient_is_refused_in_words(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, EventDialog(clinic, nurse, today=TODAY))
    dialog.accept()
    assert "Which patient?" in dialog.problem_text("mrn")
    qtbot.keyClicks(dialog.mrn_edit, "H-404")
    dialog.accept()
    assert "No patient with MRN H-404" in dialog.problem_text("general")
    assert dialog.result() != QDialog.DialogCode.Accepted


def test_the_wheel_over_a_dialog_field_changes_nothing(qtbot, clinic, nurse):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    def wheel(widget):
        local = QPointF(widget.rect().center())
        QApplication.sendEvent(widget, QWheelEvent(
            local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(0, 0), QPoint(0, -120), Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))

    treatment = open_dialog(qtbot, TreatmentDialog(clinic, nurse, MRN, today=TODAY))
    patient = open_dialog(qtbot, PatientDialog(clinic, nurse, MRN, today=TODAY))
    for widget in (treatment.regimen, treatment.prophylaxis, treatment.start, patient.sex_combo, patient.birth_edit):
        before = widget.currentIndex() if hasattr(widget, "currentIndex") else widget.date()
        wheel(widget)
        after = widget.currentIndex() if hasattr(widget, "currentIndex") else widget.date()
        assert after == before, widget.objectName()


# --- keyboard: one mnemonic per key in every dialog (issue 10, defect 12) -----------------------
def _mnemonics(dialog) -> dict[str, list[str]]:
    """Every Alt+letter the dialog offers (labels, buttons, check boxes, group boxes), by letter."""
    import re

    from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel

    found: dict[str, list[str]] = {}
    for widget in dialog.findChildren(QAbstractButton) + dialog.findChildren(QLabel) + dialog.findChildren(QGroupBox):
        if isinstance(widget, QLabel) and widget.buddy() is None:
            continue  # a label without a buddy has no shortcut
        if not widget.isVisibleTo(dialog):
            continue
        text = widget.title() if isinstance(widget, QGroupBox) else widget.text()
        match = re.search(r"&([^&\s])", text.replace("&&", ""))
        if match:
            found.setdefault(match.group(1).lower(), []).append(text)
    return found


def _every_dialog(clinic, nurse):
    from poems_monitor.ui.entry import ReasonDialog

    treatment = TreatmentDialog(clinic, nurse, MRN, today=TODAY)
    treatment.regimen.setCurrentIndex(treatment.regimen.findData("lenalidomide_dexamethasone"))
    treatment.start.setDate(date(2026, 1, 5))
    treatment.accept()
    yield "new patient", PatientDialog(clinic, nurse, today=TODAY)
    yield "correct patient", PatientDialog(clinic, nurse, MRN, today=TODAY)
    for regimen in ("asct", "other", "lenalidomide_dexamethasone"):
        dialog = TreatmentDialog(clinic, nurse, MRN, today=TODAY)
        dialog.regimen.setCurrentIndex(dialog.regimen.findData(regimen))
        yield f"treatment {regimen}", dialog
    yield "correct treatment", TreatmentDialog(clinic, nurse, treatment_id=treatment.saved_id, today=TODAY)
    yield "event", EventDialog(clinic, nurse, MRN, today=TODAY)
    yield "event without patient", EventDialog(clinic, nurse, today=TODAY)
    yield "correction reason", ReasonDialog(["Platelets: 312 → 321"])


def test_every_dialog_has_one_mnemonic_per_key_and_save_has_one(qtbot, clinic, nurse):
    for name, dialog in _every_dialog(clinic, nurse):
        open_dialog(qtbot, dialog)
        found = _mnemonics(dialog)
        clashes = {key: texts for key, texts in found.items() if len(texts) > 1}
        assert not clashes, f"{name}: {clashes}"
        assert "s" in found, f"{name}: Alt+S does not save"


def test_alt_s_saves_the_new_patient_and_never_types_an_s(qtbot, db, nurse):
    dialog = open_dialog(qtbot, PatientDialog(db, nurse, today=TODAY), active=True)
    qtbot.keyClicks(dialog.mrn_edit, "H-000888")
    qtbot.keyClicks(dialog.name_edit, "Ada Alt")
    dialog.sex_combo.setCurrentIndex(dialog.sex_combo.findData("female"))
    dialog.birth_edit.setDate(date(1975, 1, 2))
    with qtbot.waitSignal(dialog.saved, timeout=3000):
        qtbot.keyClick(dialog.name_edit, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)
    assert dialog.name_edit.text() == "Ada Alt"
    assert any(p.mrn == "H-000888" for p in list_patients(db))


def test_alt_letters_never_type_into_the_correction_reason(qtbot):
    from poems_monitor.ui.entry import ReasonDialog

    dialog = open_dialog(qtbot, ReasonDialog(["Platelets: 312 → 321"]), active=True)
    line = dialog.choice.lineEdit()
    line.setFocus()
    for key in (Qt.Key.Key_S, Qt.Key.Key_X, Qt.Key.Key_Q):
        qtbot.keyClick(line, key, Qt.KeyboardModifier.AltModifier)
        assert line.text() == "", f"Alt+{chr(key)} typed into the reason"
    qtbot.keyClicks(line, "Typing error")
    qtbot.keyClick(line, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)  # Alt+S: save the correction
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=2000)  # (an animated click)
    assert dialog.reason() == "Typing error"


# --- smaller defects (issue 10, defect 13) -------------------------------------------------------
def test_the_prophylaxis_warning_goes_once_aspirin_is_chosen(qtbot, clinic, nurse):
    dialog = open_dialog(qtbot, TreatmentDialog(clinic, nurse, MRN, today=TODAY))
    dialog.regimen.setCurrentIndex(dialog.regimen.findData("lenalidomide_dexamethasone"))
    assert dialog.imid_hint.isVisibleTo(dialog)  # "Not documented" to start with
    dialog.prophylaxis.setFocus()
    qtbot.keyClicks(dialog.prophylaxis, "A")  # Aspirin
    assert dialog.prophylaxis.currentData() == "aspirin"
    assert not dialog.imid_hint.isVisibleTo(dialog)
    dialog.prophylaxis.setCurrentIndex(dialog.prophylaxis.findData("none"))
    assert dialog.imid_hint.isVisibleTo(dialog)


def test_a_new_patient_has_no_sex_or_birth_date_until_one_is_entered(qtbot, db, nurse):
    dialog = open_dialog(qtbot, PatientDialog(db, nurse, today=TODAY))
    assert dialog.sex_combo.currentData() is None
    assert dialog.birth_edit.value() is None
    qtbot.keyClicks(dialog.mrn_edit, "H-000999")
    qtbot.keyClicks(dialog.name_edit, "No Defaults")
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "sex" in dialog.problem_text("sex").lower()
    assert "birth" in dialog.problem_text("birth_date").lower()
    assert not any(p.mrn == "H-000999" for p in list_patients(db))
