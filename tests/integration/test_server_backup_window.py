"""The window's backups on a clinic server (real widgets offscreen, the throwaway TLS server of
conftest.py; skipped without server binaries): File > Back up now… of an administrator writes a
checked pg_dump in the server database's backup set, off the GUI thread, which restores through
the service into an empty database that checks sound, and the status bar shows it; a nurse is
refused in words before any file is asked for; File > Restore… says the rule and the way instead
of restoring over the live database; the daily backup on close is made only by the workstation
set to look after server backups, with an administrator signed in."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QMainWindow

from poems_monitor.services.access import Actor, Role
from tests.conftest import TODAY

pytestmark = pytest.mark.slow

BOSS, ANN = Actor("boss", Role.ADMIN), Actor("ann", Role.NURSE)


@pytest.fixture
def server_db(pg_url):  # noqa: ANN001
    """The clinic database on the test server, with one patient."""
    from poems_monitor.services.clinic_database import open_clinic_database
    from poems_monitor.services.patients import PatientInput, create_patient

    db = open_clinic_database(pg_url)
    create_patient(db, ANN, PatientInput("SRV-1", "Server Person", "female", date(1961, 3, 3)), today=TODAY)
    yield db
    db.dispose()


@pytest.fixture
def window(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    return window


def test_an_administrator_backs_up_the_server_database_and_the_dump_restores_sound(
        qtbot, window, server_db, told, monkeypatch, pg_empty_url):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import (
        backup_set_folder,
        database_key,
        restore_server_database,
    )
    from poems_monitor.services.integrity import check_report
    from poems_monitor.services.patients import list_patients
    from poems_monitor.ui.shell.maintenance import Maintenance

    part = Maintenance(window, server_db, BOSS, backups=True, read_only=False)
    window.statusBar().addPermanentWidget(part.status)
    assert part.refresh_backup_status() and not part.status.isHidden()
    assert part.status.text() == "Never backed up"

    proposed: list[str] = []

    def save_as(_parent, _caption, suggested, kinds, *_a, **_k):  # noqa: ANN001, ANN002, ANN003
        proposed.append(suggested)
        assert kinds.startswith("PostgreSQL dump (*.pgdump)")
        return suggested, kinds  # the administrator accepts the proposed name

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_as))
    worker = part.backup_now()
    assert worker is not None  # off the GUI thread: the window keeps running while pg_dump works
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        pass
    dump = Path(proposed[0])
    assert dump.parent == backup_set_folder(database_key(server_db))
    assert dump.name.startswith(f"{server_db.engine.url.database}-manual-") and dump.suffix == ".pgdump"
    assert dump.read_bytes()[:5] == b"PGDMP" and "checked" in part.last_message, told
    assert part.status.warning is None and part.status.text() == "Backup: just now"
    assert str(dump) in part.status.toolTip()

    restored = open_database(pg_empty_url, migrate=False)  # empty: no schema yet
    try:
        restore_server_database(restored, BOSS, dump)
        assert check_report(restored).problems == []
        assert [p.mrn for p in list_patients(restored)] == ["SRV-1"]
    finally:
        restored.dispose()


def test_a_nurse_is_refused_before_any_file_is_asked_for(qtbot, window, server_db, told, monkeypatch):
    from poems_monitor.ui.shell.maintenance import Maintenance

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: pytest.fail("no file for a nurse")))
    part = Maintenance(window, server_db, ANN, backups=True, read_only=False)
    assert part.backup_now() is None
    assert told == ["ann (nurse) may not make backups"]


def test_restore_on_a_server_database_says_the_rule_and_the_way_and_changes_nothing(
        qtbot, window, server_db, told, monkeypatch):
    from poems_monitor.services.patients import list_patients
    from poems_monitor.ui.shell.maintenance import Maintenance

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: pytest.fail("no file to restore over")))
    part = Maintenance(window, server_db, BOSS, backups=True, read_only=False)
    assert part.restore_backup() is None
    assert "never restored over" in told[-1] and "empty database" in told[-1]
    assert "poems-monitor --db" in told[-1] and "restore FILE" in told[-1] and "point the workstations" in told[-1]
    assert [p.mrn for p in list_patients(server_db)] == ["SRV-1"]


def test_the_main_window_offers_back_up_and_restore_on_a_server_to_an_administrator_only(qtbot, server_db):
    from poems_monitor.ui.main_window import MainWindow

    for actor, enabled in ((BOSS, True), (ANN, False)):
        window = MainWindow(server_db, actor, background=False, remember_layout=False, signed_in=True, backups=True)
        qtbot.addWidget(window)
        window.skip_close_checks = True
        actions = window.actions_by_name
        assert actions["backup"].isEnabled() is enabled and actions["restore"].isEnabled() is enabled
        window.show()
        assert not window.backup_status.isHidden() and window.backup_status.text() == "Never backed up"


def test_only_the_workstation_looking_after_server_backups_dumps_on_close(qtbot, window, server_db, told):
    from poems_monitor.services.backup import (
        automatic_backups,
        backup_set_folder,
        database_key,
        load_policy,
        makes_daily_backup,
        save_policy,
    )
    from poems_monitor.ui.shell.maintenance import Maintenance

    folder = backup_set_folder(database_key(server_db))
    stem = server_db.engine.url.database
    # Not set to look after server backups (the default): no workstation dumps the shared database.
    assert Maintenance(window, server_db, BOSS, backups=True, read_only=False).run_automatic_backup() is None
    assert automatic_backups(folder, stem) == [] and told == []

    policy = load_policy()
    save_policy(type(policy)(policy.folder, policy.keep_daily, policy.keep_monthly, policy.warn_after_days,
                             server_backups=True))
    assert load_policy().server_backups is True
    # Set to, but a nurse signed in: her login may not create the scratch database the check needs.
    assert not makes_daily_backup(server_db, ANN)
    assert Maintenance(window, server_db, ANN, backups=True, read_only=False).run_automatic_backup() is None
    assert automatic_backups(folder, stem) == [] and told == []

    part = Maintenance(window, server_db, BOSS, backups=True, read_only=False)
    made = part.run_automatic_backup()
    assert made is not None and [p for _, p in automatic_backups(folder, stem)] == [made.path]
    assert made.path.read_bytes()[:5] == b"PGDMP" and told == []
    assert part.run_automatic_backup() is None  # at most once a day
