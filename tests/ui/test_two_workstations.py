"""Two workstations on one clinic record.

On a clinic server (the session's throwaway TLS PostgreSQL server, a fresh database per test):
two main windows, each with its own `Database` handle as two workstations have, in one process.
A visit saved through one window's form appears in the other's open dashboard, patient list and
worklist without a click, within a second; a rolled-back write reaches nobody; the status bar says
"clinic server unreachable, retrying" while the server restarts, and the live updates resume.

An entry form someone else changed meanwhile (two handles on one SQLite file: the form's hook is
the same whatever brought the news): without unsaved edits it reloads; with them it names who
changed what and offers to reload keeping what was typed, or to keep editing, and then the save is
refused with the version check's sentence.
"""

from __future__ import annotations

import os
from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox

from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.changes import Changes
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.visits import (
    EnteredValue,
    VisitInput,
    correct_visit,
    open_visit,
    record_visit,
)
from poems_monitor.ui.entry import ReasonDialog
from poems_monitor.ui.main_window import VIEW_PATIENTS, VIEW_WORKLIST, MainWindow
from tests.conftest import TODAY
from tests.ui.test_change_bus import last_visit_shown, worklist_flags  # what a screen shows
from tests.integration.conftest import pg_server, pg_url  # noqa: F401 (the clinic server fixtures)
from tests.unit.timeline_builders import patient, visit

ANN, BEN = "H-000001", "H-000002"
BOB = Actor("nurse-bob", Role.NURSE)  # the other workstation's nurse


# --------------------------------------------------------------------------------------------
# two windows on a clinic server
# --------------------------------------------------------------------------------------------
@pytest.fixture
def server_clinic(pg_url, admin):  # noqa: F811 (the imported fixture)
    db = open_database(pg_url)
    import_patients(db, [
        patient(visit("2025-06-01", platelets=300, hemoglobin=13.0), mrn=ANN, name="Ann Able"),
        patient(visit("2025-07-01", platelets=310, hemoglobin=13.5), mrn=BEN, name="Ben Baker", sex="male"),
    ], admin, reason="test")
    db.dispose()
    return pg_url


def _window(qtbot, url: str, actor: Actor, title: str) -> MainWindow:
    db = open_database(url)  # a workstation's own handle (its own connections, its own origin)
    win = MainWindow(db, actor, as_of=TODAY, remember_layout=False, title=title)
    win.skip_close_checks = True  # closed at teardown whatever a test left typed (pytest-qt closes it first)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.patients.model.status(BEN) is not None, timeout=15000)
    assert win.live_updates is not None and win.live_updates.running
    return win


@pytest.fixture
def two_windows(qtbot, server_clinic, nurse, physician):
    front = _window(qtbot, server_clinic, nurse, "Front desk — nurse-ann")
    office = _window(qtbot, server_clinic, physician, "Clinic room — dr-berg")
    yield front, office
    for win in (front, office):
        win.close()
        assert not win.live_updates.running
        win.db.dispose()


def thrombocytosis_today(win: MainWindow) -> bool:
    shown = win.dashboard.dashboard
    return shown is not None and any(e.flag.kind.value == "thrombocytosis" and e.flag.date == TODAY
                                     for e in shown.unacknowledged)


def save_visit_by_keyboard(qtbot, win: MainWindow, mrn: str, platelets: str) -> None:
    win.activateWindow()  # the nurse works at this workstation's window
    qtbot.waitUntil(win.isActiveWindow, timeout=2000)
    win.open_patient(mrn)
    win.new_visit()
    editor = win.entry.rows["platelets"].editor
    editor.setFocus()
    qtbot.keyClicks(editor, platelets)
    with qtbot.waitSignal(win.entry.saved, timeout=5000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def test_a_save_on_one_workstation_appears_on_the_other_without_a_click(qtbot, two_windows, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    front, office = two_windows
    office.show_view(VIEW_WORKLIST)
    qtbot.waitUntil(lambda: office.worklist.model.rowCount() > 0, timeout=15000)
    office.show_view(VIEW_PATIENTS)
    office.open_patient(ANN)
    assert not thrombocytosis_today(office) and "thrombocytosis" not in worklist_flags(office, ANN)
    assert last_visit_shown(office, ANN) == "2025-06-01"
    heard: list = []
    office.live_updates.received.connect(heard.append)
    own_echo: list = []
    front.live_updates.received.connect(own_echo.append)

    save_visit_by_keyboard(qtbot, front, ANN, "900")  # thrombocytosis, at the front desk

    # the clinic room: its open dashboard, its patient list and its worklist, nobody clicking
    qtbot.waitUntil(lambda: thrombocytosis_today(office) and last_visit_shown(office, ANN) == TODAY.isoformat()
                    and "thrombocytosis" in worklist_flags(office, ANN), timeout=1000)
    assert office.dashboard.mrn == ANN
    assert [a.changes for a in heard] == [Changes.of_patient(ANN, visit_reviews=True)]
    assert heard[0].by == front.actor.name
    assert own_echo == []  # the front desk published its own save already: its echo is ignored

    if os.environ.get("POEMS_LIVE_SCREENSHOT"):  # both screens side by side, for a person to look at
        left, right = front.grab(), office.grab()
        both = QPixmap(left.width() + right.width() + 8, max(left.height(), right.height()))
        both.fill(Qt.GlobalColor.darkGray)
        painter = QPainter(both)
        painter.drawPixmap(0, 0, left)
        painter.drawPixmap(left.width() + 8, 0, right)
        painter.end()
        assert both.save(os.environ["POEMS_LIVE_SCREENSHOT"])


def test_a_rolled_back_write_reaches_no_other_workstation(qtbot, two_windows):
    front, office = two_windows
    heard: list = []
    office.live_updates.received.connect(heard.append)
    saved = record_visit(front.db, front.actor, BEN, VisitInput(date(2026, 11, 1), values=(
        EnteredValue("platelets", 330, "10*9/L"),)), today=TODAY)
    qtbot.waitUntil(lambda: len(heard) == 1, timeout=1000)
    from poems_monitor.services.visits import ConcurrentEdit

    correct_visit(front.db, front.actor, saved.visit_id, saved.version, VisitInput(date(2026, 11, 1), values=(
        EnteredValue("platelets", 331, "10*9/L"),)), "lab amended", today=TODAY)
    qtbot.waitUntil(lambda: len(heard) == 2, timeout=1000)
    with pytest.raises(ConcurrentEdit):  # a stale version: refused, its transaction rolled back
        correct_visit(front.db, front.actor, saved.visit_id, saved.version, VisitInput(date(2026, 11, 1), values=(
            EnteredValue("platelets", 332, "10*9/L"),)), "stale", today=TODAY)
    qtbot.wait(1000)
    assert len(heard) == 2


def test_the_status_bar_says_unreachable_while_the_server_restarts_and_updates_resume(qtbot, pg_server,  # noqa: F811
                                                                                       two_windows):
    front, office = two_windows
    notice = office.live_updates.notice
    assert not notice.isVisible()
    assert pg_server.pg_ctl("-m", "fast", "-w", "stop").returncode == 0
    try:
        qtbot.waitUntil(lambda: notice.isVisible(), timeout=5000)
        assert notice.text() == "clinic server unreachable, retrying"
        assert office.live_updates.unreachable
        if os.environ.get("POEMS_LIVE_SCREENSHOT"):
            assert office.grab().save(os.environ["POEMS_LIVE_SCREENSHOT"].replace(".png", "-unreachable.png"))
    finally:
        pg_server.start()
    qtbot.waitUntil(lambda: not notice.isVisible(), timeout=15000)  # reconnected by itself (backoff at most 5 s)
    assert not office.live_updates.unreachable
    heard: list = []
    office.live_updates.received.connect(heard.append)
    record_visit(front.db, front.actor, BEN, VisitInput(date(2026, 11, 2), values=(
        EnteredValue("platelets", 330, "10*9/L"),)), today=TODAY)
    qtbot.waitUntil(lambda: last_visit_shown(office, BEN) == "2026-11-02", timeout=1000)
    assert [a.changes.patients for a in heard] == [{BEN}]


def test_a_save_while_the_server_is_down_is_refused_with_a_sentence_and_keeps_what_was_typed(
        qtbot, pg_server, two_windows, monkeypatch):  # noqa: F811
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    _front, office = two_windows
    office.open_patient(BEN)
    office.new_visit()
    editor = office.entry.rows["platelets"].editor
    editor.setFocus()
    qtbot.keyClicks(editor, "512")
    assert pg_server.pg_ctl("-m", "fast", "-w", "stop").returncode == 0
    try:
        qtbot.keyClick(editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # no traceback, no hang
        banner = office.entry.banner_message()
        assert "clinic server unreachable at 127.0.0.1:" in banner and "nothing was changed" in banner
        assert "What you typed is kept here" in banner
        assert editor.text() == "512" and office.entry.has_unsaved_changes()
    finally:
        pg_server.start()
    with qtbot.waitSignal(office.entry.saved, timeout=5000):  # the server is back: the same form saves
        qtbot.keyClick(editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert office.entry.rows["platelets"].editor.text() == "512" and not office.entry.has_unsaved_changes()


def test_a_form_typed_while_the_server_goes_down_keeps_every_value_and_saves_them_all_when_it_is_back(
        qtbot, pg_server, two_windows, monkeypatch):  # noqa: F811
    """End to end, the real server stopped in the middle of a form: the values typed before and
    after the stop, and the note, are all still there after the refused save (with the sentence
    in the banner and the status bar's notice), and the same form stores every one of them once
    the server is back; the other workstation sees that visit."""
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    front, office = two_windows
    office.activateWindow()
    office.open_patient(BEN)
    office.new_visit()
    typed = {"platelets": "512", "hemoglobin": "12.5"}
    for code, text in typed.items():
        editor = office.entry.rows[code].editor
        editor.setFocus()
        qtbot.keyClicks(editor, text)
    assert pg_server.pg_ctl("-m", "fast", "-w", "stop").returncode == 0
    try:
        qtbot.waitUntil(office.live_updates.notice.isVisible, timeout=5000)
        assert office.live_updates.notice.text() == "clinic server unreachable, retrying"
        more = {"weight": "71", "neutrophils": "4.2"}  # the nurse goes on typing: nothing hangs
        for code, text in more.items():
            editor = office.entry.rows[code].editor
            editor.setFocus()
            qtbot.keyClicks(editor, text)
        typed.update(more)
        office.entry.note.setFocus()
        qtbot.keyClicks(office.entry.note, "typed while the server was down")
        qtbot.keyClick(office.entry.note, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        banner = office.entry.banner_message()
        assert "clinic server unreachable at 127.0.0.1:" in banner and "nothing was changed" in banner
        assert "What you typed is kept here: save again when the server is back." in banner
        assert {code: office.entry.rows[code].editor.text() for code in typed} == typed
        assert office.entry.note.toPlainText() == "typed while the server was down"
        assert office.entry.has_unsaved_changes()
    finally:
        pg_server.start()
    qtbot.waitUntil(lambda: not office.live_updates.notice.isVisible(), timeout=15000)
    with qtbot.waitSignal(office.entry.saved, timeout=5000) as saved:  # the same form, nothing retyped
        qtbot.keyClick(office.entry.note, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not office.entry.has_unsaved_changes()
    stored = open_visit(front.db, saved.args[0])
    assert {v.code: v.value for v in stored.values} == {code: float(text) for code, text in typed.items()}
    assert stored.note == "typed while the server was down" and stored.created_by == office.actor.name
    qtbot.waitUntil(lambda: last_visit_shown(front, BEN) == stored.date.isoformat(), timeout=5000)


def test_an_open_form_hears_another_workstations_correction_of_its_visit(qtbot, two_windows):
    front, office = two_windows
    saved = record_visit(front.db, front.actor, BEN, VisitInput(date(2026, 11, 4), values=(
        EnteredValue("platelets", 330, "10*9/L"),)), today=TODAY)
    office.open_patient(BEN)
    office.edit_visit(saved.visit_id)
    editor = office.entry.rows["weight"].editor
    editor.setFocus()
    qtbot.keyClicks(editor, "71")
    assert office.entry.has_unsaved_changes()
    correct_visit(front.db, front.actor, saved.visit_id, saved.version, VisitInput(date(2026, 11, 4), values=(
        EnteredValue("platelets", 345, "10*9/L"),)), "lab amended", today=TODAY)
    qtbot.waitUntil(lambda: "Changed meanwhile on another workstation" in office.entry.banner_message(), timeout=1000)
    assert f"{front.actor.name} corrected Platelets" in office.entry.banner_message()
    assert editor.text() == "71"


def test_a_locked_window_stops_listening_and_catches_up_when_unlocked(qtbot, two_windows):
    front, office = two_windows
    office.lock()
    assert not office.live_updates.running
    record_visit(front.db, front.actor, BEN, VisitInput(date(2026, 11, 3), values=(
        EnteredValue("platelets", 330, "10*9/L"),)), today=TODAY)
    office.lock_controller.unlock()
    assert office.live_updates.running
    qtbot.waitUntil(lambda: last_visit_shown(office, BEN) == "2026-11-03", timeout=1000)


# --------------------------------------------------------------------------------------------
# an entry form changed meanwhile elsewhere (two handles on one SQLite file)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def saved_visit(db, nurse):
    create_patient(db, nurse, PatientInput(ANN, "Ann Able", "female", date(1971, 4, 2), date(2019, 3, 14)),
                   today=TODAY)
    return record_visit(db, nurse, ANN, VisitInput(TODAY, values=(
        EnteredValue("platelets", 300, "10*9/L"), EnteredValue("weight", 60, "kg"))), today=TODAY)


@pytest.fixture
def elsewhere(db_path):
    other = open_database(db_path)  # the other workstation
    yield other
    other.dispose()


@pytest.fixture
def form(open_entry_form, db, nurse, saved_visit):
    widget = open_entry_form(db, nurse)
    widget.load_visit(saved_visit.visit_id)
    return widget


def bob_corrects_platelets(elsewhere, saved_visit, value: int):
    return correct_visit(elsewhere, BOB, saved_visit.visit_id, saved_visit.version, VisitInput(TODAY, values=(
        EnteredValue("platelets", value, "10*9/L"), EnteredValue("weight", 60, "kg"))), "lab amended", today=TODAY)


def type_weight(qtbot, form, text: str) -> None:
    editor = form.rows["weight"].editor
    editor.setFocus()
    editor.selectAll()
    qtbot.keyClicks(editor, text)


def test_an_untouched_form_reloads_what_another_workstation_saved(form, elsewhere, saved_visit):
    corrected = bob_corrects_platelets(elsewhere, saved_visit, 320)
    form.changed_elsewhere(corrected.changes)
    assert form.rows["platelets"].editor.text() == "320"
    assert not form.has_unsaved_changes()
    shown = form.banner_message()
    assert "nurse-bob corrected Platelets" in shown and "320" in shown


def test_typed_values_are_kept_when_the_form_reloads_another_workstations_save(qtbot, form, db, elsewhere,
                                                                               saved_visit, monkeypatch):
    type_weight(qtbot, form, "65")
    assert form.has_unsaved_changes()
    corrected = bob_corrects_platelets(elsewhere, saved_visit, 320)
    form.changed_elsewhere(corrected.changes)
    shown = form.banner_message()
    assert "Changed meanwhile on another workstation" in shown
    assert "nurse-bob corrected Platelets" in shown and "→ 320" in shown
    assert form.rows["platelets"].editor.text() == "300"  # nothing replaced under the nurse's eyes yet
    if os.environ.get("POEMS_LIVE_SCREENSHOT"):
        assert form.grab().save(os.environ["POEMS_LIVE_SCREENSHOT"].replace(".png", "-form.png"))
    assert form.rows["weight"].editor.text() == "65"

    form.banner_text.linkActivated.emit("elsewhere:reload")  # "Reload, keeping what you typed"
    assert form.rows["platelets"].editor.text() == "320"  # the other workstation's value
    assert form.rows["weight"].editor.text() == "65"  # and what she typed, still unsaved
    assert form.has_unsaved_changes()
    monkeypatch.setattr(ReasonDialog, "get_reason", staticmethod(lambda parent, changes: "weighed again"))
    assert form.save()
    stored = {v.code: v.value for v in open_visit(db, saved_visit.visit_id).values}
    assert stored["platelets"] == 320 and stored["weight"] == 65


def test_keep_editing_then_the_save_is_refused_with_the_version_sentence(qtbot, form, db, elsewhere, saved_visit,
                                                                         monkeypatch):
    type_weight(qtbot, form, "65")
    corrected = bob_corrects_platelets(elsewhere, saved_visit, 320)
    form.changed_elsewhere(corrected.changes)
    form.banner_text.linkActivated.emit("elsewhere:keep")
    assert form.banner_message() == "" and form.rows["weight"].editor.text() == "65"
    warnings: list[str] = []
    monkeypatch.setattr(ReasonDialog, "get_reason", staticmethod(lambda parent, changes: "weighed again"))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: warnings.append(text)))
    assert not form.save()
    assert len(warnings) == 1 and "nurse-bob" in warnings[0]  # ConcurrentEdit's sentence names who saved
    assert form.rows["weight"].editor.text() == "65"  # nothing typed is lost
    stored = {v.code: v.value for v in open_visit(db, saved_visit.visit_id).values}
    assert stored == {"platelets": 320, "weight": 60}


def test_a_change_to_another_patient_or_another_visit_leaves_the_form_alone(qtbot, form, elsewhere, saved_visit):
    type_weight(qtbot, form, "65")
    create_patient(elsewhere, BOB, PatientInput(BEN, "Ben Baker", "male", date(1960, 1, 1)), today=TODAY)
    form.changed_elsewhere(Changes.of_patient(BEN, patient_list=True))
    record_visit(elsewhere, BOB, ANN, VisitInput(date(2026, 1, 5), values=(
        EnteredValue("platelets", 280, "10*9/L"),)), today=TODAY)  # Ann, but another visit
    form.changed_elsewhere(Changes.of_patient(ANN, visit_reviews=True))
    assert form.banner_message() == ""
    assert form.rows["weight"].editor.text() == "65" and form.rows["platelets"].editor.text() == "300"


def test_a_new_visit_typed_while_another_workstation_saved_that_date_becomes_a_correction_of_it(qtbot, form, db,
                                                                                                   elsewhere):
    create_patient(db, BOB, PatientInput(BEN, "Ben Baker", "male", date(1960, 1, 1)), today=TODAY)
    form.load_new(BEN)
    assert form.visit_id is None
    type_weight(qtbot, form, "80")
    saved = record_visit(elsewhere, BOB, BEN, VisitInput(TODAY, values=(EnteredValue("platelets", 280, "10*9/L"),)),
                         today=TODAY)
    form.changed_elsewhere(saved.changes)
    assert "nurse-bob entered Platelets, visit 2026-11-21: 280" in form.banner_message()
    form.banner_text.linkActivated.emit("elsewhere:reload")
    assert form.visit_id == saved.visit_id  # the visit saved meanwhile, not a duplicate that would be refused
    assert form.rows["platelets"].editor.text() == "280" and form.rows["weight"].editor.text() == "80"
    assert form.has_unsaved_changes()
