"""Maintenance on its own, on a small real window and a real SQLite file: an administrator backs
up and restores (the window is asked to reload, and to sign out when the restored database does
not know the account); a nurse is refused in words; the daily backup on close is made at most
once a day; the full check reports a sound database; the status bar's indicator warns."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtWidgets import QMainWindow

from poems_monitor.services.access import Actor, Role
from poems_monitor.services.patients import PatientInput, create_patient, list_patients
from poems_monitor.services.users import add_user
from poems_monitor.ui import backup_ui
from poems_monitor.ui.shell.maintenance import Maintenance
from tests.conftest import TODAY

BOSS, ANN = Actor("boss", Role.ADMIN), Actor("ann", Role.NURSE)


@pytest.fixture
def window(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    return window


def _patient(db, mrn: str) -> None:  # noqa: ANN001
    create_patient(db, ANN, PatientInput(mrn, "Kept Person", "female", date(1960, 1, 1)), today=TODAY)


def test_an_administrator_backs_up_and_restores_and_the_window_reloads(qtbot, window, db, told, tmp_path):
    add_user(db, Actor("set-up", Role.ADMIN), "boss", Role.ADMIN, "boss-password")
    _patient(db, "M-1")
    reloaded: list[int] = []
    gone: list[str] = []
    part = Maintenance(window, db, BOSS, backups=True, read_only=False, reload=lambda: reloaded.append(1),
                       account_gone=lambda: gone.append("signed out"))
    window.statusBar().addPermanentWidget(part.status)
    assert part.refresh_backup_status() and "Never backed up" in part.status.text()
    copy = tmp_path / "manual.sqlite"
    with qtbot.waitSignal(part.backup_now(copy).finished, timeout=15000):
        pass
    assert copy.exists() and "checked" in part.last_message
    assert part.status.warning is None and "Backup:" in part.status.text()

    _patient(db, "M-2")
    with qtbot.waitSignal(part.restore_backup(copy, confirm=False).finished, timeout=15000):
        pass
    assert "Restored from manual.sqlite" in told[-1] and "kept as" in told[-1]
    assert [p.mrn for p in list_patients(db)] == ["M-1"] and reloaded == [1] and gone == []


def test_a_restore_that_forgets_the_account_signs_the_window_out(qtbot, window, db, told, tmp_path):
    _patient(db, "M-1")
    before_accounts = Maintenance(window, db, BOSS, backups=False, read_only=False)
    copy = tmp_path / "before-accounts.sqlite"
    with qtbot.waitSignal(before_accounts.backup_now(copy).finished, timeout=15000):
        pass
    add_user(db, Actor("set-up", Role.ADMIN), "boss", Role.ADMIN, "boss-password")
    gone: list[str] = []
    part = Maintenance(window, db, BOSS, backups=False, read_only=False, account_gone=lambda: gone.append("out"))
    with qtbot.waitSignal(part.restore_backup(copy, confirm=False).finished, timeout=15000):
        pass
    assert gone == ["out"]


def test_a_nurse_is_refused_in_words_and_nothing_is_written(window, db, told, tmp_path):
    part = Maintenance(window, db, ANN, backups=True, read_only=False)
    before = db.path.read_bytes()
    assert part.backup_now(tmp_path / "copy.sqlite") is None
    assert "may not make backups" in told[-1] and not (tmp_path / "copy.sqlite").exists()
    assert part.restore_backup(tmp_path / "copy.sqlite", confirm=False) is None
    assert "ann (nurse) may not restore a backup" in told[-1] and db.path.read_bytes() == before


def test_an_unsaved_visit_stops_a_restore_before_anything_changes(window, db, told, tmp_path):
    from poems_monitor.services.backup import automatic_backup

    good = automatic_backup(db).path
    _patient(db, "M-9")
    part = Maintenance(window, db, BOSS, backups=False, read_only=False, may_proceed=lambda: False)
    assert part.restore_backup(good, confirm=False) is None
    assert [p.mrn for p in list_patients(db)] == ["M-9"]


def test_the_daily_backup_is_made_once_a_day_and_never_on_a_read_only_database(window, db, told):
    from poems_monitor.services.backup import automatic_backups, backup_set_folder

    part = Maintenance(window, db, ANN, backups=True, read_only=False)
    assert part.run_automatic_backup() is not None
    assert part.run_automatic_backup() is None  # at most daily
    assert len(automatic_backups(backup_set_folder(db.path), db.path.stem)) == 1
    read_only = Maintenance(window, db, ANN, backups=True, read_only=True)
    assert not read_only.backups and read_only.run_automatic_backup() is None
    assert read_only.refresh_backup_status() is None


def test_check_database_reports_a_sound_database(qtbot, window, db, monkeypatch):
    _patient(db, "M-1")
    shown = []
    monkeypatch.setattr(backup_ui, "show_check_report", lambda parent, d, report: shown.append(report))
    part = Maintenance(window, db, ANN, backups=False, read_only=False)
    with qtbot.waitSignal(part.check_database().finished, timeout=20000):
        pass
    assert shown and shown[0].sound and part.last_message == "sound"


def test_back_up_now_shows_the_check_s_step_and_its_cancel_leaves_no_file(qtbot, window, db, tmp_path, monkeypatch):
    """On a large clinic the copy's check takes minutes: Back up now shows the step it is at behind
    a progress dialog, and Cancel stops it with nothing written, not even a temporary copy."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    from poems_monitor.ui.workers import ProgressDialog

    add_user(db, Actor("set-up", Role.ADMIN), "boss", Role.ADMIN, "boss-password")
    _patient(db, "M-1")
    comparing, release = _held_seal_check(monkeypatch)
    part = Maintenance(window, db, BOSS, backups=True, read_only=False)
    copy = tmp_path / "backups" / "manual.sqlite"
    copy.parent.mkdir()
    relay = part.backup_now(copy)
    qtbot.waitUntil(comparing.is_set, timeout=15000)
    dialog = window.findChild(ProgressDialog, "progress")
    qtbot.waitUntil(lambda: dialog.labelText() == "Checking the audit trail…", timeout=5000)
    assert dialog.isVisible() and dialog.windowTitle() == "Back up"
    with qtbot.waitSignal(relay.finished, timeout=15000):
        qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)
        release.set()
    assert not copy.exists() and list(copy.parent.iterdir()) == []
    assert window.statusBar().currentMessage() == f"Backup cancelled: nothing was written to {copy}"
    assert part.refresh_backup_status() and "Never backed up" in part.status.text()  # it does not count as a backup


def _held_seal_check(monkeypatch):  # noqa: ANN001, ANN202
    """Hold the check of every record against its seal (minutes on a large clinic) until released."""
    import threading

    from poems_monitor.services import record_seal

    comparing, release = threading.Event(), threading.Event()
    real_verify = record_seal.verify

    def held_verify(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        comparing.set()
        release.wait(10)
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(record_seal, "verify", held_verify)
    return comparing, release


def _shown_progress(window):  # noqa: ANN001, ANN202 (the backup's closed dialog is a child too)
    from poems_monitor.ui.workers import ProgressDialog

    shown = [d for d in window.findChildren(ProgressDialog, "progress") if d.isVisible()]
    assert len(shown) == 1
    return shown[0]


def _backup_with_one_patient_more_after(qtbot, window, db, tmp_path):  # noqa: ANN001, ANN202
    add_user(db, Actor("set-up", Role.ADMIN), "boss", Role.ADMIN, "boss-password")
    _patient(db, "M-1")
    copy = tmp_path / "backups" / "manual.sqlite"
    copy.parent.mkdir()
    with qtbot.waitSignal(Maintenance(window, db, BOSS, backups=False, read_only=False).backup_now(copy).finished,
                          timeout=15000):
        pass
    _patient(db, "M-2")
    return copy


def test_restore_shows_the_check_s_step_off_the_gui_thread_and_then_reloads(qtbot, window, db, told, tmp_path,
                                                                            monkeypatch):
    """On a large clinic the backup's check takes minutes: Restore shows the step it is at behind a
    window-modal progress dialog (the window is not frozen meanwhile), then replaces the data and
    reloads the window."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    copy = _backup_with_one_patient_more_after(qtbot, window, db, tmp_path)
    reloaded: list[int] = []
    part = Maintenance(window, db, BOSS, backups=False, read_only=False, reload=lambda: reloaded.append(1))
    comparing, release = _held_seal_check(monkeypatch)
    relay = part.restore_backup(copy, confirm=False)
    qtbot.waitUntil(comparing.is_set, timeout=15000)
    dialog = _shown_progress(window)
    qtbot.waitUntil(lambda: dialog.labelText().endswith("\nChecking the audit trail…"), timeout=5000)
    assert dialog.isVisible() and dialog.windowTitle() == "Restore"
    assert dialog.windowModality() == Qt.WindowModality.WindowModal and QApplication.activeModalWidget() is dialog
    assert "Cancel stops the restore and changes nothing" in dialog.labelText() and "manual.sqlite" in dialog.labelText()
    assert [p.mrn for p in list_patients(db)] == ["M-1", "M-2"] and reloaded == []  # nothing replaced yet
    with qtbot.waitSignal(relay.finished, timeout=15000):
        release.set()
    assert not dialog.isVisible()
    assert "Restored from manual.sqlite" in told[-1] and "kept as" in told[-1]
    assert [p.mrn for p in list_patients(db)] == ["M-1"] and reloaded == [1]


def test_cancel_during_the_restore_s_check_changes_nothing(qtbot, window, db, told, tmp_path, monkeypatch):
    """Cancel while the backup is checked: the live file is byte for byte as it was, and no
    temporary copy is left beside it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    copy = _backup_with_one_patient_more_after(qtbot, window, db, tmp_path)
    part = Maintenance(window, db, BOSS, backups=False, read_only=False, reload=lambda: pytest.fail("no reload"))
    db.dispose()
    beside_before = sorted(p.name for p in db.path.parent.iterdir())
    before = db.path.read_bytes()
    comparing, release = _held_seal_check(monkeypatch)
    relay = part.restore_backup(copy, confirm=False)
    qtbot.waitUntil(comparing.is_set, timeout=15000)
    dialog = _shown_progress(window)
    with qtbot.waitSignal(relay.finished, timeout=15000):
        qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)
        release.set()
    assert db.path.read_bytes() == before
    assert sorted(p.name for p in db.path.parent.iterdir()) == beside_before  # no staged copy, no replaced-* file
    assert window.statusBar().currentMessage() == "Restore cancelled: nothing was changed"
    assert not any("Restored" in t for t in told) and [p.mrn for p in list_patients(db)] == ["M-1", "M-2"]


def test_a_damaged_backup_is_refused_with_the_reason_after_the_check(qtbot, window, db, told, tmp_path):
    copy = _backup_with_one_patient_more_after(qtbot, window, db, tmp_path)
    import sqlite3

    with sqlite3.connect(copy) as raw:  # a record changed behind the app's back: its seal no longer fits
        raw.execute("UPDATE patient SET name = 'Someone Else' WHERE mrn = 'M-1'")
    raw.close()
    part = Maintenance(window, db, BOSS, backups=False, read_only=False, reload=lambda: pytest.fail("no reload"))
    db.dispose()
    before = db.path.read_bytes()
    with qtbot.waitSignal(part.restore_backup(copy, confirm=False).finished, timeout=15000):
        pass
    assert "manual.sqlite was not restored, because the copy failed its check" in told[-1]
    assert "Nothing was changed" in told[-1] and db.path.read_bytes() == before
    assert [p.mrn for p in list_patients(db)] == ["M-1", "M-2"]


def test_a_long_step_wraps_inside_a_1366_px_window(qtbot):
    """A step naming a long backup file, with the sentence on what Cancel does, once widened the
    progress dialog past a 1366×768 screen (its Cancel button off it): the text wraps instead."""
    import threading

    from poems_monitor.ui.workers import ProgressDialog, run_with_progress

    host = QMainWindow()
    qtbot.addWidget(host)
    host.resize(1366, 768)
    host.show()
    release = threading.Event()
    step = ("Restoring from clinic-backup-of-the-haematology-day-unit-before-the-protocol-change-2026-12-02.sqlite. "
            "Until the backup has been checked, Cancel stops the restore and changes nothing.\nChecking the audit trail…")

    def work(progress):  # noqa: ANN001, ANN202
        progress(step, 0, 0)
        release.wait(10)

    dialog = run_with_progress(work, lambda _: None, lambda: None, lambda _: None, host, "Restore")
    qtbot.waitUntil(lambda: dialog.labelText() == step, timeout=5000)
    qtbot.wait(50)
    assert dialog.width() <= 700 and dialog.height() > 3 * dialog.fontMetrics().height()  # wrapped, all of it shown
    with qtbot.waitSignal(dialog.relay.finished, timeout=10000):
        release.set()
    assert isinstance(dialog, ProgressDialog)
