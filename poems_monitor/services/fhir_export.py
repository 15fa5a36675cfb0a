"""FHIR R4 export (INTERFACES.md section 1, `export-fhir [--mrn MRN] FILE.json`).

Owns the mapping from patient timelines to one FHIR R4 Bundle of type `collection`:

- Patient: MRN as identifier, name, administrative gender, birth date;
- Observation per current value: LOINC coding where the catalogue has one (always with our own
  code too, since serum and plasma VEGF share LOINC 75628-8), UCUM valueQuantity (comparator for
  censored '<'/'>' values), effective date, specimen (a contained Specimen with its type),
  reference range from the catalogue (sex-specific where it applies), interpretation H/L when
  outside it, laboratory and method as text;
- Condition for POEMS syndrome (onset: the diagnosis date) and for each feature documented
  present (onset: the first visit documenting it; resolved when the latest documentation says
  absent);
- MedicationStatement for drug regimens and Procedure for radiotherapy, ASCT and plasma exchange.

Plain dictionaries, no FHIR library at run time (the tests validate the output with
fhir.resources). Resource ids are UUIDs derived from the MRN and the item, so exporting the same
record twice gives the same bundle apart from its timestamp.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from poems_monitor.domain.catalogue import CRITERIA, FEATURES, MEASURES, REGIMENS, THROMBOPROPHYLAXIS_NAMES, Measure, MeasureKind
from poems_monitor.domain.timeline import ObservationRecord, PatientRecord, TreatmentRecord
from poems_monitor.i18n import tr
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.services.errors import PatientNotFound

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# Local code systems (URIs we own; not resolvable, stable).
MRN_SYSTEM = "urn:poems-monitor:mrn"
MEASURE_SYSTEM = "urn:poems-monitor:measure"
FEATURE_SYSTEM = "urn:poems-monitor:feature"
CONDITION_SYSTEM = "urn:poems-monitor:condition"
REGIMEN_SYSTEM = "urn:poems-monitor:regimen"
CATEGORY_SYSTEM = "urn:poems-monitor:category"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
SPECIMEN_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0487"

PROCEDURE_REGIMENS = frozenset({"radiotherapy", "asct", "plasma_exchange"})
_SPECIMEN_CODES = {"plasma": ("PLAS", "Plasma"), "serum": ("SER", "Serum"), "whole_blood": ("BLD", "Whole blood"),
                   "urine": ("UR", "Urine")}
_GROUP_CATEGORY = {
    "vitals": ("vital-signs", "Vital Signs"), "pft": ("procedure", "Procedure"), "echo": ("imaging", "Imaging"),
    "neuropathy": ("exam", "Exam"),
}
_NAMESPACE = uuid.UUID("6f1d8a52-4a86-5b0e-9a3c-706f656d7321")


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else float(value)


def _quantity(value: float, m: Measure) -> dict[str, Any]:
    return {"value": _num(value), "unit": m.unit_label or m.unit, "system": UCUM, "code": m.unit}


def observation_codes(m: Measure) -> dict[str, Any]:
    coding = []
    if m.loinc:
        coding.append({"system": LOINC, "code": m.loinc, "display": m.name})
    coding.append({"system": MEASURE_SYSTEM, "code": m.code, "display": m.name})
    return {"coding": coding, "text": m.name}


def _interpretation(obs: ObservationRecord, m: Measure, sex: str) -> str | None:
    """H or L when the value is outside the reference range without doubt (censored values too)."""
    ref = m.reference_for(sex)
    value = obs.number
    if ref is None or value is None:
        return None
    if obs.qualifier == "<":  # the true value is below `value`
        return "L" if ref.low is not None and value <= ref.low else None
    if obs.qualifier == ">":
        return "H" if ref.high is not None and value >= ref.high else None
    if ref.below(value):
        return "L"
    if ref.above(value):
        return "H"
    return None


def _observation(p: PatientRecord, patient_ref: str, when: date, obs: ObservationRecord, index: int) -> dict[str, Any]:
    m = MEASURES[obs.code]
    group, label = _GROUP_CATEGORY.get(m.group, ("laboratory", "Laboratory"))
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _id(p.mrn, "obs", when, obs.code, index),
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": group, "display": label}]}],
        "code": observation_codes(m),
        "subject": {"reference": patient_ref, "display": p.name},
        "effectiveDateTime": when.isoformat(),
    }
    if m.kind is MeasureKind.CATEGORICAL:
        resource["valueCodeableConcept"] = {
            "coding": [{"system": f"{MEASURE_SYSTEM}:{m.code}", "code": str(obs.value)}], "text": str(obs.value)}
    else:
        quantity = _quantity(float(obs.value), m)
        if obs.qualifier in ("<", ">"):
            quantity = {"value": quantity["value"], "comparator": obs.qualifier, **{k: v for k, v in quantity.items() if k != "value"}}
        resource["valueQuantity"] = quantity
        flag = _interpretation(obs, m, p.sex)
        if flag:
            resource["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": flag,
                                                        "display": "High" if flag == "H" else "Low"}]}]
        ref = m.reference_for(p.sex)
        if ref is not None and (ref.low is not None or ref.high is not None):
            rr: dict[str, Any] = {}
            if ref.low is not None:
                rr["low"] = _quantity(ref.low, m)
            if ref.high is not None:
                rr["high"] = _quantity(ref.high, m)
            rr["text"] = f"{ref.text()} {m.unit_label} ({ref.source})"
            resource["referenceRange"] = [rr]
    specimen = obs.specimen or m.specimen
    if specimen:
        code = _SPECIMEN_CODES.get(specimen)
        spec_type: dict[str, Any] = {"text": specimen.replace("_", " ")}
        if code:
            spec_type["coding"] = [{"system": SPECIMEN_TYPE, "code": code[0], "display": code[1]}]
        resource["contained"] = [{"resourceType": "Specimen", "id": "specimen", "type": spec_type}]
        resource["specimen"] = {"reference": "#specimen", "display": specimen.replace("_", " ")}
    if obs.method:
        resource["method"] = {"text": obs.method}
    notes = []
    if obs.lab:
        notes.append({"text": tr("Laboratory: {lab}").format(lab=obs.lab)})
    if obs.derived:
        notes.append({"text": tr("Computed by poems-monitor from {parts}").format(parts=" + ".join(m.derived_from))})
    if obs.entered_unit and obs.entered_value is not None and obs.entered_unit.lower() != m.unit.lower():
        notes.append({"text": tr("Reported as {value} {unit}").format(value=_num(float(obs.entered_value)), unit=obs.entered_unit)})
    if notes:
        resource["note"] = notes
    return resource


def _condition(p: PatientRecord, patient_ref: str, rid: str, system: str, code: str, name: str, onset: date | None,
               *, active: bool = True, abatement: date | None = None, confirmed: bool = True, note: str = "") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active" if active else "resolved"}]},
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION,
                                           "code": "confirmed" if confirmed else "provisional"}]},
        "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "problem-list-item", "display": "Problem List Item"}]}],
        "code": {"coding": [{"system": system, "code": code, "display": name}], "text": name},
        "subject": {"reference": patient_ref, "display": p.name},
    }
    if onset is not None:
        resource["onsetDateTime"] = onset.isoformat()
    if abatement is not None:
        resource["abatementDateTime"] = abatement.isoformat()
    if note:
        resource["note"] = [{"text": note}]
    return resource


def _feature_conditions(p: PatientRecord, patient_ref: str) -> list[dict[str, Any]]:
    """One Condition per feature documented present at least once."""
    out = []
    history: dict[str, list[tuple[date, str]]] = {}
    for v in p.visits:
        for code, status in v.features:
            if status in ("present", "absent"):
                history.setdefault(code, []).append((v.date, status))
    for code, entries in history.items():
        present = [d for d, s in entries if s == "present"]
        if not present or code not in FEATURES:
            continue
        f = FEATURES[code]
        last_date, last_status = entries[-1]
        active = last_status == "present"
        abatement = None
        if not active:
            last_present = max(present)
            abatement = min(d for d, s in entries if s == "absent" and d > last_present)
        out.append(_condition(
            p, patient_ref, _id(p.mrn, "feature", code), FEATURE_SYSTEM, code, f.name, min(present),
            active=active, abatement=abatement,
            note=tr("Feature of POEMS syndrome ({criterion}); first documented present {d}").format(
                criterion=CRITERIA[f.criterion].name, d=min(present).isoformat()),
        ))
    return out


def _treatment(p: PatientRecord, patient_ref: str, t: TreatmentRecord) -> dict[str, Any]:
    regimen = REGIMENS.get(t.regimen)
    name = t.name if t.regimen == "other" and t.name else (regimen.name if regimen else t.regimen)
    concept = {"coding": [{"system": REGIMEN_SYSTEM, "code": t.regimen, "display": regimen.name if regimen else t.regimen}],
               "text": name}
    notes = []
    if t.thromboprophylaxis:
        notes.append(tr("Thromboprophylaxis: {p}").format(p=THROMBOPROPHYLAXIS_NAMES.get(t.thromboprophylaxis, t.thromboprophylaxis)))
    if t.engraftment_date:
        notes.append(tr("Neutrophil engraftment: {d}").format(d=t.engraftment_date.isoformat()))
    if t.melphalan_mg is not None:
        notes.append(tr("Cumulative melphalan: {mg} mg").format(mg=_num(t.melphalan_mg)))
    if t.note:
        notes.append(t.note)
    period: dict[str, str] = {"start": t.start.isoformat()}
    if t.stop:
        period["end"] = t.stop.isoformat()
    rid = _id(p.mrn, "treatment", t.regimen, t.start)
    if t.regimen in PROCEDURE_REGIMENS:
        resource: dict[str, Any] = {
            "resourceType": "Procedure", "id": rid,
            "status": "completed" if t.stop or t.regimen == "asct" else "in-progress",
            "code": concept, "subject": {"reference": patient_ref, "display": p.name},
        }
        if t.regimen == "asct" and not t.stop:
            resource["performedDateTime"] = t.start.isoformat()
        else:
            resource["performedPeriod"] = period
    else:
        resource = {
            "resourceType": "MedicationStatement", "id": rid,
            "status": "completed" if t.stop else "active",
            "medicationCodeableConcept": concept, "subject": {"reference": patient_ref, "display": p.name},
            "effectivePeriod": period,
        }
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    return resource


def patient_resources(p: PatientRecord) -> list[dict[str, Any]]:
    """Every resource of one patient, the Patient first."""
    pid = _id(p.mrn, "patient")
    ref = f"urn:uuid:{pid}"
    patient: dict[str, Any] = {
        "resourceType": "Patient", "id": pid,
        "identifier": [{"use": "usual", "system": MRN_SYSTEM, "value": p.mrn}],
        "name": [{"text": p.name}],
        "gender": p.sex if p.sex in ("female", "male", "other", "unknown") else "unknown",
    }
    if p.birth_date:
        patient["birthDate"] = p.birth_date.isoformat()
    out = [patient]
    for v in p.visits:
        for i, obs in enumerate(v.observations):
            if obs.code in MEASURES:
                out.append(_observation(p, ref, v.date, obs, i))
    out.append(_condition(
        p, ref, _id(p.mrn, "poems"), CONDITION_SYSTEM, "poems_syndrome", "POEMS syndrome", p.diagnosis_date,
        confirmed=p.diagnosis_date is not None,
    ))
    out.extend(_feature_conditions(p, ref))
    out.extend(_treatment(p, ref, t) for t in p.treatments)
    return out


def build_bundle(patients: list[PatientRecord], at: datetime | None = None) -> dict[str, Any]:
    at = at or datetime.now(timezone.utc)
    entries = []
    for p in patients:
        for resource in patient_resources(p):
            entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    return {
        "resourceType": "Bundle",
        "id": _id("bundle", *(p.mrn for p in patients)),
        "meta": {"lastUpdated": at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")},
        "type": "collection",
        "timestamp": at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "entry": entries,
    }


def export_fhir(db: Database, mrn: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The Bundle of the whole clinic or of one patient (PatientNotFound when the MRN is unknown)."""
    with db.read() as session:
        patients = repo.load_timelines(session, mrns=[mrn] if mrn else None)
    if mrn and not patients:
        raise PatientNotFound(mrn)
    return build_bundle(patients, at)


def export_fhir_file(db: Database, path: Path, mrn: str | None = None) -> tuple[int, int]:
    """Write the Bundle atomically; returns (patients, resources)."""
    from poems_monitor.services.timeline_io import write_json_atomically

    bundle = export_fhir(db, mrn)
    write_json_atomically(Path(path), bundle)
    patients = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return patients, len(bundle["entry"])
