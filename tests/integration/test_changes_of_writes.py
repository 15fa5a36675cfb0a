"""Every write service the desktop calls says what it changed (`services.changes.Changes`),
against a real SQLite file: the patient by its stored MRN, and the clinic-wide kinds the write
touched. The screens reload from exactly this, so a wrong answer is a screen left stale."""

from __future__ import annotations

from datetime import date

import pytest

from poems_monitor.domain.protocol import default_protocol_text
from poems_monitor.domain.timeline import EventRecord, TreatmentRecord
from poems_monitor.services.access import Role
from poems_monitor.services.backup import backup_to, restore_from
from poems_monitor.services.changes import Changes
from poems_monitor.services.dashboard import build_dashboard
from poems_monitor.services.flag_review import acknowledge_flag
from poems_monitor.services.lab_import import import_lab_csv
from poems_monitor.services.patients import (
    PatientInput, add_event, add_treatment, create_patient, delete_event, delete_treatment, patient_id_for,
    update_patient, update_treatment,
)
from poems_monitor.services.protocol_store import save_protocol
from poems_monitor.services.review import sign_off_visit
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.users import add_user, change_password
from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit
from poems_monitor.services.waivers import revoke_waiver, waive_item
from tests.conftest import TODAY
from tests.unit.timeline_builders import patient, visit

MRN = "H-000123"


@pytest.fixture
def clinic(db, nurse):
    create_patient(db, nurse, PatientInput(MRN, "Jane Doe", "female", date(1970, 1, 1)), today=TODAY)
    create_patient(db, nurse, PatientInput("H-000999", "Other Patient", "male", date(1960, 1, 1)), today=TODAY)
    return db


def test_patients_create_and_correct_name_the_patient_and_the_list(db, nurse):
    created = create_patient(db, nurse, PatientInput("h-000555", "New Patient", "male", date(1980, 2, 2)), today=TODAY)
    assert created == patient_id_for(db, "h-000555")  # still the id the callers use
    assert created.changes == Changes.of_patient("h-000555", patient_list=True)
    version = update_patient(db, nurse, created, 1, PatientInput("H-000556", "New Patient", "male", date(1980, 2, 2)),
                             "MRN typed wrong", today=TODAY)
    assert version == 2
    assert version.changes.patients == {"h-000555", "H-000556"} and version.changes.patient_list


def test_visit_save_and_correction_name_the_patient_by_its_stored_mrn(clinic, nurse):
    saved = record_visit(clinic, nurse, "h-000123", VisitInput(date(2026, 1, 5), values=(
        EnteredValue("platelets", 300, "10*9/L"),)), today=TODAY)
    assert saved.changes == Changes.of_patient(MRN, visit_reviews=True)
    corrected = correct_visit(clinic, nurse, saved.visit_id, saved.version, VisitInput(date(2026, 1, 5), values=(
        EnteredValue("platelets", 310, "10*9/L"),)), "lab amended", today=TODAY)
    assert corrected.changes == Changes.of_patient(MRN, visit_reviews=True)
    same = correct_visit(clinic, nurse, saved.visit_id, corrected.version, VisitInput(date(2026, 1, 5), values=(
        EnteredValue("platelets", 310, "10*9/L"),)), "no change", today=TODAY)
    assert not same.changes  # nothing differed, nothing was written


def test_treatments_and_events_name_their_patient(clinic, nurse):
    t = TreatmentRecord("lenalidomide_dexamethasone", date(2025, 2, 1), thromboprophylaxis="aspirin")
    tid = add_treatment(clinic, nurse, MRN, t, today=TODAY)
    assert tid.changes == Changes.of_patient(MRN)
    assert update_treatment(clinic, nurse, tid, 1, t, "dose noted", today=TODAY) == Changes.of_patient(MRN)
    assert delete_treatment(clinic, nurse, tid, "entered in error") == Changes.of_patient(MRN)
    eid = add_event(clinic, nurse, MRN, EventRecord("dvt", date(2025, 3, 1), "calf"), today=TODAY)
    assert eid.changes == Changes.of_patient(MRN)
    assert delete_event(clinic, nurse, eid, "entered in error") == Changes.of_patient(MRN)


def test_acknowledgement_sign_off_and_waivers_name_the_patient(db, admin, nurse, physician):
    import_patients(db, [patient(visit("2025-06-01", platelets=900))], admin, reason="test")
    flag = next(f.flag for f in build_dashboard(db, MRN, TODAY).flags if f.flag.code == "thrombocytosis")
    assert acknowledge_flag(db, physician, MRN, flag.flag_id, "seen", as_of=TODAY).changes == Changes.of_patient(MRN)

    saved = record_visit(db, nurse, MRN, VisitInput(date(2026, 1, 5), values=(
        EnteredValue("platelets", 300, "10*9/L"),)), today=TODAY)
    signed = sign_off_visit(db, physician, saved.visit_id, saved.version, "fine")
    assert signed.changes == Changes.of_patient(MRN, visit_reviews=True)

    waiver = waive_item(db, physician, "h-000123", "vegf", "declines", today=TODAY)
    assert waiver.changes == Changes.of_patient(MRN)
    assert revoke_waiver(db, physician, waiver.waiver_id, "agreed after all") == Changes.of_patient(MRN)


def test_imports_name_every_patient_they_wrote(clinic, admin, nurse):
    summary = import_lab_csv(clinic, nurse, "mrn,date,code,value,unit\r\nH-000123,2026-06-01,platelets,300,10*9/L\r\n",
                             "iso", today=TODAY)
    assert summary.changes == Changes.of_patient(MRN, visit_reviews=True)
    summary = import_patients(clinic, [patient(visit("2025-06-01", platelets=300), mrn="N-1"),
                                       patient(visit("2025-07-01", platelets=310), mrn="H-000999", name="Other Patient",
                                               sex="male", birth="1960-01-01")], admin, reason="test")
    assert summary.changes.patients == {"N-1", "H-000999"}
    assert summary.changes.patient_list and summary.changes.visit_reviews  # a new patient: the list changed


def test_clinic_wide_writes_name_their_kind(db, db_path, admin, physician, tmp_path):
    saved = save_protocol(db, physician, default_protocol_text(), "clinic copy of the defaults")
    assert saved.changes == Changes(protocol=True) and saved.protocol is not None
    account = add_user(db, admin, "nurse-bo", Role.NURSE, "a long enough password")
    assert account.changes == Changes(accounts=True)
    assert change_password(db, admin, "nurse-bo", "another long password", reason="forgotten") == Changes(accounts=True)
    backup = backup_to(db, admin, tmp_path / "saved.sqlite").path
    assert restore_from(db_path, admin, backup).changes == Changes.everything()
