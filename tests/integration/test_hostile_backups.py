"""Backups and restore accept only poems-monitor's plain data: a backup file built with sqlite3 to
carry triggers, views, extra tables, indexes or columns, a schema it does not have, or a record
changed after it was sealed is refused before anything is replaced; an older schema is brought up
to date on the copy, never on the live file. A backup is never written over a folder or a device;
a backup or restore killed half-way leaves no hidden copy behind once the next one has run; the
`*.replaced-*` copies a restore keeps are rotated like the backups."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

TODAY = date(2026, 11, 21)


def _clinic(db, nurse, mrn: str = "H-001") -> None:  # noqa: ANN001
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    create_patient(db, nurse, PatientInput(mrn, "Hostile Person", "female", date(1965, 2, 2)), today=TODAY)
    for i in range(3):
        record_visit(db, nurse, mrn, VisitInput(date(2020, 1, 1) + timedelta(days=14 * i), values=(
            EnteredValue("vegf_plasma", 500 + i, "pg/mL"),)), today=TODAY)


def _edit(path: Path, script: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


HOSTILE = {
    "trigger rewriting VEGF": (
        "CREATE TRIGGER quiet_vegf AFTER INSERT ON observation WHEN new.code = 'vegf_plasma' BEGIN "
        "UPDATE observation SET value_num = 10 WHERE id = new.id; END;", "trigger (quiet_vegf on observation)"),
    "trigger promoting accounts": (
        "CREATE TRIGGER promote AFTER INSERT ON app_user BEGIN UPDATE app_user SET role = 'admin' WHERE id = new.id; END;",
        "trigger (promote on app_user)"),
    "view": ("CREATE VIEW v_all AS SELECT * FROM patient;", "view (v_all)"),
    "extra table": ("CREATE TABLE notes_to_self (id INTEGER PRIMARY KEY, body TEXT);", "table poems-monitor does not make (notes_to_self)"),
    "extra index": ("CREATE INDEX ix_extra ON observation(value_num);", "index poems-monitor does not make (ix_extra"),
    "extra column": ("ALTER TABLE patient ADD COLUMN nickname TEXT;", "columns poems-monitor does not make (nickname)"),
    "unknown schema": ("UPDATE alembic_version SET version_num = '0004b';", "0004b is not one this poems-monitor knows"),
    "record changed after its seal": ("UPDATE observation SET value_num = 10 WHERE code = 'vegf_plasma';",
                                      "value_num changed outside poems-monitor"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_backup_is_refused_and_the_live_file_is_untouched(kind, db, db_path, nurse, admin, tmp_path):
    from poems_monitor.services.backup import BackupRefused, backup_to, restore_from

    _clinic(db, nurse)
    made = backup_to(db, admin, tmp_path / "made.sqlite").path
    hostile = tmp_path / "hostile.sqlite"  # not in this workstation's catalogue: only its content speaks
    hostile.write_bytes(made.read_bytes())
    script, expected = HOSTILE[kind]
    _edit(hostile, script)
    before = _dump(db_path)
    files_before = sorted(p.name for p in db_path.parent.iterdir())
    with pytest.raises(BackupRefused) as refused:
        restore_from(db_path, admin, hostile)
    message = str(refused.value)
    assert expected in message and "Nothing was changed" in message, message
    assert _dump(db_path) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == files_before


def test_live_database_with_a_trigger_is_not_backed_up(db, nurse, admin, tmp_path):
    from poems_monitor.services.backup import BackupRefused, backup_to

    _clinic(db, nurse)
    _edit(db.path, "CREATE TRIGGER t AFTER INSERT ON visit BEGIN SELECT 1; END;")
    with pytest.raises(BackupRefused, match="trigger"):
        backup_to(db, admin, tmp_path / "copy.sqlite")
    assert not (tmp_path / "copy.sqlite").exists()


def test_file_claiming_an_older_schema_is_refused_before_the_live_file_is_touched(db, db_path, nurse, admin, tmp_path):
    """It claims revision 0001 but holds the newer tables: its upgrade fails, on the copy."""
    from poems_monitor.services.backup import BackupRefused, backup_to, restore_from

    _clinic(db, nurse)
    liar = backup_to(db, admin, tmp_path / "liar.sqlite").path
    _edit(liar, "UPDATE alembic_version SET version_num = '0001';")
    other = tmp_path / "liar2.sqlite"
    other.write_bytes(liar.read_bytes())
    before = _dump(db_path)
    files_before = sorted(p.name for p in db_path.parent.iterdir())
    with pytest.raises(BackupRefused) as refused:
        restore_from(db_path, admin, other)
    assert "could not be brought up to date" in str(refused.value) and "Nothing was changed" in str(refused.value)
    assert _dump(db_path) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == files_before


def test_backup_of_an_older_schema_is_upgraded_on_the_copy_and_restored(db, db_path, nurse, admin, tmp_path):
    """A clinic written at schema 0003 (before the record was sealed) restores: its copy is
    upgraded and sealed whole by the restore's audit entry; the backup file itself is untouched."""
    import shutil
    from pathlib import Path

    from poems_monitor.persistence.db import current_revision, known_revisions
    from poems_monitor.services.backup import restore_from
    from poems_monitor.services.integrity import check

    # a backup as poems-monitor 0.1.0 wrote it (schema 0003), its own records and audit trail
    old = tmp_path / "old.sqlite"
    shutil.copyfile(Path(__file__).parent.parent / "data" / "clinic-0.1.0-schema-0003.db", old)
    with sqlite3.connect(old) as conn:
        old_mrns = sorted(r[0] for r in conn.execute("SELECT mrn FROM patient"))
    assert sqlite3.connect(old).execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0003"
    _clinic(db, nurse)
    restore_from(db_path, admin, old)
    assert current_revision(db.engine) == known_revisions()[1]
    assert check(db) == []
    with db.read() as s:
        from sqlalchemy import text

        assert sorted(s.execute(text("SELECT mrn FROM patient")).scalars().all()) == old_mrns
    assert sqlite3.connect(old).execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0003"


def test_backup_this_workstation_made_and_later_shortened_is_refused(db, db_path, nurse, admin, tmp_path):
    """Removing the newest audit entries (and the rows they covered) from a backup leaves a
    consistent older file; the backup catalogue still knows where the backup ended."""
    from poems_monitor.services.backup import BackupRefused, backup_to, restore_from

    _clinic(db, nurse)
    made = backup_to(db, admin, tmp_path / "made.sqlite").path
    newest = sqlite3.connect(made).execute("SELECT max(id) FROM audit_entry").fetchone()[0]
    _edit(made, f"DELETE FROM audit_entry WHERE id = {newest};"
                "UPDATE clinic_setting SET value = (SELECT id || ':' || hash FROM audit_entry ORDER BY id DESC LIMIT 1) "
                "WHERE key = 'audit.head';")
    with pytest.raises(BackupRefused, match=f"no longer ends at entry {newest}"):
        restore_from(db_path, admin, made)


def test_backup_over_a_folder_or_a_device_is_refused(db, nurse, admin, tmp_path):
    from poems_monitor.services.backup import BackupRefused, backup_to

    _clinic(db, nurse)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(BackupRefused, match="is a folder"):
        backup_to(db, admin, folder)
    assert folder.is_dir() and not any(folder.iterdir())
    pipe = tmp_path / "a-pipe"
    os.mkfifo(pipe)
    with pytest.raises(BackupRefused, match="not a regular file"):
        backup_to(db, admin, pipe)
    import stat

    assert stat.S_ISFIFO(os.stat(pipe).st_mode)  # the device-like file is still what it was


KILLED = r'''
import os, signal, sys
from pathlib import Path
import poems_monitor.persistence.sqlite_backup as sb
from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services import backup

original = sb._copy_connection


def copy_then_die(source, dest):
    original(source, dest)
    os.kill(os.getpid(), signal.SIGKILL)  # a power cut right after a full copy was written


sb._copy_connection = copy_then_die
admin = Actor("test-admin", Role.ADMIN)
if sys.argv[1] == "backup":
    db = open_database(sys.argv[2])
    backup.backup_to(db, admin, Path(sys.argv[3]))
else:
    backup.restore_from(Path(sys.argv[2]), admin, Path(sys.argv[3]))
'''


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and not p.name.endswith(".json"))


def test_killed_backup_and_restore_leave_no_hidden_copy_once_the_next_one_ran(db, db_path, nurse, admin, tmp_path):
    from poems_monitor.services.backup import backup_to, restore_from

    _clinic(db, nurse)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ)
    died = subprocess.run([sys.executable, "-c", KILLED, "backup", str(db_path), str(out / "b.sqlite")], env=env,
                          timeout=120)
    assert died.returncode == -9
    assert _hidden(out), "the kill left no temporary copy: the test did not kill where it meant to"
    backup_to(db, admin, out / "b.sqlite")
    assert _hidden(out) == []

    good = out / "b.sqlite"
    died = subprocess.run([sys.executable, "-c", KILLED, "restore", str(db_path), str(good)], env=env, timeout=120)
    assert died.returncode == -9
    leftovers = [n for n in _hidden(db_path.parent) if "audit-head" not in n]
    assert leftovers, "the kill left no temporary copy beside the database"
    restore_from(db_path, admin, good)
    assert [n for n in _hidden(db_path.parent) if n.endswith(".tmp") or ".tmp-" in n] == []


def test_replaced_copies_are_rotated_with_the_backups(db, db_path, nurse, admin, tmp_path):
    from poems_monitor.config import app_paths
    from poems_monitor.services.backup import BackupPolicy, backup_to, restore_from, save_policy

    save_policy(BackupPolicy(app_paths().backups, keep_daily=3, keep_monthly=2))
    _clinic(db, nurse)
    good = backup_to(db, admin, tmp_path / "good.sqlite").path
    start = datetime(2026, 8, 1, 12, 0, tzinfo=timezone.utc)
    for day in range(0, 60, 5):  # twelve restores over two months
        restore_from(db_path, admin, good, now=start + timedelta(days=day))
    kept = sorted(p.name for p in db_path.parent.glob("clinic.replaced-*"))
    # newest 3 (Sep 25, 20, 15), and the newest of each of the 2 newest months (Sep 25, Aug 31)
    assert kept == ["clinic.replaced-20260831-" + kept[0][-13:], *kept[1:]] and len(kept) == 4, kept
    assert [k[len("clinic.replaced-"):len("clinic.replaced-") + 8] for k in kept] == [
        "20260831", "20260915", "20260920", "20260925"]
