"""Opening the clinic database: migrations on an empty and an existing file, refusal of files this
version must not touch, and the SQLite connection settings. Real files in tmp_path."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import poems_monitor.models  # noqa: F401  (registers every table)
from poems_monitor.persistence.db import DatabaseError, known_revisions, open_database
from poems_monitor.services.patients import PatientInput, create_patient, list_patients
from tests.conftest import TODAY

OLD_CLINIC = Path(__file__).parent.parent / "data" / "clinic-0.1.0-schema-0003.db"

# The record of issue 2: these tables must exist in every clinic database.
REQUIRED_TABLES = {"patient", "visit", "observation", "feature_status", "exam", "treatment", "event", "audit_entry"}


def _tables(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder and its bytes (the database and any -wal/-shm beside it)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _close_cleanly(path: Path) -> None:
    """Checkpoint the WAL into the main file so that the file alone holds the database."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


# --- migrations ---------------------------------------------------------------------------------

def test_migration_on_an_empty_database_creates_every_table(db_path):
    assert not db_path.exists()
    db = open_database(db_path)
    db.dispose()
    tables = _tables(db_path)
    assert REQUIRED_TABLES <= tables
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrated_schema_matches_the_models(db):
    """Every column the models declare exists in the migrated database (migration and models in step)."""
    with db.read() as session:
        inspector = inspect(session.connection())
        for name, table in SQLModel.metadata.tables.items():
            columns = {c["name"] for c in inspector.get_columns(name)}
            missing = {c.name for c in table.columns} - columns
            assert not missing, f"table {name} lacks columns {missing}: a migration is missing"


def test_migration_records_the_head_revision(db_path):
    revisions, head = known_revisions()
    assert head in revisions
    db = open_database(db_path)
    db.dispose()
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
    con.close()
    assert rows == [(head,)]


def _values_query_plans(db) -> list[str]:  # noqa: ANN001
    """SQLite's plan of each query of observations that loading the clinic's timelines, and one
    patient's, runs (caught as the driver runs them)."""
    from poems_monitor.persistence.repositories.timelines import load_timelines

    with db.read() as session:
        driver = session.connection().connection.driver_connection
        ran: list[str] = []
        driver.set_trace_callback(lambda sql: ran.append(sql) if "FROM observation" in sql else None)
        try:
            load_timelines(session)
            load_timelines(session, patient_ids=[1])
        finally:
            driver.set_trace_callback(None)
        return [" | ".join(row[-1] for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                for sql in ran]


def test_timelines_read_the_values_in_index_order_after_the_upgrade_from_0008(db_path, nurse):
    """Schema 0009 indexes observation (visit_id, id), the order in which timelines are read: a
    clinic at 0008 upgraded reads its values without sorting them (issue 13), and stays sound."""
    from poems_monitor.persistence.db import downgrade
    from poems_monitor.services.integrity import check

    db = open_database(db_path)
    create_patient(db, nurse, PatientInput("H-1", "Ada Keller", "female", date(1970, 1, 2), date(2020, 5, 6)), today=TODAY)
    downgrade(db, "0008")
    db.dispose()
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT name FROM sqlite_master WHERE name = 'ix_observation_visit_id'").fetchall() == []

    db = open_database(db_path)  # upgrades 0008 -> head
    try:
        plans = _values_query_plans(db)
        assert len(plans) == 2  # the whole clinic's values, one patient's
        for plan in plans:
            assert "ix_observation_visit_id" in plan and "TEMP B-TREE" not in plan, plan
        assert check(db) == []
    finally:
        db.dispose()


def test_an_empty_file_is_a_new_database(db_path):
    db_path.write_bytes(b"")
    db = open_database(db_path)
    db.dispose()
    assert REQUIRED_TABLES <= _tables(db_path)


def test_sqlalchemy_url_is_accepted(db_path):
    db = open_database(f"sqlite:///{db_path}")
    try:
        assert db.path == db_path
        assert db.describe() == str(db_path)
    finally:
        db.dispose()
    assert REQUIRED_TABLES <= _tables(db_path)


def test_reopening_an_existing_database_keeps_its_data(db_path, nurse):
    db = open_database(db_path)
    create_patient(db, nurse, PatientInput("H-1", "Ada Keller", "female", date(1970, 1, 2), date(2020, 5, 6)), today=TODAY)
    db.dispose()

    again = open_database(db_path)
    try:
        rows = list_patients(again)
        assert [(r.mrn, r.name, r.sex, r.birth_date, r.diagnosis_date) for r in rows] == [
            ("H-1", "Ada Keller", "female", date(1970, 1, 2), date(2020, 5, 6))
        ]
        with again.read() as session:
            assert session.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() == 1
            assert session.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == known_revisions()[1]
    finally:
        again.dispose()


# --- refusals -----------------------------------------------------------------------------------------

def test_a_database_from_a_newer_version_is_refused_and_left_unchanged(db_path, nurse):
    db = open_database(db_path)
    create_patient(db, nurse, PatientInput("H-1", "Ada Keller", "female", date(1970, 1, 2)), today=TODAY)
    db.dispose()
    con = sqlite3.connect(db_path)
    con.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    con.commit()
    con.close()
    _close_cleanly(db_path)
    before = _snapshot(db_path.parent)

    with pytest.raises(DatabaseError) as refused:
        open_database(db_path)

    message = str(refused.value)
    assert "newer version of poems-monitor" in message
    assert "9999_from_the_future" in message
    assert "Nothing was changed" in message
    assert known_revisions()[1] in message
    assert _snapshot(db_path.parent) == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_unchanged(db_path):
    content = b"mrn,date,code,value\nH-1,2020-01-01,platelets,512\n" * 20
    db_path.write_bytes(content)
    with pytest.raises(DatabaseError) as refused:
        open_database(db_path)
    assert str(refused.value) == f"{db_path} is not a poems-monitor database (not an SQLite file); nothing was changed"
    assert db_path.read_bytes() == content
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_another_programs_sqlite_database_is_refused_and_left_unchanged(db_path, journal_mode):
    con = sqlite3.connect(db_path)
    con.execute(f"PRAGMA journal_mode={journal_mode}")
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    con.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    con.commit()
    con.close()
    _close_cleanly(db_path)
    before = _snapshot(db_path.parent)

    with pytest.raises(DatabaseError) as refused:
        open_database(db_path)

    assert "invoices" in str(refused.value)
    assert "nothing was changed" in str(refused.value)
    assert _snapshot(db_path.parent) == before


# --- connection settings -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["read", "write"])
def test_pragmas_are_in_force(db, mode):
    with getattr(db, mode)() as session:
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert session.execute(text("PRAGMA journal_mode")).scalar_one().lower() == "wal"
        assert session.execute(text("PRAGMA busy_timeout")).scalar_one() >= 1000


def test_foreign_keys_are_enforced(db):
    with pytest.raises(IntegrityError):
        with db.write() as session:
            session.execute(text(
                "INSERT INTO visit (patient_id, date, note, created_at, created_by, version) "
                "VALUES (4242, '2020-01-01', '', '2020-01-01 00:00:00', 'x', 1)"
            ))
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM visit")).scalar_one() == 0


def test_a_failed_write_leaves_nothing(db, nurse):
    with pytest.raises(RuntimeError):
        with db.write() as session:
            session.execute(text(
                "INSERT INTO patient (mrn, mrn_key, name, sex, created_at, created_by, version) "
                "VALUES ('H-9', 'h-9', 'X', 'male', '2020-01-01 00:00:00', 'x', 1)"
            ))
            raise RuntimeError("power cut")
    assert list_patients(db) == []


def test_upgrading_to_0006_keys_mrns_without_case_and_keeps_patients_that_differ_only_by_case(db_path):
    """Before 0006 "H-1" and "h-1" could be two patients: both stay, the first keeps the plain key
    (so imports and entries meet it), the second a key naming its row; accounts start unlocked."""
    from poems_monitor.persistence.db import open_database, upgrade

    db = open_database(db_path, migrate=False)
    try:
        upgrade(db, "0003")
        with db.engine.begin() as conn:
            for mrn in ("H-1", "h-1", "K-2"):
                conn.execute(text("INSERT INTO patient (mrn, name, sex, created_at, created_by, version) "
                                  "VALUES (:mrn, 'X', 'male', '2020-01-01 00:00:00', 'x', 1)"), {"mrn": mrn})
            conn.execute(text("INSERT INTO app_user (name, role, password_hash, active, created_at) "
                              "VALUES ('ann', 'nurse', 'h', 1, '2020-01-01 00:00:00')"))
        upgrade(db)
        with db.engine.connect() as conn:
            keys = conn.execute(text("SELECT mrn, mrn_key FROM patient ORDER BY id")).all()
            users = conn.execute(text("SELECT failed_sign_ins, locked_until FROM app_user")).all()
    finally:
        db.dispose()
    assert [tuple(k) for k in keys] == [("H-1", "h-1"), ("h-1", "h-1#2"), ("K-2", "k-2")]
    assert [tuple(u) for u in users] == [(0, None)]


def test_a_clinic_file_written_by_the_previous_release_is_upgraded_with_its_records(tmp_path):
    """A clinic file as poems-monitor 0.1.0 wrote it (schema 0003: patients with visits, values,
    treatments, events and their audit trail) opened by this version: every migration since runs
    over real rows, including those that rebuild tables other rows point at, and the records and
    the audit chain come through whole."""
    import shutil

    from poems_monitor.services.integrity import check

    path = tmp_path / "clinic.sqlite"
    shutil.copyfile(OLD_CLINIC, path)
    tables = ("patient", "visit", "observation", "treatment", "event")
    with sqlite3.connect(path) as conn:
        before = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0003"

    db = open_database(path)  # upgrades 0003 -> head
    try:
        with db.read() as session:
            revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
            after = {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}
            dangling = session.execute(text("PRAGMA foreign_key_check")).fetchall()
        assert revision == known_revisions()[1]
        assert after == before and before["observation"] > 1000 and dangling == []
        assert check(db) == []
    finally:
        db.dispose()
