"""The daily backup when the window closes runs off the GUI thread: the window shows "Backing
up…" and stays responsive meanwhile, a second close waits for the same backup, and the window
closes itself once the backup is written (never without it)."""

from __future__ import annotations

import threading
import time

from poems_monitor.services.backup import automatic_backup, automatic_backups, backup_set_folder
from poems_monitor.ui.main_window import MainWindow
from tests.conftest import TODAY


def test_the_daily_backup_on_close_runs_in_the_background_and_the_window_closes_once_it_is_written(
        qtbot, db, nurse, monkeypatch):
    release = threading.Event()
    on_gui_thread: list[bool] = []

    def slow_backup(database, progress=None):  # noqa: ANN001, ANN202 (a large clinic's dump takes minutes)
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        release.wait(5)
        return automatic_backup(database, progress=progress)

    # where the window looks it up when it closes (services.backup is imported then, not at start-up)
    monkeypatch.setattr("poems_monitor.services.backup.automatic_backup", slow_backup)
    window = MainWindow(db, nurse, as_of=TODAY, backups=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)

    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 2  # the GUI thread did not wait for the dump
    assert window.isVisible()
    dialog = window.maintenance.closing_backup
    assert dialog is not None and dialog.isVisible()
    assert "daily backup of the clinic database before closing" in dialog.labelText()
    assert window.statusBar().currentMessage() == "Backing up…"
    qtbot.wait(50)  # events keep flowing while it runs
    window.close()  # closing again while it runs: it still waits for the same backup
    assert window.isVisible() and window.maintenance.closing_backup is dialog
    folder = backup_set_folder(db.path)
    assert automatic_backups(folder, db.path.stem) == []

    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=15000)
    assert on_gui_thread == [False]
    assert len(automatic_backups(folder, db.path.stem)) == 1
    assert not dialog.isVisible()


def test_the_close_backup_shows_how_many_patients_records_are_checked(qtbot, db, nurse, monkeypatch):
    """On a large clinic the check of the copy takes minutes: the dialog says which step it is at
    and fills its bar with the patients whose record has been compared with its seal."""
    from poems_monitor.services.patients import PatientInput, create_patient

    for i in range(3):
        create_patient(db, nurse, PatientInput(f"C-{i}", f"Close Person {i}", "female", TODAY.replace(year=1960)),
                       today=TODAY)
    monkeypatch.setattr("poems_monitor.services.record_seal.VERIFY_BATCH", 1)
    halfway, release = threading.Event(), threading.Event()

    def held_at_the_second_patient(database, progress=None):  # noqa: ANN001, ANN202
        def report(step: str, done: int, total: int) -> None:
            progress(step, done, total)
            if (done, total) == (2, 3):
                halfway.set()
                release.wait(5)
        return automatic_backup(database, progress=report)

    monkeypatch.setattr("poems_monitor.services.backup.automatic_backup", held_at_the_second_patient)
    window = MainWindow(db, nurse, as_of=TODAY, backups=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.close()
    dialog = window.maintenance.closing_backup
    qtbot.waitUntil(halfway.is_set, timeout=15000)
    qtbot.waitUntil(lambda: dialog.value() == 2, timeout=5000)
    assert dialog.maximum() == 3
    assert dialog.labelText() == ("Making the daily backup of the clinic database before closing…\n"
                                  "Comparing each patient's record with its seal")
    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=15000)
    assert len(automatic_backups(backup_set_folder(db.path), db.path.stem)) == 1


def test_no_backup_due_closes_the_window_at_once(qtbot, db, nurse):
    automatic_backup(db)  # today's is made already
    window = MainWindow(db, nurse, as_of=TODAY, backups=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.close()
    assert not window.isVisible() and window.maintenance.closing_backup is None
