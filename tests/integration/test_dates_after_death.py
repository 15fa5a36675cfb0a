"""Dates that cannot be (issue 9, defect 11): nothing is recorded after a recorded death, a death
is not dated before what is recorded, and there is one death. Each refusal names the field and
says why, and changes nothing (real SQLite file)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from poems_monitor.domain.lab_csv import RowStatus
from poems_monitor.domain.timeline import EventRecord, TreatmentRecord
from poems_monitor.services.errors import InputRefused
from poems_monitor.services.lab_import import preview_lab_csv
from poems_monitor.services.patients import PatientInput, add_event, add_treatment, create_patient
from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit

from ..conftest import TODAY

DIED = date(2024, 2, 10)
AFTER = "is after the recorded death on 2024-02-10: nothing can be recorded after a death"


@pytest.fixture
def deceased(db, admin):
    create_patient(db, admin, PatientInput("D-1", "Ada Byron", "female", date(1950, 1, 1), date(2023, 1, 5)), today=TODAY)
    saved = record_visit(db, admin, "D-1", VisitInput(date(2024, 1, 15), (EnteredValue("platelets", 300, "10*9/L"),)),
                         today=TODAY)
    add_treatment(db, admin, "D-1", TreatmentRecord("lenalidomide_dexamethasone", date(2023, 2, 1), thromboprophylaxis="aspirin"),
                  today=TODAY)
    add_event(db, admin, "D-1", EventRecord("death", DIED, "died at home"), today=TODAY)
    return saved


def counts(db) -> dict[str, int]:
    with db.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("visit", "observation", "treatment", "event", "audit_entry")}


def refused(call) -> list[tuple[str, str]]:  # noqa: ANN001
    with pytest.raises(InputRefused) as caught:
        call()
    return [(p.field, p.message) for p in caught.value.problems]


def test_a_visit_after_death_is_refused_and_nothing_changes(db, admin, deceased):
    before = counts(db)
    problems = refused(lambda: record_visit(db, admin, "D-1", VisitInput(date(2024, 3, 1), (
        EnteredValue("platelets", 280, "10*9/L"),)), today=TODAY))
    assert problems == [("date", "Visit date 2024-03-01 " + AFTER + "; check the date (or the date of death)")]
    problems = refused(lambda: correct_visit(db, admin, deceased.visit_id, deceased.version, VisitInput(
        date(2024, 2, 11), (EnteredValue("platelets", 300, "10*9/L"),)), "wrong date typed", today=TODAY))
    assert [f for f, _ in problems] == ["date"] and AFTER in problems[0][1]
    assert counts(db) == before
    record_visit(db, admin, "D-1", VisitInput(DIED, (EnteredValue("platelets", 250, "10*9/L"),)), today=TODAY)  # the day itself


def test_a_treatment_or_event_after_death_is_refused(db, admin, deceased):
    before = counts(db)
    problems = refused(lambda: add_treatment(db, admin, "D-1", TreatmentRecord(
        "bortezomib_dexamethasone", date(2024, 1, 20), date(2024, 3, 1)), today=TODAY))
    assert problems == [("stop", "Bortezomib–dexamethasone stop 2024-03-01 " + AFTER
                         + "; check the date (or the date of death)")]
    problems = refused(lambda: add_event(db, admin, "D-1", EventRecord("hospitalisation", date(2024, 2, 20)), today=TODAY))
    assert [f for f, _ in problems] == ["date"] and problems[0][1].startswith("Event date 2024-02-20 " + AFTER)
    problems = refused(lambda: add_event(db, admin, "D-1", EventRecord("death", date(2024, 2, 12)), today=TODAY))
    assert problems == [("date", "Second death: a death is already recorded on 2024-02-10: "
                                 "a second death on 2024-02-12 cannot be")]
    assert counts(db) == before


def test_a_death_before_a_recorded_visit_is_refused(db, admin):
    create_patient(db, admin, PatientInput("D-2", "Bo Lind", "male", date(1960, 1, 1)), today=TODAY)
    record_visit(db, admin, "D-2", VisitInput(date(2024, 5, 2)), today=TODAY)
    problems = refused(lambda: add_event(db, admin, "D-2", EventRecord("death", date(2024, 4, 30)), today=TODAY))
    assert problems == [("date", "Death on 2024-04-30 is before the visit on 2024-05-02: a death must be the last "
                                 "entry; correct that record or the date of death first")]


def test_a_lab_value_after_death_is_an_invalid_row(db, admin, deceased):
    preview = preview_lab_csv(db, "mrn,date,code,value,unit\nD-1,2024-01-15,hemoglobin,12.1,g/dL\n"
                                  "D-1,2024-03-01,platelets,250,10*9/L\n", "iso", today=TODAY)
    ok, late = preview.rows
    assert ok.status is RowStatus.NEW and late.status is RowStatus.INVALID
    assert (late.problems[0].column, late.problems[0].rule) == ("date", "after_death") and "D-1: a value dated 2024-03-01 " + AFTER in late.problems[0].message


def test_a_timeline_file_with_records_after_its_death_is_refused_with_json_paths():
    from poems_monitor.domain.timeline_json import parse_timeline

    doc = {"format": "poems-monitor/timeline", "version": 1, "patients": [{
        "mrn": "D-3", "name": "Cy Young", "sex": "male", "birth_date": "1950-01-01",
        "visits": [{"date": "2024-01-10"}, {"date": "2024-02-11"}],
        "treatments": [{"regimen": "asct", "start": "2024-01-20", "engraftment_date": "2024-02-12"}],
        "events": [{"type": "death", "date": "2024-02-10"}, {"type": "death", "date": "2024-02-14"},
                   {"type": "relapse", "date": "2024-02-10"}]}]}
    _, problems = parse_timeline(doc, TODAY)
    assert [p.path for p in problems] == [
        "$.patients[0].events[1].date", "$.patients[0].visits[1].date",
        "$.patients[0].treatments[0].engraftment_date"]
    assert problems[0].message == "a death is already recorded on 2024-02-10: a second death on 2024-02-14 cannot be"
    assert problems[2].message.startswith("High-dose melphalan with ASCT engraftment date 2024-02-12 is after the "
                                          "recorded death on 2024-02-10")
