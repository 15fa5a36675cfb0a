"""The audit trail is tamper-evident: a row of it edited, deleted or inserted directly in the
SQLite file (bypassing the app) is found by `poems-monitor check`, run as a person would run it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

TODAY = date(2026, 11, 21)


@pytest.fixture
def clinic(db, db_path, nurse, physician, tmp_path) -> Path:
    """A small clinic with a dozen audit entries, closed and copied to a pristine file."""
    from poems_monitor.persistence.sqlite_backup import online_copy
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.review import sign_off_visit
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit

    create_patient(db, nurse, PatientInput("A-001", "Audit Person", "female", date(1970, 1, 1)), today=TODAY)
    for month in range(1, 5):
        saved = record_visit(db, nurse, "A-001", VisitInput(date(2025, month, 3), values=(
            EnteredValue("platelets", 300 + month, "10*9/L"),)), today=TODAY)
    saved = correct_visit(db, nurse, saved.visit_id, 1, VisitInput(date(2025, 4, 3), values=(
        EnteredValue("platelets", 333, "10*9/L"),)), "typing error", today=TODAY)
    sign_off_visit(db, physician, saved.visit_id, saved.version)
    pristine = tmp_path / "pristine.sqlite"
    online_copy(db, pristine)
    return pristine


def _tampered(pristine: Path, tmp_path: Path, name: str, *statements: str) -> Path:
    target = tmp_path / f"{name}.sqlite"
    target.write_bytes(pristine.read_bytes())
    conn = sqlite3.connect(target)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()
    return target


def _check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poems_monitor", "check", "--db", str(path)],
                          capture_output=True, text=True, timeout=120)


def _audit_ids(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM audit_entry ORDER BY id")]
    finally:
        conn.close()


def test_untouched_trail_is_sound(clinic):
    result = _check(clinic)
    assert result.returncode == 0, result.stderr
    assert "is sound" in result.stdout and "audit entries verified" in result.stdout


@pytest.mark.slow
def test_edited_deleted_and_inserted_rows_are_each_detected(clinic, tmp_path):
    ids = _audit_ids(clinic)
    assert len(ids) >= 7
    middle = ids[len(ids) // 2]
    cases = {
        "edited": ("UPDATE audit_entry SET new = replace(new, '333', '334') WHERE action = 'correct'",
                   "was changed after it was written"),
        "edited-user": (f"UPDATE audit_entry SET user = 'somebody-else' WHERE id = {middle}",
                        f"audit entry {middle} was changed after it was written"),
        "deleted": (f"DELETE FROM audit_entry WHERE id = {middle}",
                    f"audit entry {ids[ids.index(middle) + 1]} does not follow the entry before it"),
        "inserted": ("INSERT INTO audit_entry (at, user, action, entity, entity_id, patient_id, old, new, reason, prev_hash, hash) "
                     f"SELECT at, 'intruder', action, entity, entity_id, patient_id, old, new, reason, prev_hash, hash "
                     f"FROM audit_entry WHERE id = {ids[2]}",
                     "audit entry"),
        "deleted-newest": (f"DELETE FROM audit_entry WHERE id = {ids[-1]}", "the newest audit entries were removed"),
    }
    for name, (statement, expected) in cases.items():
        path = _tampered(clinic, tmp_path, name, statement)
        result = _check(path)
        assert result.returncode == 1, f"{name}: {result.stdout}{result.stderr}"
        assert expected in result.stderr, f"{name}: {result.stderr}"
        assert "is damaged" in result.stderr and "Traceback" not in result.stderr


def test_detection_in_process_names_each_broken_entry(clinic, tmp_path):
    """The same checks without a subprocess, for every single row of the trail."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.integrity import check

    ids = _audit_ids(clinic)
    for entry_id in ids:
        for statement in (f"UPDATE audit_entry SET reason = 'edited' WHERE id = {entry_id}",
                          f"DELETE FROM audit_entry WHERE id = {entry_id}"):
            path = _tampered(clinic, tmp_path, f"row{entry_id}", statement)
            db = open_database(path, migrate=False)
            try:
                assert check(db), f"{statement} was not detected"
            finally:
                db.dispose()
            path.unlink()


def test_clinical_writes_keep_the_chain_and_its_head(db, nurse):
    from poems_monitor.services.audit import HEAD_SETTING_KEY
    from poems_monitor.services.integrity import check
    from poems_monitor.services.patients import PatientInput, create_patient
    from sqlalchemy import text

    for i in range(3):
        create_patient(db, nurse, PatientInput(f"H-{i:03d}", "Head Test", "male", date(1980, 1, 1)), today=TODAY)
    with db.read() as s:
        head = s.execute(text("SELECT value FROM clinic_setting WHERE key = :k"), {"k": HEAD_SETTING_KEY}).scalar_one()
        last = s.execute(text("SELECT id || ':' || hash FROM audit_entry ORDER BY id DESC LIMIT 1")).scalar_one()
    assert head == last
    assert check(db) == []
