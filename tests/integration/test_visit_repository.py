"""Reading and correcting a visit through `persistence.repositories.visits`, on a real SQLite
clinic: the day lookup folds the MRN as every lookup does, "current" leaves out what a
correction replaced, and a save against a stale version changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from poems_monitor.domain.timeline import ExamRecord, ObservationRecord
from poems_monitor.persistence.repositories import visits as visits_repo
from poems_monitor.persistence.repositories.patients import patient_by_id
from poems_monitor.persistence.repositories.timelines import WriteStamp
from poems_monitor.services.access import Role
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from tests.conftest import TODAY

MRN = "H-000123"
EARLY, LATE = date(2026, 1, 10), date(2026, 3, 1)
STAMP = WriteStamp("nurse-bo", datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc))


@pytest.fixture
def clinic(db, nurse):
    pid = create_patient(db, nurse, PatientInput(MRN, "Anna Test", "female", date(1960, 5, 1)), today=TODAY)
    early = record_visit(db, nurse, MRN, VisitInput(EARLY, values=(EnteredValue("platelets", 300, "10*9/L"),),
                                                    features=(("ascites", "present"),)), today=TODAY)
    late = record_visit(db, nurse, MRN, VisitInput(LATE, values=(
        EnteredValue("platelets", 450, "10*9/L"), EnteredValue("hemoglobin", 120, "g/L")),
        features=(("ascites", "absent"),), exams=(ExamRecord("echo", "normal", ""),)), today=TODAY)
    return db, pid, early.visit_id, late.visit_id


def test_a_visit_is_found_by_day_and_by_mrn_whatever_its_case(clinic):
    db, pid, early, late = clinic
    with db.read() as session:
        assert visits_repo.visit_id_on(session, pid, LATE) == late
        assert visits_repo.visit_id_on(session, pid, date(2026, 2, 1)) is None
        assert visits_repo.visit_id_of_mrn_on(session, MRN.lower(), EARLY) == early
        assert visits_repo.visit_id_of_mrn_on(session, "H-404", EARLY) is None
        assert patient_by_id(session, pid).mrn == MRN


def test_the_newest_earlier_values_come_first(clinic):
    db, *_ = clinic
    with db.read() as session:
        values = visits_repo.latest_values_before(session, MRN, TODAY)
        only_early = visits_repo.latest_values_before(session, MRN, LATE)
        features = visits_repo.latest_features_before(session, MRN, TODAY, except_status="unknown")
        not_absent = visits_repo.latest_features_before(session, MRN, TODAY, except_status="absent")
    assert [(v.code, v.value_num, v.date) for v in values if v.code == "platelets"] == [
        ("platelets", 450, LATE), ("platelets", 300, EARLY)]
    assert {v.date for v in only_early} == {EARLY}  # strictly before
    assert [(f.code, f.status, f.date) for f in features] == [
        ("ascites", "absent", LATE), ("ascites", "present", EARLY)]
    assert [f.status for f in not_absent] == ["present"]


def test_a_correction_supersedes_the_old_rows_and_current_leaves_them_out(clinic):
    db, _, _, late = clinic
    with db.write() as session:
        old = {r.code: r for r in visits_repo.current_observations(session, late)}
        new_id = visits_repo.add_observation(session, late, ObservationRecord("platelets", 405.0, "10*9/L"), STAMP)
        visits_repo.supersede_observation(session, old["platelets"].id, new_id, STAMP, "digits swapped")
        visits_repo.supersede_observation(session, old["hemoglobin"].id, None, STAMP, "wrong patient")
        (feature,) = visits_repo.current_features(session, late)
        visits_repo.supersede_feature_status(session, feature.id, STAMP, "looked again")
        visits_repo.add_feature_status(session, late, "ascites", "present", STAMP)
        (exam,) = visits_repo.current_exams(session, late)
        visits_repo.supersede_exam(session, exam.id, STAMP, "report amended")
        visits_repo.add_exam(session, late, ExamRecord("echo", "abnormal", "effusion"), STAMP)
    with db.read() as session:
        current = visits_repo.current_observations(session, late)
        features = visits_repo.current_features(session, late)
        exams = visits_repo.current_exams(session, late)
        replaced = visits_repo.observations_by_id(session, [old["platelets"].id, old["hemoglobin"].id])
    assert [(o.code, o.value_num, o.entered_by) for o in current if not o.derived] == [("platelets", 405.0, "nurse-bo")]
    assert [(f.code, f.status) for f in features] == [("ascites", "present")]
    assert [(x.result, x.note) for x in exams] == [("abnormal", "effusion")]
    platelets, hemoglobin = replaced[old["platelets"].id], replaced[old["hemoglobin"].id]
    assert (platelets.replaced_by_id, platelets.superseded_by, platelets.superseded_reason) == (
        new_id, "nurse-bo", "digits swapped")
    assert (hemoglobin.replaced_by_id, hemoglobin.superseded_reason) == (None, "wrong patient")


def test_a_save_against_a_stale_version_changes_nothing(clinic):
    db, _, _, late = clinic
    with db.write() as session:
        assert visits_repo.save_visit_if_version(session, late, 1, day=LATE, note="first save", stamp=STAMP)
        assert not visits_repo.save_visit_if_version(session, late, 1, day=EARLY, note="stale save", stamp=STAMP)
    with db.read() as session:
        visit = visits_repo.visit_row(session, late)
        change = visits_repo.last_change_of_visit(session, late)
    assert (visit.version, visit.date, visit.note, visit.reviewed_by) == (2, LATE, "first save", None)
    assert (change.updated_by, change.created_by) == ("nurse-bo", "nurse-ann")


def test_visits_saved_by_a_role_wait_for_sign_off_until_signed(clinic, admin):
    from poems_monitor.services.users import add_user

    db, pid, early, late = clinic
    add_user(db, admin, "nurse-ann", Role.NURSE, "long-password-1")
    with db.read() as session:
        waiting = visits_repo.unsigned_visits_entered_by(session, Role.NURSE.value)
        of_nobody = visits_repo.unsigned_visits_entered_by(session, Role.NURSE.value, patient_id=pid + 100)
        by_physicians = visits_repo.unsigned_visits_entered_by(session, Role.PHYSICIAN.value)
    assert [(v.id, v.mrn, v.author, v.date) for v in waiting] == [(early, MRN, "nurse-ann", EARLY),
                                                                  (late, MRN, "nurse-ann", LATE)]  # oldest first
    assert of_nobody == [] and by_physicians == []
    with db.write() as session:
        visits_repo.sign_off(session, early, 1, STAMP)
        visits_repo.sign_off(session, late, 7, STAMP)  # a stale version signs nothing
    with db.read() as session:
        assert [v.id for v in visits_repo.unsigned_visits_entered_by(session, Role.NURSE.value, pid)] == [late]
        signed = visits_repo.visit_row(session, early)
    assert (signed.reviewed_by, signed.version) == ("nurse-bo", 1)


def test_a_value_typed_with_a_decimal_comma_is_stored_as_typed(clinic, nurse):
    """A nurse types "12,5" g/dL: the check reads it as 12.5, and so does the stored entered value
    (it once reached float() and the save raised instead of storing or refusing)."""
    db, *_ = clinic
    record_visit(db, nurse, MRN, VisitInput(date(2026, 4, 1), values=(EnteredValue("hemoglobin", "12,5", "g/dL"),)),
                 today=TODAY)
    with db.read() as session:
        values = visits_repo.latest_values_before(session, MRN, TODAY)
    newest = {v.code: v for v in values if v.date == date(2026, 4, 1)}
    assert (newest["hemoglobin"].entered_num, newest["hemoglobin"].entered_unit) == (12.5, "g/dL")
    assert newest["hemoglobin"].value_num == 12.5
