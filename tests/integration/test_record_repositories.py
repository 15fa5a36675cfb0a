"""The patient and course-record repositories (`persistence.repositories.patients` and
`.treatments`) on a real SQLite clinic: the patient list counts visits, a corrected MRN is found
by its new spelling only, a removed treatment or event is kept but found no more, and the date
of death ignores a removed death."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from poems_monitor.domain.timeline import EventRecord, TreatmentRecord
from poems_monitor.persistence.repositories import patients as patients_repo
from poems_monitor.persistence.repositories import treatments as treatments_repo
from poems_monitor.persistence.repositories.timelines import WriteStamp
from poems_monitor.services.patients import PatientInput, add_event, add_treatment, create_patient
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from tests.conftest import TODAY

STAMP = WriteStamp("nurse-bo", datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc))


@pytest.fixture
def clinic(db, nurse):
    anna = create_patient(db, nurse, PatientInput("H-2", "Anna Test", "female", date(1960, 5, 1)), today=TODAY)
    bert = create_patient(db, nurse, PatientInput("H-1", "Bert Test", "male", date(1950, 1, 1)), today=TODAY)
    for day in (date(2026, 1, 5), date(2026, 4, 5)):
        record_visit(db, nurse, "H-2", VisitInput(day, values=(EnteredValue("platelets", 300, "10*9/L"),)), today=TODAY)
    return db, anna, bert


def test_the_patient_list_is_in_mrn_order_with_last_visit_and_count(clinic):
    db, anna, bert = clinic
    with db.read() as session:
        rows = patients_repo.patient_list(session)
    assert [(r.id, r.mrn, r.last_visit, r.visit_count) for r in rows] == [
        (bert, "H-1", None, 0), (anna, "H-2", date(2026, 4, 5), 2)]


def test_a_corrected_identity_is_found_by_its_new_mrn_only(clinic):
    db, anna, _ = clinic
    with db.write() as session:
        row = patients_repo.patient_by_id(session, anna)
        patients_repo.save_patient(session, anna, dict(mrn="H-20", name="Anna Test", sex="female",
                                                       birth_date=row.birth_date, diagnosis_date=None), row.version + 1)
    with db.read() as session:
        assert patients_repo.find_patient(session, "h-20").id == anna  # the folded key moved with the MRN
        assert patients_repo.find_patient(session, "H-2") is None
        assert patients_repo.patient_by_id(session, anna).version == 2
        assert patients_repo.find_patient_by_id(session, anna + 100) is None


def test_a_removed_course_record_is_kept_but_found_no_more(clinic, nurse):
    db, anna, _ = clinic
    tid = add_treatment(db, nurse, "H-2", TreatmentRecord("radiotherapy", date(2026, 2, 1)), today=TODAY)
    eid = add_event(db, nurse, "H-2", EventRecord("other", date(2026, 2, 2), "fall"), today=TODAY)
    with db.write() as session:
        assert treatments_repo.current_treatment(session, tid).mrn == "H-2"
        treatments_repo.mark_deleted(session, "treatment", tid, 2, STAMP)
        treatments_repo.mark_deleted(session, "event", eid, 2, STAMP)
    with db.read() as session:
        assert treatments_repo.find_current(session, "treatment", tid) is None
        assert treatments_repo.find_current(session, "event", eid) is None
        with pytest.raises(KeyError, match=f"Treatment {tid} does not exist"):
            treatments_repo.current_treatment(session, tid)
        kept = session.execute(treatments_repo.treatment_table.select().where(
            treatments_repo.treatment_table.c.id == tid)).one()
    assert (kept.deleted_by, kept.version, kept.regimen) == ("nurse-bo", 2, "radiotherapy")


def test_the_date_of_death_is_the_earliest_not_removed(clinic, nurse):
    db, anna, bert = clinic
    eid = add_event(db, nurse, "H-1", EventRecord("death", date(2026, 3, 1), ""), today=TODAY)
    with db.read() as session:
        assert treatments_repo.date_of_death(session, bert) == date(2026, 3, 1)
        assert treatments_repo.date_of_death(session, anna) is None
    with db.write() as session:
        treatments_repo.mark_deleted(session, "event", eid, 2, STAMP)
    with db.read() as session:
        assert treatments_repo.date_of_death(session, bert) is None


def test_a_corrected_treatment_has_its_new_values_and_version(clinic, nurse):
    db, *_ = clinic
    tid = add_treatment(db, nurse, "H-2", TreatmentRecord("radiotherapy", date(2026, 2, 1)), today=TODAY)
    with db.write() as session:
        treatments_repo.save_treatment(session, tid, dict(stop=date(2026, 3, 1), note="course finished"), 2)
    with db.read() as session:
        row = treatments_repo.current_treatment(session, tid)
    assert (row.start, row.stop, row.note, row.version) == (date(2026, 2, 1), date(2026, 3, 1), "course finished", 2)
