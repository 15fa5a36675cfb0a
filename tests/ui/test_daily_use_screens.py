"""Issue 10 (daily use), smaller defects and friction on the real widgets: flag titles wrap
between words, counts say "1 patient", chart labels keep clear of ringed values, the PDF save
dialog opens in the documents folder and remembers the last one."""

from __future__ import annotations

import pytest

from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, patient, visit


@pytest.fixture
def demo(db, admin):
    import_patients(db, generate_patients(6, 3, TODAY), admin, reason="test")
    return db


# --- a flag title is never broken inside a word ----------------------------------------------

def test_flag_titles_wrap_between_words_at_every_panel_width(qtbot, demo, physician):
    from poems_monitor.services.dashboard import build_dashboard
    from poems_monitor.ui.dashboard.flags_panel import FlagsPanel, kind_text

    panel = FlagsPanel(True, "", lambda *_: None)
    qtbot.addWidget(panel)
    panel.show()
    entries = [e for p in generate_patients(6, 3, TODAY) for e in build_dashboard(demo, p.mrn, TODAY).flags]
    assert entries
    for width in range(240, 470, 6):
        for entry in entries:
            g = panel.delegate.geometry(entry, width)
            title = kind_text(entry)
            for n in range(g.kind.lineCount()):
                start = g.kind.lineAt(n).textStart()
                # a line starts after a space, or after the dash of a compound regimen name
                # ("Lenalidomide–/dexamethasone"): never inside a word
                assert start == 0 or title[start - 1].isspace() or title[start - 1] in "–-/", (width, title, title[start:])


# --- real plurals -----------------------------------------------------------------------------

def test_one_patient_is_one_patient(qtbot, db, admin):
    from poems_monitor.services.patients import list_patients
    from poems_monitor.ui.patients.panel import PatientListPanel

    import_patients(db, [patient(visit("2024-05-05", platelets=250, features=BASELINE_FEATURES), mrn="H-000001")],
                    admin, reason="test")
    panel = PatientListPanel()
    qtbot.addWidget(panel)
    panel.set_patients(list_patients(db))
    assert panel.count.text() == "1 patient"


def test_worklist_of_one_patient_says_patient(qtbot, db, admin, physician):
    from poems_monitor.ui.worklist.view import WorklistView

    import_patients(db, [patient(visit("2020-05-05", platelets=250, features=BASELINE_FEATURES), mrn="H-000001")],
                    admin, reason="test")
    view = WorklistView(db, physician, as_of=TODAY)
    qtbot.addWidget(view)
    view.show()
    view.refresh()
    qtbot.waitUntil(lambda: "showing" in view.summary.text(), timeout=20000)
    assert "1 patient ·" in view.summary.text() and "1 patients" not in view.summary.text()


# --- chart labels keep clear of ringed values ------------------------------------------------

def test_threshold_and_therapy_labels_never_cover_a_ringed_value(qtbot, db, admin, physician):
    from poems_monitor.ui.dashboard.view import DashboardView
    from tests.unit.timeline_builders import treatment

    days = ["2022-01-10", "2022-04-10", "2022-07-10", "2022-10-10", "2023-01-10", "2023-04-10"]
    platelets = [300, 310, 320, 330, 470, 490]  # the last two ringed, at the right end, by "platelets 450"
    hemoglobin = [16.8, 13.0, 13.1, 13.2, 13.0, 13.1]  # the first ringed, at the left end, by "Hb 16 (F)"
    visits = [visit(day, platelets=p, hemoglobin=h, features=BASELINE_FEATURES if i == 0 else None)
              for i, (day, p, h) in enumerate(zip(days, platelets, hemoglobin))]
    import_patients(db, [patient(*visits, treatments=[treatment("lenalidomide_dexamethasone", "2022-01-12")],
                                 mrn="H-000900")], admin, reason="test")
    view = DashboardView(db, physician, as_of=TODAY)
    qtbot.addWidget(view)
    for size in ((1366 - 440, 768 - 90), (1920 - 440, 1080 - 90)):
        view.resize(*size)
        view.show()
        view.open_patient("H-000900")
        chart = view.charts.charts["blood"]
        chart.grab()  # paints the chart as the screen would
        overlay = chart._overlay
        assert len(overlay.ring_boxes) >= 2
        texts = [text for _box, text in overlay.painted_labels]
        assert "platelets 450" in texts and any(t.startswith("Hb 16") for t in texts), texts
        for box, text in overlay.painted_labels:
            for ring in overlay.ring_boxes:
                assert not box.intersects(ring), (size, text, box, ring)


# --- the PDF save dialog opens in the documents folder, then where the last summary went ---------

def test_summary_save_dialog_opens_in_documents_then_the_last_folder(qtbot, demo, physician, tmp_path, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog

    from poems_monitor.ui.report.actions import save_summary_pdf

    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    started_in = tmp_path / "somewhere-else"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    chosen = tmp_path / "reports"
    chosen.mkdir()
    seen: list[str] = []

    def answer(folder) -> None:  # noqa: ANN001
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):  # not shown yet (a busy machine): look again soon
            QTimer.singleShot(50, lambda: answer(folder))
            return
        seen.append(dialog.directory().absolutePath())
        dialog.setDirectory(str(folder))  # the physician picks a folder and keeps the proposed name
        dialog.accept()

    mrn = generate_patients(1, 3, TODAY)[0].mrn
    QTimer.singleShot(50, lambda: answer(chosen))
    first = save_summary_pdf(None, demo, mrn, TODAY, generated_by="dr-berg")
    assert first == chosen / f"summary-{mrn}.pdf" and first.exists()
    first.unlink()  # (else the dialog asks whether to replace it)
    QTimer.singleShot(50, lambda: answer(chosen))
    assert save_summary_pdf(None, demo, mrn, TODAY, generated_by="dr-berg") == first
    assert seen == [str(home / "Documents"), str(chosen)]


# --- Help > Keyboard shortcuts lists what the window really has ---------------------------------

def test_keyboard_shortcuts_lists_every_action_and_shortcut_of_the_window(qtbot, demo, physician):
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QAction, QKeySequence, QShortcut
    from PySide6.QtWidgets import QApplication

    from poems_monitor.ui.main_window import MainWindow
    from poems_monitor.ui.shortcuts_help import ShortcutsDialog

    window = MainWindow(demo, physician, as_of=TODAY)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    window.show_view(1)  # the worklist, so its own shortcuts exist
    late = QAction("Jump somewhere", window)  # added after the menus were built: listed all the same
    late.setShortcut(QKeySequence("Ctrl+Alt+J"))
    window.addAction(late)
    expected = set()
    for action in window.findChildren(QAction):
        expected |= {s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty()}
    for shortcut in window.findChildren(QShortcut):
        expected |= {s.toString(QKeySequence.SequenceFormat.NativeText) for s in shortcut.keys() if not s.isEmpty()}
    assert {"Ctrl+Shift+N", "Ctrl+Alt+J", "Return"} <= expected

    shown: dict = {}

    def read_dialog(tries: int = 200) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ShortcutsDialog):
            if tries:
                QTimer.singleShot(25, lambda: read_dialog(tries - 1))
            return
        table = dialog.table
        for r in range(table.rowCount()):
            shown.setdefault(table.item(r, 0).text(), []).append(table.item(r, 1).text())
        dialog.reject()

    QTimer.singleShot(50, read_dialog)
    window.actions_by_name["shortcuts"].trigger()
    assert expected <= set(shown), expected - set(shown)
    assert "Jump somewhere" in shown["Ctrl+Alt+J"] and "New patient" in shown["Ctrl+Shift+N"]
    assert any("Open the patient" in d for d in shown["Return"])
    assert "Ctrl+S" in shown  # the visit form's save, although the form was not opened before


# --- screens at 1366x768: the dashboard header's fact names are not clipped ---------------------

@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_dashboard_header_names_fit_at_clinic_screen_sizes(qtbot, demo, physician, size):
    from poems_monitor.ui.main_window import MainWindow

    window = MainWindow(demo, physician, as_of=TODAY)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.open_patient(generate_patients(6, 3, TODAY)[4].mrn)
    qtbot.wait(20)
    header = window.dashboard.header
    for field in (header.diagnosis, header.criteria, header.therapy, header.prophylaxis, header.last_visit,
                  header.flags):
        name = field.name
        shown = min(name.width(), field.width(), header.contentsRect().right() - field.geometry().left())
        assert shown >= name.fontMetrics().horizontalAdvance(name.text()), (size, name.text(), shown)
