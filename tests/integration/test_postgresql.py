"""The same record on a real PostgreSQL server: migrations, import, export and the audit chain.

The shared clinic database of several workstations will be PostgreSQL; this keeps the way open.
The tests run on the session's throwaway server (tests/pg_server.py, TLS from a certificate made at
set-up), each in a fresh database; they are skipped, saying why, where no server binaries exist.
"""

from __future__ import annotations

from tests.conftest import TODAY


# `pg_url` (a fresh database on the session's throwaway TLS server) is in conftest.py.


def test_demo_clinic_round_trips_identically_on_postgresql(pg_url, tmp_path, admin):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.audit import verify_chain
    from poems_monitor.services.demo_clinic import generate_patients
    from poems_monitor.services.timeline_io import export_timeline, import_patients

    patients = generate_patients(8, seed=11, today=TODAY)
    pg = open_database(pg_url)
    lite = open_database(tmp_path / "clinic.sqlite")
    try:
        import_patients(pg, patients, admin, reason="test")
        import_patients(lite, patients, admin, reason="test")
        on_pg, on_sqlite = export_timeline(pg), export_timeline(lite)
        assert len(on_pg["patients"]) == 8
        assert on_pg == on_sqlite
        with pg.read() as session:
            assert verify_chain(session) == []
        # a second import adds nothing and reopening finds the schema current
        summary = import_patients(pg, patients, admin, reason="again")
        assert summary.patients_unchanged == 8 and summary.values_added == 0
        pg.dispose()
        pg = open_database(pg_url)
        assert export_timeline(pg) == on_pg
    finally:
        pg.dispose()
        lite.dispose()


def test_the_streamed_file_export_from_postgresql_writes_the_sqlite_file_byte_for_byte(pg_url, tmp_path, admin):
    """The file export streams each table from a server-side cursor: the same bytes as from
    SQLite (dates arrive as date objects, booleans as booleans there), and the same again after
    the file is imported into a new SQLite clinic."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.demo_clinic import generate_patients
    from poems_monitor.services.timeline_io import export_timeline_file, import_patients, import_timeline_file

    patients = generate_patients(6, seed=5, today=TODAY)
    pg = open_database(pg_url)
    lite = open_database(tmp_path / "clinic.sqlite")
    again = open_database(tmp_path / "again.sqlite")
    try:
        import_patients(pg, patients, admin, reason="test")
        import_patients(lite, patients, admin, reason="test")
        assert export_timeline_file(pg, tmp_path / "pg.json") == 6
        export_timeline_file(lite, tmp_path / "lite.json")
        from_pg = (tmp_path / "pg.json").read_bytes()
        assert from_pg == (tmp_path / "lite.json").read_bytes()
        import_timeline_file(again, tmp_path / "pg.json", admin)
        export_timeline_file(again, tmp_path / "again.json")
        assert (tmp_path / "again.json").read_bytes() == from_pg
        one = patients[2].mrn
        export_timeline_file(pg, tmp_path / "one-pg.json", mrn=one)
        export_timeline_file(lite, tmp_path / "one-lite.json", mrn=one)
        assert (tmp_path / "one-pg.json").read_bytes() == (tmp_path / "one-lite.json").read_bytes()
        assert one.encode() in (tmp_path / "one-pg.json").read_bytes()
    finally:
        pg.dispose()
        lite.dispose()
        again.dispose()


def test_correcting_a_visit_on_postgresql_keeps_the_old_value(pg_url, admin):
    from datetime import date

    from sqlalchemy import select

    from poems_monitor.models import Observation
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit

    db = open_database(pg_url)
    try:
        create_patient(db, admin, PatientInput("PG-1", "Test Patient", "female", date(1970, 1, 1)), today=TODAY)
        saved = record_visit(db, admin, "PG-1", VisitInput(date(2026, 1, 5), (EnteredValue("platelets", 420, "10*9/L"),)),
                             today=TODAY)
        correct_visit(db, admin, saved.visit_id, saved.version,
                      VisitInput(date(2026, 1, 5), (EnteredValue("platelets", 402, "10*9/L"),)), "typing error", today=TODAY)
        with db.read() as session:
            rows = session.execute(select(Observation.__table__).where(
                Observation.__table__.c.visit_id == saved.visit_id).order_by(Observation.__table__.c.id)).all()
        assert [(r.value_num, r.superseded_reason) for r in rows] == [(420.0, "typing error"), (402.0, None)]
    finally:
        db.dispose()


def test_copy_on_postgresql_stores_what_core_inserts_store(pg_server, admin, monkeypatch):
    """The import's bulk rows (values, features, exams) and the seal's fingerprints go in with
    COPY on a server (persistence.bulk_insert): every column of every row as the server holds it
    (rendered as text) is what Core's executemany stores, and `check` finds the record sealed."""
    from datetime import datetime, timezone

    import psycopg
    from sqlalchemy import text

    from poems_monitor.persistence import bulk_insert
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services import timeline_io
    from poems_monitor.services.clinic_server import upgrade_server
    from poems_monitor.services.demo_clinic import generate_patients
    from poems_monitor.services.integrity import check
    from poems_monitor.services.timeline_io import import_patients

    monkeypatch.setattr(timeline_io, "utcnow", lambda: datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=timezone.utc))
    patients = generate_patients(4, seed=3, today=TODAY)
    copies: list[str] = []
    real_copy = psycopg.Cursor.copy

    def counting(cursor, statement, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        copies.append(str(statement))
        return real_copy(cursor, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", counting)

    def stored(copy: bool) -> dict[str, list]:
        monkeypatch.setattr(bulk_insert, "POSTGRES_COPY", copy)
        name = pg_server.fresh_database("copy")
        db = open_database(pg_server.url(name), migrate=False)
        try:
            upgrade_server(db)
            import_patients(db, patients, admin, reason="same")
            assert check(db) == []
            out = {}
            with db.read() as session:
                for table in ("observation", "feature_status", "exam", "record_seal"):
                    out[table] = session.execute(text(f"SELECT t::text FROM {table} t ORDER BY 1")).scalars().all()
            return out
        finally:
            db.dispose()
            pg_server.drop(name)

    copied = stored(True)
    assert {c.split()[1] for c in copies} >= {"observation", "feature_status", "exam", "record_seal"}
    copies.clear()
    core = stored(False)
    assert copies == []
    assert len(copied["observation"]) == sum(len(v.observations) for p in patients for v in p.visits)
    assert copied == core
