"""Where a value came from decides the `critical_value` flag (issue 10, defect 4; INTERFACES §3):
a critical value confirmed by a person in the visit form raises none; the same value arriving by
timeline import or lab CSV raises one. Real SQLite files; the migration's backfill is checked on
a database built at the previous schema."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from poems_monitor.domain.timeline import ObservationRecord, PatientRecord, VisitRecord
from poems_monitor.persistence.db import open_database
from poems_monitor.services.lab_import import import_lab_csv
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from poems_monitor.services.worklist import clinic_flags
from tests.conftest import TODAY


def critical_flags(db, mrn: str) -> list[tuple[str, str]]:
    return [(f.code, f.date.isoformat()) for f in clinic_flags(db, TODAY, mrn) if f.kind.value == "critical_value"]


def test_confirmed_entry_raises_no_critical_value_flag_and_import_does(db, nurse, admin):
    create_patient(db, nurse, PatientInput("H-1", "Entered Value", "female", date(1970, 1, 1), date(2024, 1, 1)), today=TODAY)
    record_visit(db, nurse, "H-1", VisitInput(date(2024, 3, 1), values=(
        EnteredValue("platelets", 1200, "10*9/L", confirmed=True),)), today=TODAY)
    assert critical_flags(db, "H-1") == []

    imported = PatientRecord("H-2", "Imported Value", "male", date(1960, 1, 1), date(2024, 1, 1), visits=(
        VisitRecord(date(2024, 3, 1), (ObservationRecord("platelets", 1200.0, "10*9/L", 1200.0, "10*9/L"),)),))
    import_patients(db, [imported], admin, reason="test")
    assert critical_flags(db, "H-2") == [("platelets", "2024-03-01")]

    import_lab_csv(db, nurse, "mrn,date,code,value,unit\r\nH-1,2024-06-01,glucose_fasting,560,mg/dL\r\n", "iso", today=TODAY)
    assert critical_flags(db, "H-1") == [("glucose_fasting", "2024-06-01")]
    (flag,) = [f for f in clinic_flags(db, TODAY, "H-1") if f.kind.value == "critical_value"]
    assert "no one confirmed it at entry" in flag.message and flag.severity.value == "critical"


def test_migration_backfills_values_entered_in_the_visit_form(db_path, nurse, admin):
    db = open_database(db_path)
    create_patient(db, nurse, PatientInput("H-1", "Entered Value", "female", date(1970, 1, 1), date(2024, 1, 1)), today=TODAY)
    record_visit(db, nurse, "H-1", VisitInput(date(2024, 3, 1), values=(
        EnteredValue("platelets", 1200, "10*9/L", confirmed=True),)), today=TODAY)
    import_lab_csv(db, nurse, "mrn,date,code,value,unit\r\nH-1,2024-06-01,platelets,1100,10*9/L\r\n", "iso", today=TODAY)
    # Back to the previous schema (as an old clinic file is), then reopened: the upgrade backfills.
    from poems_monitor.persistence.db import downgrade

    downgrade(db, "0004")
    with db.read() as session:
        columns = [r[1] for r in session.execute(text("PRAGMA table_info(observation)"))]
    assert "confirmed_at_entry" not in columns
    db.dispose()
    db = open_database(db_path)  # upgrades to head, backfilling from the audit trail
    with db.read() as session:
        rows = session.execute(text("SELECT value_num, confirmed_at_entry FROM observation ORDER BY id")).all()
    assert [(r[0], bool(r[1])) for r in rows] == [(1200.0, True), (1100.0, False)]
    assert critical_flags(db, "H-1") == [("platelets", "2024-06-01")]
    db.dispose()
