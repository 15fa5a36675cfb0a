"""`check`, the audit chain head and the backup refusal on a shared PostgreSQL clinic database
(the throwaway server of conftest.py; skipped where no server binaries exist)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text


pytestmark = pytest.mark.slow
TODAY = date(2026, 11, 21)


def test_check_on_postgresql_finds_a_tampered_trail_and_backups_are_pg_dumps(pg_url, admin, tmp_path):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import backup_to
    from poems_monitor.services.integrity import check, check_report
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    db = open_database(pg_url)
    try:
        create_patient(db, admin, PatientInput("PGI-1", "Server Person", "male", date(1960, 1, 1)), today=TODAY)
        record_visit(db, admin, "PGI-1", VisitInput(date(2025, 1, 5), (EnteredValue("platelets", 300, "10*9/L"),)),
                     today=TODAY)
        report = check_report(db)
        assert report.problems == [] and any("server guarantees" in n for n in report.notes)

        made = backup_to(db, admin, tmp_path / "copy.pgdump")  # pg_dump's custom format (test_pg_backup)
        assert made.path.read_bytes()[:5] == b"PGDMP"

        with db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_entry SET \"user\" = 'intruder' WHERE id = (SELECT min(id) FROM audit_entry)"))
        problems = check(db)
        assert any("was changed after it was written" in p for p in problems)
    finally:
        db.dispose()
