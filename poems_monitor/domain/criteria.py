"""Diagnostic criteria over time (Dispenzieri; REFERENCE.md section 1).

Owns, for each visit, which mandatory, other major and minor criteria have been documented so
far, the date each criterion was first documented (and by which features), and the first visit
at which the criteria are fulfilled: both mandatory + at least one other major + at least one
minor. A criterion counts from the first visit at which one of its features is present and keeps
counting afterwards (a VEGF that normalises on treatment was still elevated at diagnosis).

Endocrinopathy: diabetes mellitus and hypothyroidism (catalogue `counts_alone=False`) do not
fulfil the criterion, alone or together, because both are common in the general population;
cherry angiomas are not in the Dispenzieri skin list and never count (glomeruloid haemangiomata
do). They are reported as "not counted", with the reason, so the screen can say why.

Not implemented: the Chiba alternative criteria [SUICHI19] and the 2003 criteria.
Pure: no Qt, no SQL, no file or clock access.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from poems_monitor.domain.catalogue import CRITERIA, FEATURES, CriterionClass
from poems_monitor.domain.course import clip
from poems_monitor.domain.derived import PRESENT, VisitFeatures, feature_history
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import PatientRecord, build_record
from poems_monitor.i18n import tr

_COUNTED_CLASSES = (CriterionClass.MANDATORY, CriterionClass.MAJOR, CriterionClass.MINOR)
_CRITERION_ORDER = tuple(c.code for c in CRITERIA.values() if c.klass in _COUNTED_CLASSES)


@dataclass(frozen=True)
class CriterionRecord:
    code: str
    name: str
    klass: CriterionClass
    number: int | None
    first_documented: date | None  # None: never documented
    features: tuple[str, ...] = ()  # features present at the first documentation
    note: str = ""  # how derived features documented it (values, confirmation, the clinician's word)

    def to_json(self) -> dict:
        return {
            "criterion": self.code, "class": self.klass.value, "number": self.number,
            "first_documented": self.first_documented.isoformat() if self.first_documented else None,
            "features": list(self.features), "note": self.note,
        }


@dataclass(frozen=True)
class NotCounted:
    """A feature documented but not counted towards its criterion (diabetes, hypothyroidism,
    cherry angioma; an unconfirmed count or a count the clinician documented absent)."""

    feature: str
    criterion: str
    first_present: date
    reason: str = ""


@dataclass(frozen=True)
class VisitCriteria:
    date: date
    mandatory: tuple[CriterionRecord, ...]  # documented on or before this visit
    major: tuple[CriterionRecord, ...]  # other major criteria documented so far
    minor: tuple[CriterionRecord, ...]
    fulfilled: bool


@dataclass(frozen=True)
class CriteriaAssessment:
    visits: tuple[VisitCriteria, ...]
    criteria: tuple[CriterionRecord, ...]  # all eleven criteria, documented or not, in order
    fulfilled_on: date | None  # first visit with both mandatory + >=1 major + >=1 minor
    used: tuple[CriterionRecord, ...]  # the criteria documented at `fulfilled_on`
    not_counted: tuple[NotCounted, ...]

    def criterion(self, code: str) -> CriterionRecord:
        for c in self.criteria:
            if c.code == code:
                return c
        raise KeyError(code)


# The features that document a counted criterion (one look-up per documented feature and visit).
_COUNTED_FEATURES = {code: f for code, f in FEATURES.items() if f.criterion in _CRITERION_ORDER}

_N_MANDATORY = sum(1 for c in CRITERIA.values() if c.klass is CriterionClass.MANDATORY)


def _fulfilled(mandatory: int, major: int, minor: int) -> bool:
    return mandatory == _N_MANDATORY and major >= 1 and minor >= 1


def criteria_from_history(history: tuple[VisitFeatures, ...]) -> CriteriaAssessment:
    """Assess from a precomputed feature history (one pass over visits × documented features)."""
    first: dict[str, tuple[date, tuple[str, ...]]] = {}
    not_counted: dict[str, NotCounted] = {}
    records: dict[str, CriterionRecord] = {}
    visits: list[VisitCriteria] = []
    fulfilled_on: date | None = None
    used: tuple[CriterionRecord, ...] = ()
    counted: set[str] = set()  # derived features that counted at some visit
    state_at_visit: tuple | None = None  # (documented, mandatory, major, minor, fulfilled) until a criterion is new
    for vf in history:
        new_here: dict[str, list[str]] = {}
        for d in vf.derived:  # a count not confirmed, or one the clinician documented absent
            if d.source in ("unconfirmed", "clinician_absent") and d.code in FEATURES and d.code not in not_counted:
                not_counted[d.code] = NotCounted(d.code, FEATURES[d.code].criterion, vf.date, d.explanation)
        for code, state in vf.states.items():
            if state != PRESENT:
                continue
            feature = _COUNTED_FEATURES.get(code)
            if feature is None:
                continue
            if not feature.counts_alone:
                if code not in not_counted:
                    not_counted[code] = NotCounted(code, feature.criterion, vf.date, tr(feature.description))
                continue
            if feature.derived:
                counted.add(code)
            if feature.criterion not in first:
                new_here.setdefault(feature.criterion, []).append(code)
        for crit, codes in new_here.items():
            c = CRITERIA[crit]
            first[crit] = (vf.date, tuple(sorted(codes)))
            notes = [found.explanation for code in sorted(codes)
                     if (found := vf.derived_feature(code)) is not None and found.explanation]
            records[crit] = CriterionRecord(c.code, c.label, c.klass, c.number, vf.date, tuple(sorted(codes)), "; ".join(notes))
        if new_here or state_at_visit is None:  # otherwise the same criteria as at the previous visit
            documented = [records[code] for code in _CRITERION_ORDER if code in records]
            mandatory = tuple(r for r in documented if r.klass is CriterionClass.MANDATORY)
            major = tuple(r for r in documented if r.klass is CriterionClass.MAJOR)
            minor = tuple(r for r in documented if r.klass is CriterionClass.MINOR)
            state_at_visit = (documented, mandatory, major, minor, _fulfilled(len(mandatory), len(major), len(minor)))
        documented, mandatory, major, minor, ok = state_at_visit
        visits.append(build_record(VisitCriteria, {"date": vf.date, "mandatory": mandatory, "major": major,
                                                   "minor": minor, "fulfilled": ok}))  # one per visit: no __init__
        if ok and fulfilled_on is None:
            fulfilled_on = vf.date
            used = tuple(documented)
    criteria = tuple(
        records.get(code) or CriterionRecord(code, CRITERIA[code].label, CRITERIA[code].klass, CRITERIA[code].number, None)
        for code in _CRITERION_ORDER
    )
    # a count that was confirmed later did count: only what never counted stays "not counted"
    kept = tuple(n for n in not_counted.values() if n.feature not in counted)
    return CriteriaAssessment(tuple(visits), criteria, fulfilled_on, used, kept)


def assess_criteria(patient: PatientRecord, protocol: Protocol, as_of: date | None = None) -> CriteriaAssessment:
    """Criteria over the patient's visits (only visits on or before `as_of` when given)."""
    record = clip(patient, as_of) if as_of is not None else patient
    return criteria_from_history(feature_history(record, protocol))
