"""A patient's timeline as plain frozen records: what the rules read and the importer produces.

Owns the shapes only (patient, visit, observation, exam, treatment, event), independent of the
database and of JSON. Rules, the dashboard and the exporters all work from these records, so a
rule never sees an ORM row. Values are already in the catalogue's canonical unit; the entered
value and unit travel along so nothing typed is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class ObservationRecord:
    code: str
    value: float | str  # canonical value (number) or category (string)
    unit: str  # canonical UCUM unit ("" for categorical)
    entered_value: float | str | None = None
    entered_unit: str | None = None
    specimen: str | None = None
    lab: str | None = None
    method: str | None = None
    qualifier: str | None = None  # "<" or ">" for a censored result
    derived: bool = False  # computed (e.g. ONLS total from arm + leg), not typed
    # A person saw this value at entry and confirmed it if it was critical (the visit form asks);
    # False for values that came by timeline import or lab file. Not part of equality: the same
    # value is the same value, wherever it came from.
    confirmed_at_entry: bool = field(default=False, compare=False)

    @property
    def number(self) -> float | None:
        return self.value if isinstance(self.value, (int, float)) and not isinstance(self.value, bool) else None


@dataclass(frozen=True)
class ExamRecord:
    kind: str
    result: str  # normal | abnormal | pending
    note: str = ""


@dataclass(frozen=True)
class VisitRecord:
    date: date
    observations: tuple[ObservationRecord, ...] = ()
    features: tuple[tuple[str, str], ...] = ()  # (feature code, present|absent|unknown), sorted
    exams: tuple[ExamRecord, ...] = ()
    note: str = ""
    visit_id: int | None = None

    def value(self, code: str) -> ObservationRecord | None:
        for obs in self.observations:
            if obs.code == code:
                return obs
        return None

    def feature(self, code: str) -> str:
        for fcode, status in self.features:
            if fcode == code:
                return status
        return "unknown"


@dataclass(frozen=True)
class TreatmentRecord:
    regimen: str
    start: date
    stop: date | None = None
    thromboprophylaxis: str | None = None
    name: str | None = None  # for regimen "other"
    engraftment_date: date | None = None  # ASCT: neutrophil engraftment
    melphalan_mg: float | None = None  # cumulative melphalan dose of this line, when known
    note: str = ""
    treatment_id: int | None = None


@dataclass(frozen=True)
class EventRecord:
    type: str
    date: date
    note: str = ""
    event_id: int | None = None


@dataclass(frozen=True)
class PatientRecord:
    mrn: str
    name: str
    sex: str
    birth_date: date | None
    diagnosis_date: date | None = None
    visits: tuple[VisitRecord, ...] = ()  # sorted by date
    treatments: tuple[TreatmentRecord, ...] = ()  # sorted by start
    events: tuple[EventRecord, ...] = ()  # sorted by date
    patient_id: int | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    # The dated reasons to suspect a relapse, ((date, why), ...), computed on the whole record by
    # `followup.restaging_triggers` and carried by a reduced record (services/rules_cache.py) whose
    # visits no longer hold them. Valid for an as-of on or after the whole record's newest date;
    # None: the schedule computes them from this record.
    relapse_triggers: tuple[tuple[date, str], ...] | None = field(default=None, compare=False, hash=False)
