"""The menu commands on their own, on a small real window with a dashboard and a real database:
without a patient they say "Choose a patient first."; the history window shows the patient's
changes and closes with the main window; the summary is written as a real PDF; lab results
imported through the dialog tell the window; the remembered layout comes back."""

from __future__ import annotations

import subprocess
from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QSplitter, QWidget

from poems_monitor.services.access import Actor, Role
from poems_monitor.services.changes import Changes
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.settings_catalog import Setting
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from poems_monitor.ui.dashboard.view import DashboardView
from poems_monitor.ui.shell import layout_memory
from poems_monitor.ui.shell.commands import WindowCommands
from poems_monitor.ui.shell.record_commands import RecordCommands
from tests.conftest import TODAY

TEST_SPLITTER: Setting[bytes | None] = Setting("test/splitter", bytes, None, "a test window's splitter")

ANN, BERG = Actor("ann", Role.NURSE), Actor("berg", Role.PHYSICIAN)


@pytest.fixture
def clinic(db):
    create_patient(db, ANN, PatientInput("C-1", "Command Person", "female", date(1958, 6, 7)), today=TODAY)
    record_visit(db, ANN, "C-1", VisitInput(date(2026, 10, 5), values=(EnteredValue("platelets", 512, "10*9/L"),)),
                 today=TODAY)
    return db


@pytest.fixture
def window(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.resize(900, 600)
    return window


def test_without_a_patient_every_command_asks_for_one(qtbot, window, clinic, told):
    dashboard = DashboardView(clinic, BERG, as_of=TODAY)
    commands = WindowCommands(window, clinic, BERG, dashboard, current_mrn=lambda: None, as_of=TODAY)
    assert commands.show_history() is None and told == ["Choose a patient first."]
    assert commands.save_summary_pdf() is None and window.statusBar().currentMessage() == "Choose a patient first."
    changed: list[str] = []
    record = RecordCommands(window, clinic, ANN, current_mrn=lambda: None, as_of=TODAY, patient_added=changed.append,
                            patient_changed=changed.append, publish=lambda changes: changed.append(changes))
    record.new_treatment()
    assert told[-1] == "Choose a patient first." and changed == []


def test_history_window_shows_the_patients_changes_and_closes_with_the_window(qtbot, window, clinic):
    dashboard = DashboardView(clinic, BERG, as_of=TODAY)
    dashboard.open_patient("C-1")
    commands = WindowCommands(window, clinic, BERG, dashboard, current_mrn=lambda: "C-1", as_of=TODAY)
    history = commands.show_history()
    assert history is not None and history.isVisible() and commands.history_windows == [history]
    assert history.windowTitle() == "History of changes — Command Person (C-1)"
    proxy = history.view.proxy
    cells = {proxy.index(r, c).data() for r in range(proxy.rowCount()) for c in range(proxy.columnCount())}
    assert {"Platelets, visit 2026-10-05", "512", "ann"} <= cells
    commands.close_windows()
    qtbot.waitUntil(lambda: commands.history_windows == [])


def test_the_summary_is_written_as_a_pdf(qtbot, window, clinic, tmp_path):
    dashboard = DashboardView(clinic, BERG, as_of=TODAY)
    commands = WindowCommands(window, clinic, BERG, dashboard, current_mrn=lambda: "C-1", as_of=TODAY)
    written = commands.save_summary_pdf(tmp_path / "summary.pdf")
    assert written == tmp_path / "summary.pdf"
    text = subprocess.run(["pdftotext", str(written), "-"], capture_output=True, text=True, check=True).stdout
    assert "Command Person" in text and "C-1" in text
    assert "summary.pdf" in window.statusBar().currentMessage()


def test_accounts_are_only_for_an_administrator_on_a_writable_database(qtbot, window, clinic):
    dashboard = DashboardView(clinic, BERG, as_of=TODAY)
    assert WindowCommands(window, clinic, BERG, dashboard, current_mrn=lambda: None).manage_accounts() is None
    boss = Actor("boss", Role.ADMIN)
    assert WindowCommands(window, clinic, boss, dashboard, current_mrn=lambda: None, read_only=True).manage_accounts() is None
    dialog = WindowCommands(window, clinic, boss, dashboard, current_mrn=lambda: None).manage_accounts()
    assert dialog is not None and dialog.isVisible()
    dialog.close()


def test_imported_lab_results_tell_the_window(qtbot, window, clinic):
    changed: list[str] = []
    record = RecordCommands(window, clinic, ANN, current_mrn=lambda: "C-1", as_of=TODAY, patient_added=changed.append,
                            patient_changed=changed.append, publish=lambda changes: changed.append(changes))
    dialog = record.import_lab_results()
    qtbot.addWidget(dialog)
    dialog.set_text("mrn,date,code,value,unit\nC-1,2026-11-02,platelets,498,10*9/L\n")
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    # published for the change bus (the screens reload): the patient, and a new visit to sign off
    assert changed == [Changes.of_patient("C-1", visit_reviews=True)]


def test_the_layout_is_remembered_and_the_first_start_fills_most_of_the_screen(qtbot):
    def small_window() -> tuple[QMainWindow, QSplitter]:
        window = QMainWindow()
        qtbot.addWidget(window)
        splitter = QSplitter()
        splitter.addWidget(QWidget())
        splitter.addWidget(QWidget())
        window.setCentralWidget(splitter)
        return window, splitter

    first, splitter = small_window()
    layout_memory.restore_layout(first, {TEST_SPLITTER: splitter})  # nothing remembered yet
    area = first.screen().availableGeometry()
    assert (first.width(), first.height()) == (int(area.width() * 0.9), int(area.height() * 0.9))
    first.resize(640, 480)
    first.show()
    splitter.setSizes([150, 450])
    sizes = splitter.sizes()
    layout_memory.save_layout(first, {TEST_SPLITTER: splitter})
    second, splitter2 = small_window()
    layout_memory.restore_layout(second, {TEST_SPLITTER: splitter2})
    second.show()
    assert (second.width(), second.height()) == (640, 480) and splitter2.sizes() == sizes
