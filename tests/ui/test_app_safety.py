"""The desktop app's safety, driven as a person would: signing in at start (and creating the first
administrator), the idle lock and unlocking, switching user, the backup on close and the overdue
warning, Back up / Restore refused for a nurse and done for an administrator, a damaged database
offering its newest good backup, a patient's history of changes, and the physician's To review
list."""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from poems_monitor.services.access import Actor, PermissionDenied, Role
from poems_monitor.services.users import add_user
from poems_monitor.ui.main_window import VIEW_REVIEW, MainWindow
from tests.conftest import TODAY

PASSWORDS = {"boss": "boss-password", "ann": "nurse-password", "berg": "doctor-password", "cole": "nurse2-password"}


@pytest.fixture
def accounts(db):
    setup = Actor("set-up", Role.ADMIN)
    add_user(db, setup, "boss", Role.ADMIN, PASSWORDS["boss"])
    add_user(db, setup, "ann", Role.NURSE, PASSWORDS["ann"])
    add_user(db, setup, "berg", Role.PHYSICIAN, PASSWORDS["berg"])
    add_user(db, setup, "cole", Role.NURSE, PASSWORDS["cole"])
    return {"boss": Actor("boss", Role.ADMIN), "ann": Actor("ann", Role.NURSE), "berg": Actor("berg", Role.PHYSICIAN),
            "cole": Actor("cole", Role.NURSE)}


def _window(qtbot, db, actor, **kwargs) -> MainWindow:  # noqa: ANN001
    kwargs.setdefault("background", False)
    win = MainWindow(db, actor, as_of=TODAY, remember_layout=False, **kwargs)
    qtbot.addWidget(win)
    win.resize(1300, 850)
    with qtbot.waitSignal(win.dashboard.prepared, timeout=15000):  # charts are built once the window shows
        win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)  # (shortcuts go to the active window)
    return win


def _settle(qtbot) -> None:  # noqa: ANN001
    """Let the charts' deferred drawing finish (a busy event loop receives no input either)."""
    quiet = 0
    deadline = time.monotonic() + 10
    while quiet < 3 and time.monotonic() < deadline:
        started = time.monotonic()
        qtbot.wait(40)
        quiet = quiet + 1 if time.monotonic() - started < 0.08 else 0


def _patient_with_visit(db, nurse, mrn="S-1"):  # noqa: ANN001, ANN202
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    pid = create_patient(db, nurse, PatientInput(mrn, "Safety Person", "female", date(1961, 3, 4)), today=TODAY)
    saved = record_visit(db, nurse, mrn, VisitInput(date(2026, 10, 5), values=(EnteredValue("platelets", 512, "10*9/L"),)),
                         today=TODAY)
    return pid, saved


# --- signing in at start -------------------------------------------------------------------------

def _answer_login(qtbot, attempts: list[tuple[str, str]], seen: list[str]) -> None:  # noqa: ANN001
    """Type each (name, password) into the login dialog once it is up; note what it said."""
    def step() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not hasattr(dialog, "password_edit"):
            QTimer.singleShot(20, step)
            return
        name, password = attempts.pop(0)
        dialog.name_edit.setText(name)
        dialog.password_edit.setText(password)
        if dialog.repeat_edit is not None:
            dialog.repeat_edit.setText(password)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        seen.append(dialog.message.text())
        if attempts:
            QTimer.singleShot(0, step)

    QTimer.singleShot(0, step)


def test_start_asks_to_sign_in_refuses_a_wrong_password_then_signs_in(qtbot, db, accounts):
    from poems_monitor.app import _open_and_sign_in

    seen: list[str] = []
    _answer_login(qtbot, [("ann", "guess-guess"), ("ann", PASSWORDS["ann"])], seen)
    opened_db, actor, read_only = _open_and_sign_in(argparse.Namespace(db=str(db.path), user=None))
    try:
        assert "wrong" in seen[0]
        assert actor == Actor("ann", Role.NURSE) and not read_only
    finally:
        opened_db.dispose()


def test_first_start_creates_the_administrator_through_the_dialog(qtbot, tmp_path):
    from poems_monitor.app import _open_and_sign_in
    from poems_monitor.services.users import list_users

    seen: list[str] = []
    _answer_login(qtbot, [("chief", "short"), ("chief", "a-long-password")], seen)
    opened_db, actor, _ = _open_and_sign_in(argparse.Namespace(db=str(tmp_path / "new.sqlite"), user=None))
    try:
        assert "at least" in seen[0]  # the password rule, in words
        assert actor == Actor("chief", Role.ADMIN)
        assert [(a.name, a.role) for a in list_users(opened_db)] == [("chief", Role.ADMIN)]
    finally:
        opened_db.dispose()


def test_title_and_status_bar_say_who_is_signed_in(qtbot, db, accounts):
    win = _window(qtbot, db, accounts["ann"], signed_in=True)
    assert "ann (nurse)" in win.windowTitle()
    assert "ann" in win.user_label.text() and "nurse" in win.user_label.text()
    assert win.actions_by_name["sign_out"].isEnabled() and win.actions_by_name["lock"].isEnabled()
    file_menu = win.menuBar().actions()[0].menu()
    assert "Sign out / switch user…" in [a.text().replace("&", "") for a in file_menu.actions()]


# --- idle lock -----------------------------------------------------------------------------------

def test_window_locks_when_idle_and_the_same_user_unlocks_with_the_password(qtbot, db, accounts):
    _patient_with_visit(db, accounts["ann"])
    win = _window(qtbot, db, accounts["ann"], signed_in=True)
    win.open_patient("S-1")
    _settle(qtbot)
    win.set_idle_lock(400)
    # input keeps it open
    started = time.monotonic()
    while time.monotonic() - started < 0.8:
        qtbot.keyClick(win.patients.search, Qt.Key.Key_Shift)
        qtbot.wait(100)
    assert not win.locked
    qtbot.waitUntil(lambda: win.locked, timeout=3000)
    assert win.shell.currentWidget() is win.lock_panel and not win.views.isVisible()  # patient data hidden
    assert not win.toolbar.isVisible() and not win.menuBar().isEnabled()
    assert not win.actions_by_name["new_visit"].isEnabled()
    assert "locked" in win.windowTitle().lower() and "Safety" not in win.windowTitle()
    panel = win.lock_panel
    assert panel.name_edit.text() == "ann"
    panel.password_edit.setText("not-it")
    qtbot.mouseClick(panel.unlock_button, Qt.MouseButton.LeftButton)
    assert win.locked and "wrong" in panel.message.text()
    qtbot.keyClicks(panel.password_edit, PASSWORDS["ann"])
    qtbot.keyClick(panel.password_edit, Qt.Key.Key_Return)
    assert not win.locked and win.views.isVisible() and win.dashboard.mrn == "S-1"
    assert win.actions_by_name["new_visit"].isEnabled() and win.toolbar.isVisible()


def test_lock_covers_open_windows_and_another_user_signs_in_after_confirming(qtbot, db, accounts, monkeypatch):
    from poems_monitor.ui.shell.session import DesktopSession
    from poems_monitor.ui.shell.lock_controller import LockController

    _patient_with_visit(db, accounts["ann"])
    session = DesktopSession(db, accounts["ann"], idle_lock_ms=None, backups=False, as_of=TODAY, background=False,
                             remember_layout=False)
    win = session.window
    qtbot.addWidget(win)
    win.show()
    win.open_patient("S-1")
    history = win.commands.show_history()
    win.new_visit()
    qtbot.keyClicks(win.entry.rows["weight"].editor, "64.5")
    assert win.entry.has_unsaved_changes()
    win.lock(signed_out=True)
    assert any(w is history for w, _, _ in win.lock_controller.covers)
    cover = win.lock_controller.covers[0][1]
    assert cover.isVisible() and cover.geometry() == history.rect()
    assert win.lock_panel.heading.text() == "Signed out" and win.lock_panel.name_edit.text() == ""

    asked: list[list[str]] = []
    answers = iter([False, True])
    monkeypatch.setattr(LockController, "confirm_switch", lambda self, actor: (asked.append(self.unsaved_work()), next(answers))[1])
    win.lock_panel.name_edit.setText("berg")
    win.lock_panel.password_edit.setText(PASSWORDS["berg"])
    qtbot.mouseClick(win.lock_panel.unlock_button, Qt.MouseButton.LeftButton)
    assert session.window is win and win.locked  # cancelled: still locked for ann, nothing discarded
    assert "visit being entered for S-1" in asked[0][0]
    win.lock_panel.password_edit.setText(PASSWORDS["berg"])
    qtbot.mouseClick(win.lock_panel.unlock_button, Qt.MouseButton.LeftButton)
    new = session.window
    qtbot.addWidget(new)
    assert new is not win and new.actor == Actor("berg", Role.PHYSICIAN) and not new.locked
    assert "berg (physician)" in new.windowTitle() and new.isVisible()
    qtbot.waitUntil(lambda: not win.isVisible())


# --- backups -------------------------------------------------------------------------------------

def test_closing_the_window_makes_the_daily_backup(qtbot, db, accounts, told):
    from poems_monitor.services.backup import automatic_backups, backup_set_folder

    _patient_with_visit(db, accounts["ann"])
    win = _window(qtbot, db, accounts["ann"], signed_in=True, backups=True)
    assert win.backup_status.isVisible() and "Never backed up" in win.backup_status.text()
    win.close()  # the backup runs off the GUI thread; the window closes itself once it is written
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=20000)
    made = automatic_backups(backup_set_folder(db.path), db.path.stem)
    assert len(made) == 1 and made[0][1].stat().st_size > 0
    second = _window(qtbot, db, accounts["ann"], signed_in=True, backups=True)
    assert second.backup_status.warning is None and "Backup:" in second.backup_status.text()
    second.close()
    qtbot.waitUntil(lambda: not second.isVisible(), timeout=20000)
    assert len(automatic_backups(backup_set_folder(db.path), db.path.stem)) == 1  # at most daily


def test_status_bar_warns_in_words_and_icon_when_the_last_backup_is_old(qtbot, db, accounts):
    from poems_monitor.services.backup import automatic_backup, load_policy

    result = automatic_backup(db)
    (load_policy().folder / ".last-good-backup.json").unlink()  # only the file's own time tells its age
    folder = result.path.parent
    old = result.path.rename(folder / f"{db.path.stem}-2026-01-02.sqlite")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    win = _window(qtbot, db, accounts["ann"], signed_in=True, backups=True)
    status = win.backup_status
    assert status.isVisible() and status.warning
    assert "Backup overdue" in status.text() and "10 days" in status.text()
    assert not status.icon().isNull()  # an icon, not only a colour
    assert "10 days old" in status.toolTip()


def test_backup_and_restore_are_refused_for_a_nurse_in_the_menu_and_in_the_service(qtbot, db, accounts, told, tmp_path):
    from poems_monitor.services.backup import automatic_backup, restore_from

    good = automatic_backup(db).path
    win = _window(qtbot, db, accounts["ann"], signed_in=True, backups=True)
    assert not win.actions_by_name["restore"].isEnabled() and not win.actions_by_name["backup"].isEnabled()
    before = db.path.read_bytes()
    assert win.maintenance.restore_backup(good, confirm=False) is None
    assert "ann (nurse) may not restore a backup" in told[-1]
    win.maintenance.backup_now(tmp_path / "copy.sqlite")
    assert "may not make backups" in told[-1] and not (tmp_path / "copy.sqlite").exists()
    with pytest.raises(PermissionDenied):
        restore_from(db.path, accounts["ann"], good)
    assert db.path.read_bytes() == before


def test_administrator_backs_up_and_restores_and_the_window_reloads(qtbot, db, accounts, told, tmp_path):
    from poems_monitor.services.patients import PatientInput, create_patient

    _patient_with_visit(db, accounts["ann"])
    win = _window(qtbot, db, accounts["boss"], signed_in=True, backups=True)
    assert win.actions_by_name["restore"].isEnabled() and win.actions_by_name["backup"].isEnabled()
    copy = tmp_path / "manual.sqlite"
    relay = win.maintenance.backup_now(copy)
    with qtbot.waitSignal(relay.finished, timeout=10000):
        pass
    assert copy.exists() and "checked" in win.maintenance.last_message and win.backup_status.warning is None
    create_patient(db, accounts["ann"], PatientInput("S-2", "After Backup", "male", date(1970, 1, 1)), today=TODAY)
    win.refresh_patients()
    assert win.patients.proxy.rowCount() == 2
    with qtbot.waitSignal(win.maintenance.restore_backup(copy, confirm=False).finished, timeout=15000):
        pass
    assert "Restored from manual.sqlite" in told[-1] and "kept as" in told[-1]
    assert win.patients.proxy.rowCount() == 1  # reopened: the restored database is shown
    kept = list(db.path.parent.glob(f"{db.path.stem}.replaced-*"))
    assert kept


# --- damaged database at start -------------------------------------------------------------------

def _corrupt(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        for offset in range(4096, size, 4096):  # every page but the first: header intact, content garbage
            fh.seek(offset + 8)
            fh.write(b"\xde\xad\xbe\xef" * 200)


def test_a_damaged_database_offers_the_newest_good_backup(qtbot, db_path, db, accounts, told):
    from poems_monitor.services.backup import automatic_backup
    from poems_monitor.services.integrity import check
    from poems_monitor.services.patients import list_patients
    from poems_monitor.ui.damaged_database import QUIT, RESTORE, open_checked

    _patient_with_visit(db, accounts["ann"])
    backup = automatic_backup(db).path
    db.dispose()
    _corrupt(db_path)

    offered = []

    def look_then(choice):  # noqa: ANN001, ANN202
        def choose(dialog):  # noqa: ANN001, ANN202
            qtbot.addWidget(dialog)
            offered.append((dialog.restore_button is not None, dialog.backup, dialog.problems.text(), dialog.offer.text()))
            return choice
        return choose

    assert open_checked(db_path, choose=look_then(QUIT)).db is None
    assert offered[0][0] and offered[0][1] == backup and backup.name in offered[0][3]
    signed: list[str] = []
    opened = open_checked(db_path, choose=look_then(RESTORE),
                          admin_of_backup=lambda b: (signed.append(b.describe()), accounts["boss"])[1])
    try:
        assert opened.db is not None and opened.restored_from == backup
        assert check(opened.db) == []
        assert [p.mrn for p in list_patients(opened.db)] == ["S-1"]
        assert opened.damaged_kept_as is not None and opened.damaged_kept_as.exists()
    finally:
        opened.db.dispose()


def test_a_damaged_database_can_be_opened_read_only_or_quit_without_a_backup(qtbot, db_path, db, accounts):
    from poems_monitor.ui.damaged_database import READ_ONLY, open_checked

    _patient_with_visit(db, accounts["ann"])
    db.dispose()
    import sqlite3

    conn = sqlite3.connect(db_path)
    root, page_size = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit_entry'").fetchone()[0], \
        conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db_path, "r+b") as fh:  # damage the audit table's first page only: patients stay readable
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\x00\xff" * 1500)
    seen = []

    def choose(dialog):  # noqa: ANN001, ANN202
        qtbot.addWidget(dialog)
        seen.append(dialog)
        return READ_ONLY if dialog.read_only_button is not None else "quit"

    opened = open_checked(db_path, choose=choose)
    assert seen and seen[0].restore_button is None  # no backup to offer: says so
    assert "No good backup" in seen[0].offer.text()
    assert opened.db is not None and opened.read_only
    try:
        from poems_monitor.services.patients import list_patients

        from poems_monitor.services.patients import PatientInput, create_patient
        from poems_monitor.ui.damaged_database import read_only_actor

        assert [p.mrn for p in list_patients(opened.db)] == ["S-1"]
        with pytest.raises(Exception, match="readonly"):  # the file is opened read-only
            with opened.db.write() as session:
                session.execute(__import__("sqlalchemy").text("DELETE FROM patient"))
        reader = read_only_actor(accounts["berg"])  # and every service refuses the signed-in person
        with pytest.raises(PermissionDenied):
            create_patient(opened.db, reader, PatientInput("S-9", "No Write", "male", date(1970, 1, 1)), today=TODAY)
        win = _window(qtbot, opened.db, reader, signed_in=True, read_only=True, backups=True,
                      background=True)  # (the clinic overview reads the damaged table: it fails off-thread, in words)
        qtbot.waitUntil(lambda: not win._overview_running, timeout=10000)
        assert win.windowTitle().startswith("READ-ONLY")
        assert not any(win.actions_by_name[k].isEnabled() for k in ("new_visit", "new_patient", "backup", "restore"))
        assert not win.review.sign_button.isEnabled()
        win.close()
    finally:
        opened.db.dispose()


# --- history of changes --------------------------------------------------------------------------

def test_history_of_changes_opens_for_the_current_patient_and_shows_a_correction(qtbot, db, accounts):
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit
    from poems_monitor.ui.history_view import COL_NEW, COL_OLD, COL_WHO, COL_WHY

    _, saved = _patient_with_visit(db, accounts["ann"])
    correct_visit(db, accounts["ann"], saved.visit_id, saved.version,
                  VisitInput(date(2026, 10, 5), values=(EnteredValue("platelets", 521, "10*9/L"),)), "digits swapped",
                  today=TODAY)
    win = _window(qtbot, db, accounts["berg"], signed_in=True)
    win.open_patient("S-1")
    qtbot.keyClick(win, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert len(win.commands.history_windows) == 1
    history = win.commands.history_windows[0]
    assert "S-1" in history.windowTitle() and history.isVisible()
    proxy = history.view.proxy
    rows = [[proxy.index(r, c).data() for c in range(proxy.columnCount())] for r in range(proxy.rowCount())]
    corrected = [r for r in rows if r[COL_WHY] == "digits swapped"]
    assert corrected and (corrected[0][COL_OLD], corrected[0][COL_NEW], corrected[0][COL_WHO]) == (
        "512 10*9/L", "521 10*9/L", "ann")


# --- physician review ----------------------------------------------------------------------------

def test_physician_signs_off_a_nurses_visit_from_the_to_review_list(qtbot, qtmodeltester, db, accounts):
    _, saved = _patient_with_visit(db, accounts["ann"])
    win = _window(qtbot, db, accounts["berg"], signed_in=True)
    assert "(1)" in win.actions_by_name["review"].text()
    qtbot.keyClick(win, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert win.views.currentIndex() == VIEW_REVIEW
    review = win.review
    qtmodeltester.check(review.model)
    assert review.count() == 1 and review.sign_button.isEnabled()
    assert review.proxy.index(0, 1).data() == "S-1" and review.proxy.index(0, 3).data() == "ann"
    qtbot.keyClicks(review.comment, "seen")
    qtbot.mouseClick(review.sign_button, Qt.MouseButton.LeftButton)
    assert "Signed off" in review.message.text()
    assert review.count() == 0 and win.actions_by_name["review"].text().replace("&", "") == "To review"


def test_sign_off_is_refused_for_a_nurse_and_for_a_visit_changed_meanwhile(qtbot, db, accounts):
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit

    _, saved = _patient_with_visit(db, accounts["ann"])
    nurse_window = _window(qtbot, db, accounts["cole"], signed_in=True)
    nurse_window.show_view(VIEW_REVIEW)
    review = nurse_window.review
    assert review.count() == 1 and not review.sign_button.isEnabled()
    assert "physician" in review.sign_button.toolTip()
    assert review.sign_off_current() is False  # the service refuses too
    assert "cole (nurse) may not" in review.message.text() and review.count() == 1

    doctor = _window(qtbot, db, accounts["berg"], signed_in=True)
    doctor.show_view(VIEW_REVIEW)
    correct_visit(db, accounts["ann"], saved.visit_id, saved.version,
                  VisitInput(date(2026, 10, 5), values=(EnteredValue("platelets", 521, "10*9/L"),)), "typo", today=TODAY)
    qtbot.mouseClick(doctor.review.sign_button, Qt.MouseButton.LeftButton)
    assert "changed by ann" in doctor.review.message.text() and "reload" in doctor.review.message.text()
    assert doctor.review.count() == 1  # reloaded at the new version: sign it off now
    assert doctor.review.sign_off_current() and doctor.review.count() == 0


def test_double_click_in_the_review_list_opens_the_visit_in_the_entry_form(qtbot, db, accounts):
    from poems_monitor.ui.main_window import TAB_ENTRY, VIEW_PATIENTS

    _, saved = _patient_with_visit(db, accounts["ann"])
    win = _window(qtbot, db, accounts["berg"], signed_in=True)
    win.show_view(VIEW_REVIEW)
    table = win.review.table
    qtbot.waitUntil(table.isVisible)
    QApplication.processEvents()
    rect = table.visualRect(win.review.proxy.index(0, 0))
    assert rect.isValid()
    with qtbot.waitSignal(win.review.openVisit):
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.views.currentIndex() == VIEW_PATIENTS and win.centre.currentIndex() == TAB_ENTRY
    assert win.entry.visit_id == saved.visit_id and win.dashboard.mrn == "S-1"


def test_check_database_reports_a_sound_database_and_an_edited_audit_row(qtbot, db, accounts, told):
    from sqlalchemy import text

    _patient_with_visit(db, accounts["ann"])
    win = _window(qtbot, db, accounts["ann"], signed_in=True)
    with qtbot.waitSignal(win.maintenance.check_database().finished, timeout=20000):
        pass
    assert "is sound" in told[-1]
    with db.engine.begin() as conn:  # someone edits the audit trail behind the app's back
        conn.execute(text("UPDATE audit_entry SET user = 'nobody' WHERE id = 1"))
    shown = []
    import poems_monitor.ui.backup_ui as backup_ui

    original = backup_ui.show_check_report
    backup_ui.show_check_report = lambda parent, d, report: shown.append(report)
    try:
        with qtbot.waitSignal(win.maintenance.check_database().finished, timeout=20000):
            pass
    finally:
        backup_ui.show_check_report = original
    assert shown and not shown[0].sound and "audit" in win.maintenance.last_message


def test_lock_over_an_open_question_brings_its_own_sign_in_form_and_keeps_the_question(qtbot, db, accounts):
    win = _window(qtbot, db, accounts["ann"], signed_in=True)
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved", "Save the visit of S-1?", QMessageBox.StandardButton.Ok, win)
    seen = {}

    def while_asking() -> None:
        win.lock()
        seen["covered"] = any(w is box for w, _, _ in win.lock_controller.covers)
        top = QApplication.activeModalWidget()
        seen["top"] = top.objectName()
        qtbot.keyClick(top, Qt.Key.Key_Escape)  # cannot be dismissed: only unlocked
        panel = win.lock_controller.unlock_window.findChild(type(win.lock_panel))
        seen["still"] = win.lock_controller.unlock_window.isVisible()
        qtbot.keyClicks(panel.password_edit, PASSWORDS["ann"])
        qtbot.keyClick(panel.password_edit, Qt.Key.Key_Return)
        seen["unlocked"] = not win.locked and box.isVisible()
        box.accept()

    QTimer.singleShot(0, while_asking)
    assert box.exec() == 1  # the question survived the lock
    assert seen == {"covered": True, "top": "unlockWindow", "still": True, "unlocked": True}
