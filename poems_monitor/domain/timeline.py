"""A patient's timeline as plain frozen records: what the rules read and the importer produces.

Owns the shapes only (patient, visit, observation, exam, treatment, event), independent of the
database and of JSON. Rules, the dashboard and the exporters all work from these records, so a
rule never sees an ORM row. Values are already in the catalogue's canonical unit; the entered
value and unit travel along so nothing typed is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TypeVar
from collections.abc import Callable

_T = TypeVar("_T")


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

    @cached_property
    def number(self) -> float | None:
        """The value when it is a number (None for a category). Cached on the record: the rules
        read it several times per value (`build_record` may set it up front)."""
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

    @cached_property
    def _values_by_code(self) -> dict[str, ObservationRecord]:
        by_code: dict[str, ObservationRecord] = {}
        for obs in self.observations:
            by_code.setdefault(obs.code, obs)  # the first of a code, as a scan would find it
        return by_code

    def value(self, code: str) -> ObservationRecord | None:
        """The (first) value of `code` at this visit. The rules ask each visit for a dozen codes:
        an index built on the first question (the record is immutable) answers the others."""
        return self._values_by_code.get(code)

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


def build_record(cls, values: dict):  # noqa: ANN001, ANN201
    """A frozen record of `cls` built from `values` without its generated __init__ (which sets
    each field through object.__setattr__): reading or parsing a clinic builds hundreds of
    thousands of them. Fields left out keep their class-level defaults, exactly as __init__
    would set them (not for a field with a default_factory: give it). No checks: the caller
    passes what __init__ would accept."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def remembered(record: object, name: str, key: tuple, compute: Callable[[], _T]) -> _T:
    """`compute()`, kept on the immutable `record` under `name` while `key` (the other inputs:
    the protocol, the sex) stays the same: the flags, the reduction and the schedule read the
    same visit's findings and derived features, and each is computed once. `key` is compared
    with ==, which tuples answer by identity first (the same protocol object is not compared
    field by field). A record is never changed, so what was computed from it stays true."""
    held = record.__dict__.get(name)
    if held is not None and held[0] == key:
        return held[1]
    value = compute()
    record.__dict__[name] = (key, value)
    return value
