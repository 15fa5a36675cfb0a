"""The desktop app's one door to the database (`services.clinic_database`): which target is a
file that can be checked before opening, the quick check on start, and the read-only opening of
a damaged clinic or a backup, which changes no byte of it."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date

import pytest

from poems_monitor.services.clinic_database import (
    DatabaseError, open_clinic_database, open_read_only, quick_check_problems, readable_clinic_file, sqlite_file,
)
from poems_monitor.services.patients import PatientInput, create_patient, list_patients
from tests.conftest import TODAY


@pytest.fixture
def clinic_file(db, db_path, nurse):
    create_patient(db, nurse, PatientInput("H-000123", "Anna Test", "female", date(1960, 5, 1)), today=TODAY)
    db.dispose()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean close
    conn.close()
    return db_path


def _digest(path) -> str:  # noqa: ANN001
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_only_an_existing_sqlite_file_is_checked_before_opening(tmp_path, clinic_file):
    assert sqlite_file(clinic_file) == clinic_file.resolve()
    assert sqlite_file(f"sqlite:///{clinic_file}") == clinic_file
    assert sqlite_file(tmp_path / "not-made-yet.sqlite") is None  # a new clinic: created on opening
    assert sqlite_file("postgresql://clinic@server/poems") is None  # checked by the server's own tools


def test_a_sound_clinic_passes_the_quick_check_and_a_damaged_one_names_its_problems(clinic_file):
    db = open_clinic_database(clinic_file)
    try:
        assert quick_check_problems(db) == []
    finally:
        db.dispose()
    conn = sqlite3.connect(clinic_file)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit_entry'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(clinic_file, "r+b") as fh:  # damage the audit table's first page: the patients stay readable
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\x00\xff" * 1500)
    damaged = open_read_only(clinic_file)
    try:
        problems = quick_check_problems(damaged)
    finally:
        damaged.dispose()
    assert problems and any("malformed" in p or "quick check" in p for p in problems)
    assert readable_clinic_file(clinic_file)  # so "open anyway, read-only" is offered


def test_a_clinic_opened_read_only_is_read_and_not_changed(clinic_file, nurse):
    before = _digest(clinic_file)
    db = open_read_only(clinic_file)
    try:
        assert [p.mrn for p in list_patients(db)] == ["H-000123"]
        with pytest.raises(Exception, match="readonly"):  # the file itself refuses a write
            create_patient(db, nurse, PatientInput("H-2", "Berta Test", "female", date(1970, 1, 1)), today=TODAY)
    finally:
        db.dispose()
    assert _digest(clinic_file) == before


def test_a_file_that_is_no_clinic_is_not_offered_for_reading_and_not_opened(tmp_path):
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"shopping list\n" * 200)
    assert readable_clinic_file(notes) is False
    with pytest.raises(DatabaseError):
        open_clinic_database(notes)


def test_a_files_audit_head_and_entry_hash_are_read_without_opening_it(clinic_file, tmp_path):
    from poems_monitor.persistence.repositories import audit as audit_trail
    from poems_monitor.persistence.sqlite_backup import file_audit_hash, file_audit_head

    db = open_clinic_database(clinic_file)
    try:
        with db.read() as session:
            head = audit_trail.newest_entry(session)
            first_hash = audit_trail.hash_of_entry(session, 1)
    finally:
        db.dispose()
    before = _digest(clinic_file)
    assert file_audit_head(clinic_file) == (head.id, head.hash)
    assert file_audit_hash(clinic_file, 1) == first_hash
    assert file_audit_hash(clinic_file, head.id + 1) is None
    assert _digest(clinic_file) == before
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"shopping list\n" * 200)
    assert file_audit_head(notes) is None and file_audit_hash(notes, 1) is None
