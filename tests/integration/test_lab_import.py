"""Lab CSV import against a real SQLite file: preview statuses from stored values, all rows or
none, censored values stored with their qualifier, visits created, audit entries per patient."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from poems_monitor.domain.lab_csv import RowStatus
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.access import Actor, PermissionDenied, Role
from poems_monitor.services.audit import verify_chain
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.lab_import import LabImportRefused, import_lab_csv, preview_lab_csv, problem_messages
from poems_monitor.services.timeline_io import export_timeline, import_patients
from tests.conftest import TODAY

TABLES = ("visit", "observation", "audit_entry")


@pytest.fixture
def clinic(db, admin):
    patients = generate_patients(3, 5, TODAY)
    import_patients(db, patients, admin, reason="demo clinic for tests")
    with db.read() as session:
        stored = load_timelines(session)
    return db, stored


def counts(db) -> dict[str, int]:
    with db.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def fixture_rows(stored):  # noqa: ANN001
    """CSV rows (semicolon file, decimal commas, dmy dates) of each status for the first patient."""
    p = stored[0]
    visit = next(v for v in p.visits if v.value("platelets") is not None and v.value("hemoglobin") is not None
                 and v.value("pth") is None)
    plt = visit.value("platelets").value
    hb = visit.value("hemoglobin").value
    other = stored[1]
    other_day = max(v.date for v in other.visits) + timedelta(days=2)
    dmy = visit.date.strftime("%d/%m/%Y")
    free_day = max(v.date for v in p.visits) + timedelta(days=3)
    assert free_day <= TODAY and other_day <= TODAY
    rows = {
        "duplicate": f"{p.mrn};{dmy};777-3;{plt:g};10*3/uL;",
        "conflicting": f"{p.mrn};{dmy};hemoglobin;{hb + 1:g};g/dL;",
        "new_same_visit": f"{p.mrn};{dmy};pth;42,5;pg/mL;",
        "new_visit_censored": f"{p.mrn};{free_day:%d/%m/%Y};75628-8;<31;pg/mL;plasma",
        "new_visit_second": f"{p.mrn};{free_day:%d/%m/%Y};hemoglobin;135;g/L;",
        "other_patient": f"{other.mrn};{other_day:%d/%m/%Y};ife;lambda;;",
    }
    return p, visit, free_day, rows


def csv_text(*rows: str) -> str:
    return "\ufeffmrn;date;code;value;unit;specimen\r\n" + "\r\n".join(rows) + "\r\n"


def test_preview_sets_every_status_from_the_stored_values(clinic):
    db, stored = clinic
    _p, _visit, _day, rows = fixture_rows(stored)
    before = counts(db)
    preview = preview_lab_csv(db, csv_text(*rows.values(), "H-NOPE;01/01/2024;platelets;400;10*9/L;"), "dmy", TODAY)
    statuses = [r.status for r in preview.rows]
    assert statuses == [RowStatus.DUPLICATE, RowStatus.CONFLICTING, RowStatus.NEW, RowStatus.NEW, RowStatus.NEW,
                        RowStatus.NEW, RowStatus.INVALID]
    assert preview.rows[1].stored == f"{_visit.value('hemoglobin').value:g} g/dL"
    assert preview.rows[-1].problems[0].rule == "unknown_mrn"
    assert not preview.importable
    messages = problem_messages(preview)
    assert len(messages) == 2
    assert messages[0].startswith("line 3:") and "conflicting" in messages[0]
    assert messages[1].startswith("line 8, column mrn:")
    assert counts(db) == before  # a preview writes nothing


def test_conflict_or_invalid_row_refuses_the_whole_file(clinic, admin):
    db, stored = clinic
    _p, _visit, _day, rows = fixture_rows(stored)
    before = counts(db)
    with pytest.raises(LabImportRefused) as refused:
        import_lab_csv(db, admin, csv_text(*rows.values()), "dmy", today=TODAY)
    assert [r.status for r in refused.value.preview.bad_rows()] == [RowStatus.CONFLICTING]
    assert counts(db) == before
    good = [v for k, v in rows.items() if k != "conflicting"]
    with pytest.raises(LabImportRefused):
        import_lab_csv(db, admin, csv_text(*good, good[-1].replace("lambda", "nonsense")), "dmy", today=TODAY)
    assert counts(db) == before


def test_import_stores_new_rows_in_one_go(clinic, nurse, admin):
    db, stored = clinic
    # a nurse account must exist for the nurse to act; the service checks the role only
    p, visit, free_day, rows = fixture_rows(stored)
    good = [v for k, v in rows.items() if k != "conflicting"]
    before = counts(db)
    summary = import_lab_csv(db, nurse, csv_text(*good), "dmy", source="lab-2026-11.csv", today=TODAY)
    assert summary.values_added == 4
    assert summary.duplicates_skipped == 1
    assert summary.visits_created == 2  # first patient's free day, and the second patient's
    assert sorted(summary.patients) == sorted([p.mrn, stored[1].mrn])
    after = counts(db)
    assert after["observation"] == before["observation"] + 4
    assert after["visit"] == before["visit"] + 2
    assert after["audit_entry"] == before["audit_entry"] + 2  # one per patient

    with db.read() as session:
        now = {t.mrn: t for t in load_timelines(session)}
        audit = session.execute(text("SELECT * FROM audit_entry ORDER BY id DESC LIMIT 2")).mappings().all()
        version = session.execute(text("SELECT version, updated_by FROM visit WHERE id = :id"), {"id": visit.visit_id}).one()
        assert verify_chain(session) == []
    first = now[p.mrn]
    same_visit = next(v for v in first.visits if v.date == visit.date)
    pth = same_visit.value("pth")
    assert (pth.value, pth.entered_value, pth.unit) == (42.5, 42.5, "pg/mL")
    new_visit = next(v for v in first.visits if v.date == free_day)
    vegf = new_visit.value("vegf_plasma")
    assert (vegf.value, vegf.qualifier, vegf.specimen) == (31.0, "<", "plasma")
    hb = new_visit.value("hemoglobin")
    assert (hb.value, hb.entered_value, hb.entered_unit) == (13.5, 135.0, "g/L")
    assert [o.code for o in same_visit.observations].count("platelets") == 1  # the duplicate was skipped
    assert now[stored[1].mrn].visits[-1].value("ife").value == "lambda"
    assert version.version == 2 and version.updated_by == nurse.name  # an open entry form must reload
    assert {a["user"] for a in audit} == {nurse.name}
    assert all(a["action"] == "import" and "lab-2026-11.csv" in a["reason"] for a in audit)

    # the censored value travels into the timeline export
    doc = export_timeline(db, p.mrn)
    exported = next(v for v in doc["patients"][0]["visits"] if v["date"] == free_day.isoformat())
    assert {"code": "vegf_plasma", "value": 31, "unit": "pg/mL", "specimen": "plasma", "qualifier": "<"} in exported["observations"]

    # the same file again: every row is now a duplicate, and importing it changes nothing
    again = preview_lab_csv(db, csv_text(*good), "dmy", TODAY)
    assert {r.status for r in again.rows} == {RowStatus.DUPLICATE}
    assert import_lab_csv(db, nurse, csv_text(*good), "dmy", today=TODAY).values_added == 0
    assert counts(db)["observation"] == after["observation"]


def test_stored_censored_value_is_a_duplicate_only_with_the_same_qualifier(clinic, admin):
    db, stored = clinic
    mrn = stored[2].mrn
    day = stored[2].visits[-1].date + timedelta(days=1)
    line = f"{mrn};{day:%d/%m/%Y};vegf_serum;<100;pg/mL;serum"
    import_lab_csv(db, admin, csv_text(line), "dmy", today=TODAY)
    assert preview_lab_csv(db, csv_text(line), "dmy", TODAY).rows[0].status is RowStatus.DUPLICATE
    plain = preview_lab_csv(db, csv_text(line.replace("<100", "100")), "dmy", TODAY)
    assert plain.rows[0].status is RowStatus.CONFLICTING and plain.rows[0].stored == "<100 pg/mL"


def test_rows_before_birth_or_in_the_future_are_invalid(clinic):
    db, stored = clinic
    p = stored[0]
    before_birth = p.birth_date - timedelta(days=1)
    preview = preview_lab_csv(db, csv_text(
        f"{p.mrn};{before_birth:%d/%m/%Y};platelets;300;10*9/L;",
        f"{p.mrn};{TODAY + timedelta(days=1):%d/%m/%Y};platelets;300;10*9/L;",
    ), "dmy", TODAY)
    assert [r.problems[0].rule for r in preview.rows] == ["before_birth", "future_date"]


def test_import_needs_the_record_permission(clinic):
    db, stored = clinic

    class Viewer(Actor):
        def may(self, permission):  # noqa: ANN001, ANN201
            return False

    with pytest.raises(PermissionDenied):
        import_lab_csv(db, Viewer("guest", Role.NURSE), csv_text(f"{stored[0].mrn};01/01/2024;platelets;300;10*9/L;"),
                       "dmy", today=TODAY)


def test_preview_is_set_based(clinic):
    """A thousand rows over every visit of the clinic take a handful of queries, not one per row."""
    db, stored = clinic
    from sqlalchemy import event

    lines = [f"{p.mrn};{v.date:%d/%m/%Y};platelets;{v.value('platelets').value:g};10*9/L;"
             for p in stored for v in p.visits if v.value("platelets") is not None]
    statements = []

    def count(*_args):  # noqa: ANN002
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        preview = preview_lab_csv(db, csv_text(*lines), "dmy", TODAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert {r.status for r in preview.rows} == {RowStatus.DUPLICATE}
    assert len(statements) <= 6
