"""Backups are consistent while others write, rotated, and checked; a restore verifies the copy
first, keeps the replaced file, and refuses (changing nothing) a damaged, foreign or newer copy
or one whose audit trail was tampered with; a damaged live database is detected and the newest
good backup found for it."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from poems_monitor.models import AuditEntry, Patient, Visit
from poems_monitor.services.access import Actor, Role

TODAY = date(2026, 11, 21)
A, P, V = AuditEntry.__table__, Patient.__table__, Visit.__table__


def _clinic(db, nurse, visits: int = 3, mrn: str = "B-001") -> None:  # noqa: ANN001
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    create_patient(db, nurse, PatientInput(mrn, "Backup Person", "female", date(1965, 2, 2)), today=TODAY)
    for i in range(visits):
        record_visit(db, nurse, mrn, VisitInput(date(2020, 1, 1) + timedelta(days=14 * i), values=(
            EnteredValue("platelets", 300 + i, "10*9/L"),
        )), today=TODAY)


def _count(path_or_db, table) -> int:  # noqa: ANN001
    if isinstance(path_or_db, Path):
        conn = sqlite3.connect(path_or_db)
        try:
            return conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
        finally:
            conn.close()
    with path_or_db.read() as s:
        return s.execute(select(func.count()).select_from(table)).scalar_one()


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_backup_is_consistent_while_another_connection_writes(db, db_path, nurse, admin, tmp_path):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import backup_to, problems_of_backup_file
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    _clinic(db, nurse, visits=1)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        other = open_database(db_path)  # its own engine and connections
        try:
            day = date(2010, 1, 1)
            while not stop.is_set():
                record_visit(other, nurse, "B-001", VisitInput(day, values=(EnteredValue("platelets", 420, "10*9/L"),)),
                             today=TODAY)
                written.append(1)
                day += timedelta(days=1)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            other.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copies = []
        for i in range(6):
            before = len(written)
            result = backup_to(db, admin, tmp_path / f"copy{i}.sqlite")
            copies.append((result.path, before))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert len(written) > 5, "the writer must have been writing during the backups"
    for path, before in copies:
        assert problems_of_backup_file(path) == []
        visits = _count(path, V)
        assert visits >= 1 + before  # every commit before the copy started is in it
        assert visits <= 1 + len(written)
        # a self-contained file: no WAL beside it, rollback journal mode
        assert not Path(f"{path}-wal").exists()
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        conn.close()


def test_rotation_keeps_7_daily_and_12_monthly(tmp_path):
    from poems_monitor.services.backup import automatic_backups, rotate

    folder = tmp_path / "backups"
    folder.mkdir()
    first = date(2025, 1, 1)
    for i in range(500):
        (folder / f"clinic-{(first + timedelta(days=i)).isoformat()}.sqlite").write_bytes(b"x")
    (folder / "other-2025-01-01.sqlite").write_bytes(b"x")  # another database's backups are left alone
    (folder / "my-manual-copy.sqlite").write_bytes(b"x")  # and so is anything not named like an automatic one
    deleted = rotate(folder, "clinic", keep_daily=7, keep_monthly=12)
    kept = [d for d, _ in automatic_backups(folder, "clinic")]
    newest = first + timedelta(days=499)
    assert kept[:7] == [newest - timedelta(days=i) for i in range(7)]
    monthly = kept[7:]
    assert len({(d.year, d.month) for d in kept}) == 12
    assert all(d.day == _last_day(d) for d in monthly)  # the newest backup of each earlier month
    assert len(kept) == 7 + 11  # the newest month's newest backup is already one of the 7 daily ones
    assert len(deleted) == 500 - len(kept)
    assert (folder / "other-2025-01-01.sqlite").exists() and (folder / "my-manual-copy.sqlite").exists()


def _last_day(d: date) -> int:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def test_automatic_backup_at_most_daily_into_the_configured_folder(db, nurse, tmp_path):
    from poems_monitor.services.backup import (
        BackupPolicy, automatic_backup, backup_set_folder, backup_warning, last_good_backup_age, load_policy,
        newest_good_backup, save_policy,
    )

    _clinic(db, nurse)
    folder = tmp_path / "configured-backups"
    save_policy(BackupPolicy(folder, keep_daily=2, keep_monthly=1, warn_after_days=3))
    policy = load_policy()
    assert policy == BackupPolicy(folder, 2, 1, 3)
    assert last_good_backup_age(db) is None
    assert "never been backed up" in backup_warning(db)

    now = datetime(2026, 11, 21, 18, 0, tzinfo=timezone.utc)
    first = automatic_backup(db, now=now)
    assert first is not None and first.path.parent == backup_set_folder(db.path) and first.path.parent.parent == folder
    folder = first.path.parent  # this database's own backup set
    assert automatic_backup(db, now=now + timedelta(hours=2)) is None  # at most daily
    assert automatic_backup(db, now=now + timedelta(days=1)) is not None
    assert automatic_backup(db, now=now + timedelta(days=2)) is not None
    assert len(list(folder.glob("clinic-*.sqlite"))) == 2  # keep_daily=2, and the month's newest is among them
    age = last_good_backup_age(db)
    assert age is not None and age < timedelta(minutes=5)
    assert backup_warning(db) is None
    assert "days old" in backup_warning(db, now=datetime.now(timezone.utc) + timedelta(days=10))
    assert newest_good_backup(db.path) == max(folder.glob("clinic-*.sqlite"))


def test_restore_of_a_good_copy_replaces_the_data_and_keeps_the_replaced_file(db, db_path, nurse, admin, tmp_path):
    from poems_monitor.services.backup import backup_to, restore_from
    from poems_monitor.services.integrity import check
    from poems_monitor.services.patients import PatientInput, create_patient

    _clinic(db, nurse)
    backup = backup_to(db, admin, tmp_path / "saved.sqlite").path
    create_patient(db, nurse, PatientInput("B-LATER", "Added After Backup", "male", date(1970, 1, 1)), today=TODAY)
    assert _count(db, P) == 2

    result = restore_from(db_path, admin, backup)
    assert result.method == "online"
    assert result.replaced_kept_as is not None and result.replaced_kept_as.parent == db_path.parent
    # the live file holds the backup's data (the open engine sees it too)...
    with db.read() as s:
        assert s.execute(select(P.c.mrn).order_by(P.c.mrn)).scalars().all() == ["B-001"]
        last = s.execute(select(A).order_by(A.c.id.desc()).limit(1)).one()
    assert (last.action, last.user) == ("restore", admin.name) and "saved.sqlite" in last.new
    assert check(db) == []
    # ...and the replaced database is kept, whole, beside it
    conn = sqlite3.connect(result.replaced_kept_as)
    assert {r[0] for r in conn.execute("SELECT mrn FROM patient")} == {"B-001", "B-LATER"}
    conn.close()


def _corrupt(path: Path, table: str = "visit") -> None:
    """Overwrite the root page of `table` with garbage, as a disk fault would."""
    conn = sqlite3.connect(path)
    root, page = conn.execute("SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_master "
                              "WHERE name = ?", (table,)).fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page
    data[start:start + page] = bytes((i * 37 + 11) % 256 for i in range(page))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["damaged", "truncated", "not-sqlite", "foreign", "newer", "tampered-audit", "empty"])
def test_restore_of_a_bad_copy_is_refused_and_changes_nothing(kind, db, db_path, nurse, admin, tmp_path):
    from poems_monitor.services.backup import BackupRefused, backup_to, restore_from

    _clinic(db, nurse, visits=40)
    candidate = backup_to(db, admin, tmp_path / "candidate.sqlite").path
    if kind == "damaged":
        _corrupt(candidate)
    elif kind == "truncated":
        candidate.write_bytes(candidate.read_bytes()[: candidate.stat().st_size // 2])
    elif kind == "not-sqlite":
        candidate.write_text("this is a letter, not a database\n" * 100)
    elif kind == "foreign":
        candidate.unlink()
        conn = sqlite3.connect(candidate)
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
        conn.commit()
        conn.close()
    elif kind == "newer":
        conn = sqlite3.connect(candidate)
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        conn.commit()
        conn.close()
    elif kind == "tampered-audit":
        conn = sqlite3.connect(candidate)
        conn.execute("UPDATE audit_entry SET user = 'someone' WHERE id = 2")
        conn.commit()
        conn.close()
    elif kind == "empty":
        candidate.write_bytes(b"")
    before = _dump(db_path)
    files_before = sorted(p.name for p in db_path.parent.iterdir())
    with pytest.raises(BackupRefused) as refused:
        restore_from(db_path, admin, candidate)
    message = str(refused.value)
    assert "candidate.sqlite" in message and "changed" in message.lower()
    assert "\n" not in message and "Traceback" not in message
    assert _dump(db_path) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == files_before  # no replaced copy, no leftovers


def test_damaged_database_is_detected_on_open_and_the_newest_good_backup_offered(db, db_path, nurse, admin):
    from poems_monitor.persistence.db import DatabaseError, open_database
    from poems_monitor.persistence.sqlite_backup import quick_check
    from poems_monitor.services.backup import automatic_backup, newest_good_backup, restore_from
    from poems_monitor.services.integrity import check

    _clinic(db, nurse, visits=60)
    backup = automatic_backup(db).path
    db.dispose()
    # checkpoint so that the damage hits the main file, as after a disk fault
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    _corrupt(db_path)

    try:
        damaged = open_database(db_path)
    except DatabaseError:
        damaged = None  # refused outright: also a detection
    if damaged is not None:
        try:
            assert quick_check(damaged) or check(damaged)
        finally:
            damaged.dispose()
    assert newest_good_backup(db_path) == backup

    result = restore_from(db_path, admin, backup)
    assert result.method == "file swap"
    assert result.replaced_kept_as.exists()  # the damaged file is kept for a specialist
    restored = open_database(db_path)
    try:
        assert check(restored) == []
        assert _count(restored, V) == 60
    finally:
        restored.dispose()


def test_an_in_memory_database_is_not_backed_up(tmp_path, admin):
    """(A server database is backed up with pg_dump: test_pg_backup.)"""
    from poems_monitor.persistence.db import Database
    from poems_monitor.services.backup import BackupRefused, automatic_backup, backup_to
    from sqlalchemy import create_engine

    memory = Database(engine=create_engine("sqlite://"), url="sqlite://")
    assert automatic_backup(memory) is None
    with pytest.raises(BackupRefused, match="in-memory database has no file to copy"):
        backup_to(memory, Actor("root", Role.ADMIN), tmp_path / "x.sqlite")


def test_an_edited_rules_cache_neither_blocks_the_backup_nor_survives_its_restore(db, db_path, nurse, admin, tmp_path):
    """The rules cache is derived data. Edited by another process it is named by `check` of the
    live file; it does not make the daily backup fail (the record itself is sound), and a restore of
    that backup drops it, so the hidden flags come back from the rules, not from the edited row."""
    from poems_monitor.models import RulesCache
    from poems_monitor.services.backup import backup_to, restore_from
    from poems_monitor.services.integrity import check
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
    from poems_monitor.services.worklist import build_worklist

    _clinic(db, nurse, visits=3)
    record_visit(db, nurse, "B-001", VisitInput(date(2021, 1, 1), values=(EnteredValue("platelets", 612, "10*9/L"),)),
                 today=TODAY)
    build_worklist(db, TODAY)  # fills the cache
    flags_before = _cache_flags(db_path)
    assert flags_before and flags_before != "[]"
    conn = sqlite3.connect(db_path)  # another process hides the patient's flags
    conn.execute("UPDATE rules_cache SET flags = '[]'")
    conn.commit()
    conn.close()
    assert any("table rules_cache" in p and "flags differ" in p for p in check(db))

    backup = backup_to(db, admin, tmp_path / "with-edited-cache.sqlite").path  # not refused
    assert _cache_flags(backup) == "[]"  # a faithful copy, edited cache included
    restore_from(db_path, admin, backup)
    assert _count(db, RulesCache.__table__) == 0  # dropped: rebuilt from the record when next needed
    assert check(db) == []
    build_worklist(db, TODAY)
    assert _cache_flags(db_path) == flags_before


def _cache_flags(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT flags FROM rules_cache").fetchone()[0]
    finally:
        conn.close()
