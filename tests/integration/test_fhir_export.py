"""FHIR R4 export: the Bundle validates with fhir.resources (R4B models: Patient, Observation,
Condition, MedicationStatement and Procedure are unchanged from R4) and gives back every stored
value, with LOINC and UCUM, censored values as comparators, reference ranges and H/L."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from fhir.resources.R4B.bundle import Bundle

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.timeline import ObservationRecord
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.fhir_export import (
    LOINC, MEASURE_SYSTEM, UCUM, build_bundle, export_fhir, export_fhir_file,
)
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY
from tests.unit.timeline_builders import patient, treatment, visit


def _obs(code, value, unit=None, qualifier=None, specimen=None, lab=None):  # noqa: ANN001
    m = MEASURES[code]
    return ObservationRecord(code, value, unit or m.unit, specimen=specimen or m.specimen, qualifier=qualifier, lab=lab)


HAND = patient(
    visit("2021-03-01", _obs("vegf_plasma", 1240.0), _obs("platelets", 512.0), _obs("hemoglobin", 11.0),
          _obs("ife", "lambda"), features={"polyneuropathy": "present", "pleural_effusion": "present",
                                           "ascites": "absent"}),
    visit("2021-09-01", _obs("vegf_plasma", 31.0, qualifier="<"), _obs("vegf_serum", 1500.0, qualifier=">"),
          _obs("platelets", 300.0, lab="City Lab"), features={"pleural_effusion": "absent", "ascites": "present"}),
    treatments=[treatment("lenalidomide_dexamethasone", "2021-03-15", "2021-08-30"),
                treatment("radiotherapy", "2021-04-01", "2021-05-01", prophylaxis=None),
                treatment("asct", "2021-10-01", engraftment="2021-10-12", prophylaxis=None)],
    sex="female", mrn="H-FHIR", name="Ada Example", birth="1970-01-01", diagnosis="2021-03-01",
)


@pytest.fixture
def clinic(db, admin):
    import_patients(db, [HAND, *generate_patients(3, 4, TODAY)], admin, reason="tests")
    return db


def resources(bundle, kind=None):  # noqa: ANN001
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


def test_bundle_validates_with_fhir_resources(clinic):
    bundle = export_fhir(clinic)
    model = Bundle.model_validate(bundle)
    assert model.type == "collection"
    kinds = {e.resource.__resource_type__ for e in model.entry}
    assert kinds == {"Patient", "Observation", "Condition", "MedicationStatement", "Procedure"}
    # JSON as written to disk validates too
    assert Bundle.model_validate_json(json.dumps(bundle)).entry


def test_every_stored_value_round_trips(clinic):
    model = Bundle.model_validate(export_fhir(clinic))
    with clinic.read() as session:
        patients = load_timelines(session)
    mrn_by_ref = {}
    for e in model.entry:
        if e.resource.__resource_type__ == "Patient":
            mrn_by_ref[e.fullUrl] = e.resource.identifier[0].value
    got = {}
    for e in model.entry:
        r = e.resource
        if r.__resource_type__ != "Observation":
            continue
        local = next(c.code for c in r.code.coding if c.system == MEASURE_SYSTEM)
        key = (mrn_by_ref[r.subject.reference], str(r.effectiveDateTime), local)
        if r.valueQuantity is not None:
            q = r.valueQuantity
            assert q.system == UCUM and q.code == MEASURES[local].unit
            got[key] = (float(q.value), q.comparator)
        else:
            got[key] = (r.valueCodeableConcept.text, None)
        m = MEASURES[local]
        loincs = [c.code for c in r.code.coding if c.system == LOINC]
        assert loincs == ([m.loinc] if m.loinc else [])
    expected = {
        (p.mrn, v.date.isoformat(), o.code): (o.value if isinstance(o.value, str) else float(o.value), o.qualifier)
        for p in patients for v in p.visits for o in v.observations
    }
    assert got == expected


def test_observation_details(clinic):
    obs = {(r["effectiveDateTime"], r["code"]["coding"][-1]["code"]): r
           for r in resources(export_fhir(clinic, "H-FHIR"), "Observation")}
    vegf = obs[("2021-03-01", "vegf_plasma")]
    assert vegf["code"]["coding"][0] == {"system": LOINC, "code": "75628-8", "display": "VEGF (plasma)"}
    assert vegf["valueQuantity"] == {"value": 1240, "unit": "pg/mL", "system": UCUM, "code": "pg/mL"}
    assert vegf["interpretation"][0]["coding"][0]["code"] == "H"
    assert vegf["referenceRange"][0]["high"]["value"] == 96.2
    assert vegf["contained"][0]["type"]["coding"][0]["code"] == "PLAS"
    assert vegf["specimen"]["reference"] == "#specimen"
    serum = obs[("2021-09-01", "vegf_serum")]
    assert serum["code"]["coding"][0]["code"] == "75628-8"  # same LOINC, told apart by our code and the specimen
    assert serum["valueQuantity"]["comparator"] == ">" and serum["contained"][0]["type"]["coding"][0]["code"] == "SER"
    assert serum["interpretation"][0]["coding"][0]["code"] == "H"  # >1500 is above 1040 without doubt
    censored = obs[("2021-09-01", "vegf_plasma")]
    assert censored["valueQuantity"]["comparator"] == "<" and "interpretation" not in censored
    hb = obs[("2021-03-01", "hemoglobin")]
    assert hb["interpretation"][0]["coding"][0]["code"] == "L"
    assert hb["referenceRange"][0]["low"]["value"] == 12  # the female range
    plt = obs[("2021-09-01", "platelets")]
    assert plt["valueQuantity"]["code"] == "10*9/L" and "interpretation" not in plt
    assert plt["note"] == [{"text": "Laboratory: City Lab"}]
    ife = obs[("2021-03-01", "ife")]
    assert ife["valueCodeableConcept"]["text"] == "lambda" and "referenceRange" not in ife
    assert all(r["status"] == "final" and r["subject"]["reference"].startswith("urn:uuid:") for r in obs.values())


def test_conditions_for_poems_and_documented_features(clinic):
    bundle = export_fhir(clinic, "H-FHIR")
    conditions = {r["code"]["coding"][0]["code"]: r for r in resources(bundle, "Condition")}
    assert set(conditions) == {"poems_syndrome", "polyneuropathy", "pleural_effusion", "ascites"}
    assert conditions["poems_syndrome"]["onsetDateTime"] == "2021-03-01"
    assert conditions["poems_syndrome"]["verificationStatus"]["coding"][0]["code"] == "confirmed"
    effusion = conditions["pleural_effusion"]
    assert effusion["onsetDateTime"] == "2021-03-01"
    assert effusion["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert effusion["abatementDateTime"] == "2021-09-01"
    ascites = conditions["ascites"]
    assert ascites["onsetDateTime"] == "2021-09-01"  # first documented present, not first documented
    assert ascites["clinicalStatus"]["coding"][0]["code"] == "active"


def test_treatments_as_medication_statements_and_procedures(clinic):
    bundle = export_fhir(clinic, "H-FHIR")
    meds = resources(bundle, "MedicationStatement")
    procs = {r["code"]["coding"][0]["code"]: r for r in resources(bundle, "Procedure")}
    assert [m["medicationCodeableConcept"]["coding"][0]["code"] for m in meds] == ["lenalidomide_dexamethasone"]
    assert meds[0]["effectivePeriod"] == {"start": "2021-03-15", "end": "2021-08-30"}
    assert meds[0]["status"] == "completed"
    assert {"text": "Thromboprophylaxis: Aspirin"} in meds[0]["note"]
    assert set(procs) == {"radiotherapy", "asct"}
    assert procs["radiotherapy"]["performedPeriod"] == {"start": "2021-04-01", "end": "2021-05-01"}
    assert procs["asct"]["performedDateTime"] == "2021-10-01"
    assert {"text": "Neutrophil engraftment: 2021-10-12"} in procs["asct"]["note"]


def test_patient_resource_and_stable_ids(clinic):
    first = export_fhir(clinic, "H-FHIR")
    again = export_fhir(clinic, "H-FHIR")
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in again["entry"]]
    assert len({e["fullUrl"] for e in first["entry"]}) == len(first["entry"])
    p = resources(first, "Patient")[0]
    assert p["identifier"][0]["value"] == "H-FHIR" and p["gender"] == "female" and p["birthDate"] == "1970-01-01"


def test_one_patient_or_unknown_mrn(clinic, tmp_path):
    assert {r["identifier"][0]["value"] for r in resources(export_fhir(clinic, "H-FHIR"), "Patient")} == {"H-FHIR"}
    assert len(resources(export_fhir(clinic), "Patient")) == 4
    with pytest.raises(KeyError):
        export_fhir(clinic, "H-NOPE")
    patients, count = export_fhir_file(clinic, tmp_path / "out" / "b.json")
    assert patients == 4
    assert len(json.loads((tmp_path / "out" / "b.json").read_text(encoding="utf-8"))["entry"]) == count


def test_unknown_sex_gets_no_sex_specific_range():
    p = patient(visit("2022-01-01", _obs("hemoglobin", 17.5)), sex="unknown", mrn="H-U")
    obs = resources(build_bundle([p]), "Observation")[0]
    assert "referenceRange" not in obs and "interpretation" not in obs
    Bundle.model_validate(build_bundle([p]))
    assert obs["valueQuantity"]["value"] == 17.5
    assert Decimal(str(obs["valueQuantity"]["value"])) == Decimal("17.5")
    assert date.fromisoformat(obs["effectiveDateTime"]) == date(2022, 1, 1)
