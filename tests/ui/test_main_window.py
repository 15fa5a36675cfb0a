"""The main window driven from the keyboard and mouse: find a patient by typing, filters, the
dashboard following the selection, status bar, shortcuts, remembered layout, and the headless
screenshot command."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.main_window import TAB_DASHBOARD, VIEW_PATIENTS, VIEW_WORKLIST, MainWindow
from poems_monitor.ui.patients.model import COL_FLAGS, COL_MRN, COL_NAME, COL_OVERDUE
from tests.conftest import TODAY
from tests.unit.timeline_builders import patient, visit


@pytest.fixture
def clinic(db, admin):
    patients = generate_patients(6, seed=5, today=TODAY)
    extra = patient(visit("2024-05-05", platelets=250), mrn="Z-777", name="Chloé Zimmermann", sex="female")
    import_patients(db, [*patients, extra], admin, reason="test")
    return db


@pytest.fixture
def window(qtbot, clinic, physician):
    win = MainWindow(clinic, physician, as_of=TODAY)
    qtbot.addWidget(win)
    win.resize(1500, 950)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.patients.model.status("Z-777") is not None, timeout=15000)  # overview off-thread
    return win


def test_find_a_patient_by_typing(qtbot, window):
    panel = window.patients
    assert panel.proxy.rowCount() == 7
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert panel.search.hasFocus()
    qtbot.keyClicks(panel.search, "zimmer")
    assert panel.proxy.rowCount() == 1
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    assert window.dashboard.mrn == "Z-777"
    assert window.dashboard.header.texts()["name"] == "Chloé Zimmermann"
    assert window.centre.currentIndex() == TAB_DASHBOARD
    panel.search.clear()
    qtbot.keyClicks(panel.search, "chloe z")  # accents and case do not matter; every word must match
    assert panel.proxy.rowCount() == 1
    panel.search.clear()
    qtbot.keyClicks(panel.search, "z-77")  # by MRN
    assert panel.proxy.index(0, COL_MRN).data() == "Z-777"
    panel.search.clear()
    assert panel.proxy.rowCount() == 7


def test_clicking_a_row_opens_the_dashboard(qtbot, window):
    table = window.patients.table
    index = window.patients.proxy.index(2, COL_NAME)
    rect = table.visualRect(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.dashboard.mrn == index.siblingAtColumn(COL_MRN).data()
    assert window.dashboard.header.texts()["name"] == index.data()
    qtbot.keyClick(table, Qt.Key.Key_Down)
    assert window.dashboard.mrn == window.patients.proxy.index(3, COL_MRN).data()


def test_patient_models_pass_the_model_tester(window, qtmodeltester):
    qtmodeltester.check(window.patients.model)
    qtmodeltester.check(window.patients.proxy)


def test_filters_and_sorting(qtbot, window):
    panel = window.patients
    model = panel.model
    with_flags = sum(1 for r in range(model.rowCount()) if model.status(model.patient(r).mrn).new_flags)
    overdue = sum(1 for r in range(model.rowCount()) if model.status(model.patient(r).mrn).overdue)
    panel.only_flags.setChecked(True)
    assert panel.proxy.rowCount() == with_flags
    panel.only_flags.setChecked(False)
    panel.only_overdue.setChecked(True)
    assert panel.proxy.rowCount() == overdue
    panel.only_overdue.setChecked(False)
    panel.table.sortByColumn(COL_FLAGS, Qt.SortOrder.DescendingOrder)
    counts = [panel.proxy.index(r, COL_FLAGS).data(panel.proxy.sortRole()) for r in range(panel.proxy.rowCount())]
    assert counts == sorted(counts, reverse=True)
    assert panel.proxy.index(0, COL_OVERDUE).data() is not None


def test_status_bar_menus_and_views(qtbot, window, clinic, physician):
    assert clinic.describe() in window.db_label.text()
    assert physician.name in window.user_label.text() and "physician" in window.user_label.text()
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Patient", "View", "Help"]
    shortcuts = {k: a.shortcut().toString() for k, a in window.actions_by_name.items()}
    assert shortcuts["new_visit"] == "Ctrl+N" and shortcuts["find"] == "Ctrl+F" and shortcuts["quit"] == "Ctrl+Q"
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.views.currentIndex() == VIEW_WORKLIST
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.views.currentIndex() == VIEW_PATIENTS


def test_open_from_worklist_goes_to_the_flag(qtbot, window):
    mrn = window.patients.model.patient(0).mrn
    window.show_view(VIEW_WORKLIST)
    window.open_patient(mrn)
    flag = window.dashboard.dashboard.flags[-1].flag
    window.show_view(VIEW_WORKLIST)
    window.worklist.openPatient.emit(mrn, f"flag:{flag.flag_id}")  # what a double-click in the worklist sends
    assert window.views.currentIndex() == VIEW_PATIENTS
    assert window.dashboard.mrn == mrn
    assert flag.flag_id in window.dashboard.flags.cards  # the oldest flag: built on demand
    other = window.patients.model.patient(1).mrn
    window.show_view(VIEW_WORKLIST)
    window.worklist.openPatient.emit(other, "followup:echo")
    assert window.dashboard.mrn == other and window.views.currentIndex() == VIEW_PATIENTS


def test_layout_is_remembered(qtbot, clinic, physician):
    first = MainWindow(clinic, physician, as_of=TODAY, background=False)
    qtbot.addWidget(first)
    first.resize(1234, 777)
    first.show()
    first.splitter.setSizes([500, 720])
    ratio = first.splitter.sizes()[0] / sum(first.splitter.sizes())
    saved_geometry = first.saveGeometry()
    first.close()
    from poems_monitor.ui.ui_settings import settings

    assert settings().value("main/geometry") == saved_geometry  # (the offscreen screen is too small to
    second = MainWindow(clinic, physician, as_of=TODAY, background=False)  # restore 1234 px wide)
    qtbot.addWidget(second)
    second.resize(1234, 777)
    second.show()
    assert abs(second.splitter.sizes()[0] / sum(second.splitter.sizes()) - ratio) < 0.03


def test_screenshot_command_renders_the_dashboard(tmp_path, clinic, qapp):
    from poems_monitor.cli import main

    out = tmp_path / "dash.png"
    code = main(["gui", "--db", str(clinic.path), "--user", "dr-berg", "--screenshot", str(out), "--size", "1200x800",
                 "--mrn", "Z-777"])
    assert code == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)


def test_lab_results_imported_from_the_file_menu_are_stored(qtbot, window):
    window.open_patient("Z-777")
    dialog = window.record.import_lab_results()
    qtbot.addWidget(dialog)
    dialog.set_text("mrn,date,code,value,unit\nZ-777,2024-05-05,vegf_plasma,<31,pg/mL\nZ-777,2025-01-10,platelets,520,10*9/L\n")
    assert dialog.import_button.isEnabled()
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    from poems_monitor.services.timeline_io import export_timeline

    visits = {v["date"]: v for v in export_timeline(window.db, "Z-777")["patients"][0]["visits"]}
    vegf = next(o for o in visits["2024-05-05"]["observations"] if o["code"] == "vegf_plasma")
    assert (vegf["value"], vegf["unit"], vegf["qualifier"], vegf["specimen"]) == (31, "pg/mL", "<", "plasma")
    assert visits["2025-01-10"]["observations"][0]["value"] == 520


def test_a_nurse_may_import_lab_results_but_the_menu_follows_the_role(qtbot, clinic):
    from poems_monitor.services.access import Actor, Role

    win = MainWindow(clinic, Actor("viewer", Role.NURSE), as_of=TODAY)
    qtbot.addWidget(win)
    assert win.actions_by_name["import_labs"].isEnabled()


def test_the_patient_summary_is_saved_from_the_patient_menu(qtbot, window, tmp_path):
    import subprocess

    window.open_patient("Z-777")
    written = window.commands.save_summary_pdf(tmp_path / "summary.pdf")
    assert written == tmp_path / "summary.pdf"
    text = subprocess.run(["pdftotext", str(written), "-"], capture_output=True, text=True, check=True).stdout
    assert "Chloé Zimmermann" in text and "Z-777" in text
