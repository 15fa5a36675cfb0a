"""A clinic day through the main window, as the people do it: a nurse finds the patient by
typing, enters today's visit with the keyboard (refused on an impossible value, asked to confirm
a critical one), saves; the dashboard updates at once with the new value on the chart and the
new flags; then a physician acknowledges one of them, and the clinic worklist no longer lists it;
the day ends with Patient › Save the summary as PDF, a real PDF that names the patient."""

from __future__ import annotations

import subprocess
from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from poems_monitor.services.worklist import unacknowledged_flags
from poems_monitor.ui.dashboard import flags_panel
from poems_monitor.ui.main_window import TAB_DASHBOARD, TAB_ENTRY, MainWindow
from tests.conftest import TODAY

MRN = "H-000777"


@pytest.fixture
def clinic(db, nurse):
    create_patient(db, nurse, PatientInput(MRN, "Mara Lind", "female", date(1968, 5, 1), date(2024, 3, 1)), today=TODAY)
    for day, platelets in ((date(2024, 3, 1), 310), (date(2025, 9, 1), 290)):
        record_visit(db, nurse, MRN, VisitInput(day, (EnteredValue("platelets", platelets, "10*9/L"),),
                                                features=(("polyneuropathy", "present"), ("pleural_effusion", "absent"))),
                     today=TODAY)
    return db


def open_window(qtbot, db, actor) -> MainWindow:
    win = MainWindow(db, actor, as_of=TODAY)
    qtbot.addWidget(win)
    win.resize(1500, 950)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    return win


def acknowledge_by_click(qtbot, doctor: MainWindow, db, monkeypatch, feature: str, comment: str):
    """The physician clicks Acknowledge on the new-feature flag of `feature` and gives `comment`."""
    entry = next(e for e in doctor.dashboard.dashboard.unacknowledged
                 if (e.flag.kind.value, e.flag.code) == ("new_feature", feature))
    monkeypatch.setattr(flags_panel, "ask_comment", lambda e, parent: comment)
    button = doctor.dashboard.flags.button_rect(entry.flag.flag_id)
    with qtbot.waitSignal(doctor.dashboard.flagAcknowledged, timeout=5000):
        qtbot.mouseClick(doctor.dashboard.flags.list.viewport(), Qt.MouseButton.LeftButton, pos=button.center())
    assert entry.flag.flag_id not in {f.flag_id for f in unacknowledged_flags(db, TODAY, mrn=MRN)}
    return entry


def test_a_visit_entered_by_the_nurse_shows_on_the_dashboard_and_the_physician_acknowledges_its_flag(
        qtbot, clinic, nurse, physician, monkeypatch, tmp_path):
    win = open_window(qtbot, clinic, nurse)
    qtbot.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(win.patients.search, "lind")
    qtbot.keyClick(win.patients.search, Qt.Key.Key_Return)
    assert win.dashboard.mrn == MRN
    platelets_chart = win.dashboard.charts.charts["blood"]
    points_before = platelets_chart.data_item_count()
    flags_before = {f.flag.kind.value for f in win.dashboard.dashboard.flags}
    assert "new_feature" not in flags_before

    qtbot.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # New visit
    assert win.centre.currentIndex() == TAB_ENTRY
    form = win.entry
    platelets = form.rows["platelets"].editor
    platelets.setFocus()
    qtbot.keyClicks(platelets, "5200")  # a typing error: impossible
    qtbot.keyClick(platelets, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert "Not saved" in form.banner_message()
    assert "Platelets" in form.banner_message()
    platelets.selectAll()
    qtbot.keyClicks(platelets, "1100")  # possible but critical: the nurse is asked to confirm
    qtbot.keyClicks(form.features["pleural_effusion"], "p")  # newly present
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(form.saved, timeout=5000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert asked, "the critical value was saved without asking"

    # the dashboard updates at once: the new value on the chart, the new flags in the panel
    qtbot.waitUntil(lambda: win.centre.currentIndex() == TAB_DASHBOARD, timeout=5000)
    assert platelets_chart.data_item_count() == points_before + 1
    new = {(f.flag.kind.value, f.flag.code) for f in win.dashboard.dashboard.unacknowledged}
    assert ("new_feature", "pleural_effusion") in new
    assert ("thrombocytosis", "thrombocytosis") in new or any(kind == "thrombocytosis" for kind, _ in new)

    win.close()

    # a physician opens the patient and acknowledges the new feature with a comment
    doctor = open_window(qtbot, clinic, physician)
    doctor.open_patient(MRN)
    entry = acknowledge_by_click(qtbot, doctor, clinic, monkeypatch, "pleural_effusion", "Chest X-ray ordered")
    assert "Chest X-ray ordered" in doctor.dashboard.flags.cards[entry.flag.flag_id].review_text

    # and prints: Patient › Save the summary as PDF, the file chosen in the (answered) save dialog
    chosen = tmp_path / "summary-lind"
    asked_where = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: asked_where.append(a) or (str(chosen), "PDF, A4 (*.pdf)"))
    save_pdf = doctor.actions_by_name["save_pdf"]
    assert save_pdf in doctor.menuBar().actions()[1].menu().actions()  # the Patient menu
    save_pdf.trigger()
    assert asked_where, "the PDF was written without asking where"
    pdf = chosen.with_suffix(".pdf")
    assert "Summary saved to" in doctor.statusBar().currentMessage()
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "PDF version" in info
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Mara Lind" in text and MRN in text


def test_after_a_save_the_confirmation_with_out_of_range_values_and_new_flags_stays_in_view(
        qtbot, clinic, nurse, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    win = open_window(qtbot, clinic, nurse)
    win.open_patient(MRN)
    win.new_visit()
    form = win.entry
    form.rows["platelets"].editor.setFocus()
    qtbot.keyClicks(form.rows["platelets"].editor, "520")
    form.features["pleural_effusion"].setFocus()
    qtbot.keyClicks(form.features["pleural_effusion"], "p")
    with qtbot.waitSignal(form.saved, timeout=5000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.centre.currentIndex() == TAB_DASHBOARD, timeout=5000)
    qtbot.wait(3500)  # longer than any passing status message
    note = win.last_save
    assert note.isVisible()
    assert f"saved for {MRN}" in note.text()
    assert "Platelets 520" in note.text()  # out of range, named
    assert "new feature (Pleural effusion)" in note.text()
    win.open_patient(MRN)  # still this patient: it stays
    assert note.isVisible()


def test_a_whole_clinic_day_with_a_full_visit_by_keyboard_alone(qtbot, clinic, nurse, physician, monkeypatch, tmp_path):
    """The issue's clinic day in one run: find the patient, enter a full follow-up visit (every
    section) by keyboard alone, save; correct a value with a reason; a physician reviews the
    dashboard, acknowledges a new feature and saves the summary as a PDF."""
    from sqlalchemy import select

    from poems_monitor.models import Observation
    from poems_monitor.ui.entry import ReasonDialog
    from tests.ui.test_visit_keystrokes import enter_full_visit

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Yes)
    win = open_window(qtbot, clinic, nurse)
    qtbot.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(win.patients.search, "lind")
    qtbot.keyClick(win.patients.search, Qt.Key.Key_Return)
    assert win.dashboard.mrn == MRN
    qtbot.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    form = win.entry
    with qtbot.waitSignal(form.saved, timeout=10000):
        presses = enter_full_visit(qtbot, form)  # every section, Enter to move on, Ctrl+S
    assert presses < 218
    qtbot.waitUntil(lambda: win.centre.currentIndex() == TAB_DASHBOARD, timeout=5000)
    new = {(f.flag.kind.value, f.flag.code) for f in win.dashboard.dashboard.unacknowledged}
    assert ("new_feature", "splenomegaly") in new

    reasons = []
    monkeypatch.setattr(ReasonDialog, "get_reason", staticmethod(lambda parent, changes: reasons.extend(changes) or "Typing error"))
    qtbot.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # the same day: the saved visit
    platelets = form.rows["platelets"].editor
    assert platelets.text() == "512"
    platelets.setFocus()
    platelets.selectAll()
    qtbot.keyClicks(platelets, "521")
    with qtbot.waitSignal(form.saved, timeout=5000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert reasons == ["Platelets: 512 ×10⁹/L → 521 ×10⁹/L"]
    O = Observation.__table__
    with clinic.read() as session:
        counts = session.execute(select(O.c.value_num, O.c.superseded_reason).where(O.c.code == "platelets")
                                 .order_by(O.c.id)).all()
    assert [tuple(r) for r in counts[-2:]] == [(512, "Typing error"), (521, None)]
    win.close()

    doctor = open_window(qtbot, clinic, physician)
    doctor.open_patient(MRN)
    acknowledge_by_click(qtbot, doctor, clinic, monkeypatch, "splenomegaly", "Ultrasound ordered")
    chosen = tmp_path / "day"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), "PDF, A4 (*.pdf)"))
    doctor.actions_by_name["save_pdf"].trigger()
    text = subprocess.run(["pdftotext", "-layout", str(chosen.with_suffix(".pdf")), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Mara Lind" in text and "Ultrasound ordered" in text
