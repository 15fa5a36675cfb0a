"""Small builders for hand-made patient timelines (frozen timeline records, no database).

    pt = patient(
        visit("2021-12-01", vegf_plasma=1240, platelets=512, features={"polyneuropathy": "present"}),
        visit("2022-03-01", vegf_plasma=300),
        treatments=[treatment("lenalidomide_dexamethasone", "2022-01-10", prophylaxis="aspirin")],
        events=[event("dvt", "2022-02-01")],
        sex="female",
    )
"""

from __future__ import annotations

from datetime import date

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.timeline import (
    EventRecord, ExamRecord, ObservationRecord, PatientRecord, TreatmentRecord, VisitRecord,
)


def d(text: str | date | None) -> date | None:
    if text is None or isinstance(text, date):
        return text
    return date.fromisoformat(text)


def obs(code: str, value, *, lab: str | None = None, qualifier: str | None = None) -> ObservationRecord:
    m = MEASURES[code]
    return ObservationRecord(code, value, m.unit, specimen=m.specimen, lab=lab, qualifier=qualifier)


def visit(day: str, *observations: ObservationRecord, features: dict | None = None, exams=(), **values) -> VisitRecord:
    """A visit; keyword values are measure codes in canonical units (vegf_plasma=640)."""
    obs_list = list(observations) + [obs(code, value) for code, value in values.items()]
    feats = tuple(sorted((features or {}).items()))
    exam_records = tuple(ExamRecord(k, r) for k, r in exams)
    return VisitRecord(d(day), tuple(obs_list), feats, exam_records)


def treatment(regimen: str, start: str, stop: str | None = None, *, prophylaxis: str | None = "aspirin",
              engraftment: str | None = None, name: str | None = None) -> TreatmentRecord:
    return TreatmentRecord(regimen, d(start), d(stop), prophylaxis, name, d(engraftment))


def event(kind: str, day: str, note: str = "") -> EventRecord:
    return EventRecord(kind, d(day), note)


def patient(*visits: VisitRecord, treatments=(), events=(), sex: str = "female", mrn: str = "H-000123",
            name: str = "Jane Example", birth: str = "1971-04-02", diagnosis: str | None = None) -> PatientRecord:
    return PatientRecord(
        mrn, name, sex, d(birth), d(diagnosis),
        tuple(sorted(visits, key=lambda v: v.date)),
        tuple(sorted(treatments, key=lambda t: t.start)),
        tuple(sorted(events, key=lambda e: e.date)),
    )


BASELINE_FEATURES = {"polyneuropathy": "present", "monoclonal_plasma_cell_disorder": "present"}
