"""Naming a patient by MRN, through every service that takes one: an unknown MRN is a typed
`PatientNotFound` whose str() is the sentence the user reads (no quotes to unpick), nothing is
written, and an MRN is found whatever its case (h-000123 names H-000123), as the CLI and the
uniqueness check already compare them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from poems_monitor.domain.timeline import EventRecord, TreatmentRecord
from poems_monitor.services.dashboard import build_dashboard
from poems_monitor.services.errors import PatientNotFound, TreatmentNotFound, VisitNotFound
from poems_monitor.services.fhir_export import export_fhir
from poems_monitor.services.flag_review import acknowledge_flag, reviews_of
from poems_monitor.services.patients import (
    PatientInput, add_event, add_treatment, create_patient, delete_treatment, patient_id_for, patient_of_visit,
    stored_patient, stored_treatment, update_treatment,
)
from poems_monitor.services.response import patient_response
from poems_monitor.services.review import sign_off_visit
from poems_monitor.services.timeline_io import export_timeline
from poems_monitor.services.visits import EnteredValue, VisitInput, last_recorded, open_visit, record_visit, visit_on
from poems_monitor.services.waivers import list_waivers, waive_item
from poems_monitor.services.worklist import clinic_flags, patient_worklist
from tests.conftest import TODAY

MRN = "H-000123"
UNKNOWN = "H-404"
DAY = date(2024, 3, 1)
TREATMENT = TreatmentRecord("lenalidomide_dexamethasone", date(2024, 3, 2), thromboprophylaxis="aspirin")
VISIT = VisitInput(DAY, (EnteredValue("platelets", "250", "10*9/L"),))


@pytest.fixture
def clinic(db, nurse):
    create_patient(db, nurse, PatientInput(MRN, "Anna Test", "female", date(1960, 5, 1)), today=TODAY)
    return db


def audit_rows(db) -> int:
    with db.read() as session:
        return session.execute(text("SELECT count(*) FROM audit_entry")).scalar_one()


CALLS = {
    "record_visit": lambda db, a: record_visit(db, a["nurse"], UNKNOWN, VISIT, today=TODAY),
    "add_treatment": lambda db, a: add_treatment(db, a["nurse"], UNKNOWN, TREATMENT, today=TODAY),
    "add_event": lambda db, a: add_event(db, a["nurse"], UNKNOWN, EventRecord("other", DAY, "x"), today=TODAY),
    "patient_id_for": lambda db, a: patient_id_for(db, UNKNOWN),
    "stored_patient": lambda db, a: stored_patient(db, UNKNOWN),
    "waive_item": lambda db, a: waive_item(db, a["physician"], UNKNOWN, "vegf", "declines", today=TODAY),
    "acknowledge_flag": lambda db, a: acknowledge_flag(db, a["physician"], UNKNOWN, "any", "seen", as_of=TODAY),
    "patient_response": lambda db, a: patient_response(db, UNKNOWN, TODAY),
    "build_dashboard": lambda db, a: build_dashboard(db, UNKNOWN, TODAY),
    "patient_worklist": lambda db, a: patient_worklist(db, UNKNOWN, TODAY),
    "clinic_flags": lambda db, a: clinic_flags(db, TODAY, UNKNOWN),
    "export_timeline": lambda db, a: export_timeline(db, UNKNOWN),
    "export_fhir": lambda db, a: export_fhir(db, UNKNOWN),
}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_an_unknown_mrn_is_a_typed_error_with_the_plain_sentence(clinic, nurse, physician, service):
    before = audit_rows(clinic)
    with pytest.raises(PatientNotFound) as refused:
        CALLS[service](clinic, {"nurse": nurse, "physician": physician})
    assert str(refused.value) == "No patient with MRN H-404"  # what the user reads, no quotes
    assert refused.value.mrn == UNKNOWN
    assert isinstance(refused.value, KeyError)  # callers catching KeyError keep working
    assert audit_rows(clinic) == before  # nothing written


def test_an_unknown_visit_is_a_typed_error_with_the_plain_sentence(clinic, physician):
    with pytest.raises(VisitNotFound) as refused:
        open_visit(clinic, 999)
    assert str(refused.value) == "Visit 999 does not exist"
    with pytest.raises(VisitNotFound, match="Visit 999 does not exist"):
        sign_off_visit(clinic, physician, 999, 1, "")
    with pytest.raises(VisitNotFound, match="Visit 999 does not exist"):
        patient_of_visit(clinic, 999)


def test_an_mrn_is_found_whatever_its_case(clinic, nurse, physician):
    lower = MRN.lower()
    assert patient_id_for(clinic, lower) == patient_id_for(clinic, MRN)
    saved = record_visit(clinic, nurse, lower, VISIT, today=TODAY)
    assert visit_on(clinic, lower, DAY) == saved.visit_id
    assert stored_patient(clinic, lower).mrn == MRN == patient_of_visit(clinic, saved.visit_id).mrn
    assert last_recorded(clinic, lower, TODAY)["platelets"].date == DAY
    add_treatment(clinic, nurse, lower, TREATMENT, today=TODAY)
    assert [t["regimen"] for t in export_timeline(clinic, MRN)["patients"][0]["treatments"]] == [TREATMENT.regimen]
    assert export_timeline(clinic, lower)["patients"][0]["mrn"] == MRN  # stored spelling
    assert build_dashboard(clinic, lower, TODAY).mrn == MRN
    assert waive_item(clinic, physician, lower, "vegf", "declines", today=TODAY).mrn == MRN  # stored spelling
    assert [w.mrn for w in list_waivers(clinic, lower)] == [MRN]
    assert reviews_of(clinic, lower) == []


def test_a_saved_treatment_is_read_back_with_its_patient_and_version(clinic, nurse):
    tid = add_treatment(clinic, nurse, MRN.lower(), TREATMENT, today=TODAY)
    stored = stored_treatment(clinic, tid)
    assert (stored.treatment_id, stored.version, stored.mrn) == (tid, 1, MRN)  # the stored MRN spelling
    assert (stored.treatment.regimen, stored.treatment.start, stored.treatment.thromboprophylaxis) == (
        TREATMENT.regimen, TREATMENT.start, "aspirin")
    update_treatment(clinic, nurse, tid, 1, TREATMENT, "typing error", today=TODAY)
    assert stored_treatment(clinic, tid).version == 2


def test_an_unknown_or_removed_treatment_is_a_typed_error_with_the_plain_sentence(clinic, nurse):
    with pytest.raises(TreatmentNotFound) as refused:
        stored_treatment(clinic, 999)
    assert str(refused.value) == "Treatment 999 does not exist" and refused.value.treatment_id == 999
    tid = add_treatment(clinic, nurse, MRN, TREATMENT, today=TODAY)
    delete_treatment(clinic, nurse, tid, "entered twice")
    before = audit_rows(clinic)
    with pytest.raises(TreatmentNotFound, match=f"Treatment {tid} does not exist"):
        stored_treatment(clinic, tid)
    with pytest.raises(TreatmentNotFound, match=f"Treatment {tid} does not exist"):
        update_treatment(clinic, nurse, tid, 2, TREATMENT, "late correction", today=TODAY)
    assert audit_rows(clinic) == before  # nothing written
