"""A patient or visit that does not exist (deleted by another workstation, or a mistyped MRN)
is told to the user in the service's own sentence, without the quotes a bare KeyError adds, and
the screen stays where it was."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from poems_monitor.domain.timeline import TreatmentRecord
from poems_monitor.services.patients import (
    PatientInput, add_treatment, create_patient, delete_treatment, patient_id_for, update_patient,
)
from poems_monitor.ui.dashboard.view import DashboardView
from poems_monitor.ui.dialogs import TreatmentDialog
from poems_monitor.ui.main_window import MainWindow
from tests.conftest import TODAY


@pytest.fixture
def clinic(db, nurse):
    create_patient(db, nurse, PatientInput("H-000123", "Anna Test", "female", date(1960, 5, 1)), today=TODAY)
    return db


@pytest.fixture
def warnings(monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda parent, title, text, *a: shown.append((title, text))))
    return shown


def test_the_main_window_names_an_unknown_mrn_plainly(qtbot, clinic, physician, warnings):
    win = MainWindow(clinic, physician, as_of=TODAY)
    qtbot.addWidget(win)
    assert win.open_patient("H-404") is False
    assert warnings == [("Patient not found", "No patient with MRN H-404")]
    assert win.dashboard.mrn != "H-404"


def test_acknowledging_after_the_mrn_was_corrected_elsewhere_is_refused_plainly(qtbot, clinic, nurse, physician,
                                                                                 warnings):
    view = DashboardView(clinic, physician, as_of=TODAY)
    qtbot.addWidget(view)
    view.open_patient("H-000123")
    # another workstation corrects the MRN while this screen still shows the old one
    update_patient(clinic, nurse, patient_id_for(clinic, "H-000123"), 1,
                   PatientInput("H-000124", "Anna Test", "female", date(1960, 5, 1)), "typing error", today=TODAY)
    assert view.acknowledge("any-flag", "seen") is False
    assert warnings == [("Flag not acknowledged", "No patient with MRN H-000123")]


def test_removing_a_treatment_removed_elsewhere_is_refused_plainly(qtbot, clinic, nurse):
    tid = add_treatment(clinic, nurse, "H-000123", TreatmentRecord("lenalidomide_dexamethasone", date(2026, 1, 5),
                                                                   thromboprophylaxis="aspirin"), today=TODAY)
    dialog = TreatmentDialog(clinic, nurse, treatment_id=tid, today=TODAY)
    qtbot.addWidget(dialog)
    dialog.show()
    delete_treatment(clinic, nurse, tid, "entered twice")  # another workstation was quicker
    qtbot.keyClicks(dialog.reason_edit, "entered for the wrong patient")
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert not dialog.deleted
    assert dialog.general_problem.text() == f"✖ treatment {tid} does not exist"  # no quotes around it
