"""What the safety rules show on screen and on paper (issue 9, defect 7; issue 10, defect 3):
the cumulative-melphalan line with its MDS caution in the dashboard header and in the printed
summary, and a confirmed critical platelet count inside an open thrombocytosis run appearing in
the dashboard's flag list right after the nurse saves the visit."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pytest

from poems_monitor.domain.timeline import TreatmentRecord
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.dashboard.view import DashboardView
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, d, patient, visit


@pytest.fixture
def clinic(db, admin):
    mdex = TreatmentRecord("melphalan_dexamethasone", d("2018-01-01"), d("2018-12-01"), melphalan_mg=900)
    asct = TreatmentRecord("asct", d("2019-06-01"), d("2019-06-02"), melphalan_mg=360, engraftment_date=d("2019-06-13"))
    treated = patient(
        visit("2017-12-01", platelets=300, hemoglobin=13.5, neutrophils=4.0, features=BASELINE_FEATURES),
        visit("2021-01-01", platelets=70, hemoglobin=13.0, neutrophils=1.2),
        treatments=[mdex, asct], mrn="H-000700", name="Mel Phalan",
    )
    plain = patient(visit("2020-01-01", platelets=300), mrn="H-000701", name="No Alkylator")
    import_patients(db, [treated, plain], admin, reason="test")
    return db


def make_view(qtbot, db, actor):
    view = DashboardView(db, actor, as_of=TODAY)
    qtbot.addWidget(view)
    view.resize(1366, 768)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_header_shows_cumulative_melphalan_with_the_mds_caution(qtbot, clinic, physician):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000700")
    texts = view.header.texts()
    assert texts["melphalan"].startswith("Melphalan 1260 mg") and "AL data [KYLE90]" in texts["melphalan"]
    tip = texts["melphalan_tooltip"]
    assert "Melphalan–dexamethasone (MDex) 2018-01-01: 900 mg" in tip and "2019-06-01: 360 mg" in tip
    assert "AL amyloidosis (not POEMS)" in tip and "[KYLE90]" in tip
    label = view.header.melphalan
    assert label.isVisible() and label.geometry().right() <= view.header.width()  # visible at 1366 wide
    qtbot.waitUntil(lambda: label.heightForWidth(label.width()) <= label.height() + 1, timeout=3000)  # wrapped, not cut
    view.open_patient("H-000701")
    assert view.header.texts()["melphalan"] == ""  # nothing on record: no line


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_printed_summary_has_the_melphalan_line_and_caution(qapp, clinic, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    target = tmp_path / "summary.pdf"
    write_patient_summary(clinic, "H-000700", target, as_of=TODAY)
    text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True).stdout
    text = re.sub(r"\s+", " ", text)
    assert "Cumulative melphalan as of 2026-11-21: 1260 mg" in text
    assert "AL amyloidosis (not POEMS)" in text and "1764 mg" in text


RUN_MRN = "H-000777"


@pytest.fixture
def thrombocytosis_run(db, nurse):
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    create_patient(db, nurse, PatientInput(RUN_MRN, "Mara Lind", "female", date(1968, 5, 1), date(2024, 3, 1)), today=TODAY)
    for day, platelets in ((date(2024, 3, 1), 620), (date(2025, 9, 1), 700)):  # an open run of thrombocytosis
        record_visit(db, nurse, RUN_MRN, VisitInput(day, (EnteredValue("platelets", platelets, "10*9/L"),),
                                                    features=(("polyneuropathy", "present"),)), today=TODAY)
    return db


def test_confirmed_critical_platelets_in_an_open_run_show_as_a_new_flag_after_the_save(qtbot, thrombocytosis_run, nurse):
    from PySide6.QtCore import QTimer, Qt
    from PySide6.QtWidgets import QApplication, QMessageBox

    from poems_monitor.ui.main_window import TAB_DASHBOARD, MainWindow

    win = MainWindow(thrombocytosis_run, nurse, as_of=TODAY)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    qtbot.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(win.patients.search, "lind")
    qtbot.keyClick(win.patients.search, Qt.Key.Key_Return)
    assert win.dashboard.mrn == RUN_MRN
    before = {f.flag.flag_id for f in win.dashboard.dashboard.flags}
    assert [f.flag.kind.value for f in win.dashboard.dashboard.flags].count("thrombocytosis") == 1

    qtbot.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # New visit
    form = win.entry
    platelets = form.rows["platelets"].editor
    platelets.setFocus()
    qtbot.keyClicks(platelets, "1200")
    asked: list[str] = []

    def confirm_in_the_dialog() -> None:  # the real prompt: read it, then click "Yes"
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, confirm_in_the_dialog)
            return
        asked.append(box.text())
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, confirm_in_the_dialog)
    with qtbot.waitSignal(form.saved, timeout=10000):
        qtbot.keyClick(platelets, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert asked and "Platelets 1200" in asked[0] and "critical limit 1000" in asked[0]

    qtbot.waitUntil(lambda: win.centre.currentIndex() == TAB_DASHBOARD, timeout=5000)
    new = [f for f in win.dashboard.dashboard.unacknowledged if f.flag.flag_id not in before]
    critical = [f for f in new if f.flag.kind.value == "thrombocytosis" and f.flag.code == "thrombocytosis"]
    assert len(critical) == 1 and critical[0].flag.severity.value == "critical"
    assert critical[0].flag.flag_id in win.dashboard.flags.cards  # in the flag list on screen
    shown = win.dashboard.flags.model.entries
    assert any(e.flag.flag_id == critical[0].flag.flag_id for e in shown)
    # the value is ringed on the platelet chart: its point carries the flag
    points = win.dashboard.dashboard.series["platelets"].points
    assert points[-1].value == 1200 and any("critical limit 1000" in m for m in points[-1].flags)


def test_every_flag_kind_has_a_label_wherever_kinds_are_named():
    from poems_monitor.domain.flags import FlagKind
    from poems_monitor.ui.dashboard.flags_panel import _KIND_TEXT
    from poems_monitor.ui.report.summary_document import KIND_TEXT
    from poems_monitor.ui.worklist.model import FLAG_NAMES

    for labels in (_KIND_TEXT, KIND_TEXT, FLAG_NAMES):
        missing = [k.value for k in FlagKind if k.value not in labels]
        assert missing == [], missing
    assert (_KIND_TEXT["bleeding_risk"], _KIND_TEXT["cytopenia"], _KIND_TEXT["critical_value"]) == (
        "Bleeding risk", "Cytopenia", "Critical value")
