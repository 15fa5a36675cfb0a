"""Recording and correcting visits: the nurse's everyday writes.

Owns the use cases "record a new visit" and "correct a saved visit". Every value passes the
catalogue's three tiers (refused / confirm / out of range); a critical value is saved only when
the caller says it was confirmed. A correction needs a reason, never overwrites (the old row is
marked superseded with who, when and why, and the new row points back to it), and is refused
with "changed by X at T, reload" when someone else saved the visit since it was opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone

from sqlmodel import Session

from poems_monitor.domain.catalogue import (
    EXAM_KINDS, EXAM_RESULTS, FEATURES, MEASURES, FeatureState, display_name, value_label,
)
from poems_monitor.domain.numbers import format_number, read_number
from poems_monitor.domain.course import after_death
from poems_monitor.domain.input_rules import EARLIEST_DATE, date_range_problem, normalise_text, text_problem
from poems_monitor.domain.timeline import ExamRecord, ObservationRecord, VisitRecord
from poems_monitor.domain.validation import Tier, check_value
from poems_monitor.i18n import tr
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.persistence.repositories import visits as visits_repo
from poems_monitor.persistence.repositories.patients import patient_by_id, patient_row
from poems_monitor.persistence.repositories.visits import visit_row
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import NO_CHANGES, Changes
from poems_monitor.services.errors import ConcurrentEdit, FieldProblem, InputRefused
from poems_monitor.services.patients import stored_death
from poems_monitor.services.protocol_store import protocol_in


@dataclass(frozen=True)
class EnteredValue:
    code: str
    value: float | str
    unit: str | None = None
    specimen: str | None = None
    qualifier: str | None = None
    confirmed: bool = False  # the person confirmed a critical value


@dataclass(frozen=True)
class VisitInput:
    date: date
    values: tuple[EnteredValue, ...] = ()
    features: tuple[tuple[str, str], ...] = ()  # (code, present|absent|unknown); unknown = not recorded
    exams: tuple[ExamRecord, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class SavedVisit:
    visit_id: int
    version: int
    out_of_range: tuple[FieldProblem, ...] = field(default_factory=tuple)  # saved, but marked
    changes: Changes = field(default=NO_CHANGES, compare=False)  # the patient; a visit waits for (new) sign-off


def validate_visit(entry: VisitInput, sex: str | None, birth: date | None, today: date) -> tuple[list[ObservationRecord], list[FieldProblem], list[FieldProblem]]:
    """Check every field; returns (observations to store, blocking problems, out-of-range notes)."""
    problems: list[FieldProblem] = []
    marked: list[FieldProblem] = []
    if entry.date > today:
        problems.append(FieldProblem("date", tr("Visit date {d} is in the future").format(d=entry.date)))
    elif entry.date < EARLIEST_DATE:
        problems.append(FieldProblem("date", date_range_problem(entry.date, today, tr("Visit date"))))
    if text_problem(entry.note):
        problems.append(FieldProblem("note", tr("The note {problem}").format(problem=text_problem(entry.note))))
    if birth is not None and entry.date < birth:
        problems.append(FieldProblem("date", tr("Visit date {d} is before the birth date {b}").format(d=entry.date, b=birth)))
    observations: list[ObservationRecord] = []
    seen: set[str] = set()
    for v in entry.values:
        if v.code in seen:
            problems.append(FieldProblem(v.code, tr("{name} is entered twice").format(name=display_name(v.code))))
            continue
        seen.add(v.code)
        m = MEASURES.get(v.code)
        if m is not None and m.derived_from:
            continue  # computed below from its parts
        checked = check_value(v.code, v.value, v.unit, sex)
        if checked.tier is Tier.REFUSED:
            problems.append(FieldProblem(v.code, checked.message))
            continue
        if checked.tier is Tier.CRITICAL and not v.confirmed:
            problems.append(FieldProblem(v.code, checked.message, needs_confirmation=True))
            continue
        if checked.tier is Tier.OUT_OF_RANGE:
            marked.append(FieldProblem(v.code, checked.message))
        if v.qualifier not in (None, "<", ">"):
            problems.append(FieldProblem(v.code, tr("{name}: qualifier must be '<' or '>'").format(name=m.label)))
            continue
        if isinstance(v.value, str):  # read as the check read it: "12,5" is 12.5
            entered = v.value if m.kind.value == "categorical" else read_number(v.value).value
        else:
            entered = float(v.value)
        observations.append(ObservationRecord(
            code=v.code, value=checked.canonical, unit=checked.unit, entered_value=entered, entered_unit=v.unit,
            specimen=v.specimen or m.specimen, qualifier=v.qualifier,
            confirmed_at_entry=True,  # checked in front of a person; a critical one only when confirmed (above)
        ))
    by_code = {o.code: o for o in observations}
    for m in MEASURES.values():
        if m.derived_from and all(c in by_code for c in m.derived_from):
            total = sum(float(by_code[c].value) for c in m.derived_from)
            observations.append(ObservationRecord(code=m.code, value=total, unit=m.unit, derived=True))
    states = {s.value for s in FeatureState}
    for code, status in entry.features:
        if code not in FEATURES:
            problems.append(FieldProblem(code, tr("'{code}' is not a known feature").format(code=code)))
        elif status not in states:
            problems.append(FieldProblem(code, tr("{name}: status must be present, absent or unknown").format(name=FEATURES[code].label)))
    for x in entry.exams:
        if x.kind not in EXAM_KINDS or x.result not in EXAM_RESULTS:
            problems.append(FieldProblem(x.kind, tr("Exam {kind}: result must be one of {choices}").format(
                kind=x.kind, choices=", ".join(EXAM_RESULTS))))
    return observations, problems, marked


def _after_death(session: Session, patient_id: int, day: date) -> list[FieldProblem]:
    msg = after_death(tr("visit date"), day, stored_death(session, patient_id))
    return [FieldProblem("date", msg[0].upper() + msg[1:])] if msg is not None else []


def record_visit(db: Database, actor: Actor, mrn: str, entry: VisitInput, today: date | None = None) -> SavedVisit:
    """Save a new visit with everything recorded at it, or refuse it whole."""
    require(actor, Permission.RECORD)
    today = today or date.today()
    entry = replace(entry, note=normalise_text(entry.note))
    with db.write() as session:
        patient = patient_row(session, mrn)
        observations, problems, marked = validate_visit(entry, patient.sex, patient.birth_date, today)
        if visits_repo.visit_id_on(session, patient.id, entry.date) is not None:
            problems.append(FieldProblem("date", tr("{mrn} already has a visit on {d}: open it to correct it").format(
                mrn=patient.mrn, d=entry.date)))
        problems += _after_death(session, patient.id, entry.date)
        if problems:
            raise InputRefused(problems)
        stamp = repo.WriteStamp(actor.name, utcnow())
        features = tuple((c, s) for c, s in entry.features if s != FeatureState.UNKNOWN.value)
        visit_id = repo.insert_visits(session, [(patient.id, VisitRecord(
            date=entry.date, observations=tuple(observations), features=features, exams=entry.exams, note=entry.note,
        ))], stamp)[0]
        AuditWriter(session, actor.name).append(
            "create", "visit", entity_id=visit_id, patient_id=patient.id,
            new={"date": entry.date, "values": {o.code: o.value for o in observations if not o.derived},
                 "features": dict(features), "exams": [[x.kind, x.result] for x in entry.exams], "note": entry.note},
        )
    return SavedVisit(visit_id, 1, tuple(marked), Changes.of_patient(patient.mrn, visit_reviews=True))


def _changed_by(session: Session, visit_id: int) -> str:
    row = visits_repo.last_change_of_visit(session, visit_id)
    who = row.updated_by or row.created_by
    when: datetime = row.updated_at or row.created_at
    if when.tzinfo is None:  # SQLite returns the stored UTC time without its zone
        when = when.replace(tzinfo=timezone.utc)
    local = when.astimezone()  # the workstation's own clock, with its zone named
    return tr("This visit was changed by {who} at {when} after you opened it: reload it and enter your change again").format(
        who=who, when=local.strftime("%Y-%m-%d %H:%M %Z"))


def correct_visit(
    db: Database, actor: Actor, visit_id: int, expected_version: int, entry: VisitInput, reason: str,
    today: date | None = None,
) -> SavedVisit:
    """Replace what is recorded at a visit by `entry`, keeping every old value readable."""
    require(actor, Permission.RECORD)
    today = today or date.today()
    entry = replace(entry, note=normalise_text(entry.note))
    reason = (reason or "").strip()
    with db.write() as session:
        visit = visit_row(session, visit_id)
        if visit.version != expected_version:
            raise ConcurrentEdit(_changed_by(session, visit_id))
        patient = patient_by_id(session, visit.patient_id)
        observations, problems, marked = validate_visit(entry, patient.sex, patient.birth_date, today)
        if not reason:
            problems.append(FieldProblem("reason", tr("A correction needs a reason (for example: typing error, lab amended result)")))
        if entry.date != visit.date and visits_repo.visit_id_on(session, patient.id, entry.date) is not None:
            problems.append(FieldProblem("date", tr("There is already a visit on {d}").format(d=entry.date)))
        problems += _after_death(session, patient.id, entry.date)
        if problems:
            raise InputRefused(problems)

        stamp = repo.WriteStamp(actor.name, utcnow())
        audit = AuditWriter(session, actor.name)
        changes = 0

        # observations: compare current rows with the entry, code by code
        current = {r.code: r for r in visits_repo.current_observations(session, visit_id)}
        wanted = {o.code: o for o in observations}
        for code in sorted(set(current) | set(wanted)):
            old, new = current.get(code), wanted.get(code)
            old_value = None if old is None else (old.value_text if old.value_text is not None else old.value_num)
            if old is not None and new is not None and old_value == new.value and old.qualifier == new.qualifier \
                    and old.entered_unit == new.entered_unit and old.specimen == new.specimen:
                continue
            new_id = None
            if new is not None:
                new_id = visits_repo.add_observation(session, visit_id, new, stamp)
            if old is not None:
                visits_repo.supersede_observation(session, old.id, new_id, stamp, reason)
            if not (new is not None and new.derived):
                audit.append("correct", "observation", entity_id=new_id or old.id, patient_id=patient.id, reason=reason,
                             old=None if old is None else {"visit": visit.date, "code": code, "value": old_value,
                                                           "unit": old.unit, "entered": old.entered_num, "entered_unit": old.entered_unit},
                             new=None if new is None else {"visit": entry.date, "code": code, "value": new.value, "unit": new.unit,
                                                           "entered": new.entered_value, "entered_unit": new.entered_unit})
            changes += 1

        # features
        current_f = {r.code: r for r in visits_repo.current_features(session, visit_id)}
        wanted_f = {c: s for c, s in entry.features if s != FeatureState.UNKNOWN.value}
        for code in sorted(set(current_f) | set(wanted_f)):
            old, new = current_f.get(code), wanted_f.get(code)
            if old is not None and old.status == new:
                continue
            if old is not None:
                visits_repo.supersede_feature_status(session, old.id, stamp, reason)
            if new is not None:
                visits_repo.add_feature_status(session, visit_id, code, new, stamp)
            audit.append("correct", "feature_status", entity_id=visit_id, patient_id=patient.id, reason=reason,
                         old=None if old is None else {"visit": visit.date, "code": code, "status": old.status},
                         new=None if new is None else {"visit": entry.date, "code": code, "status": new})
            changes += 1

        # exams
        current_x = {r.kind: r for r in visits_repo.current_exams(session, visit_id)}
        wanted_x = {x.kind: x for x in entry.exams}
        for kind in sorted(set(current_x) | set(wanted_x)):
            old, new = current_x.get(kind), wanted_x.get(kind)
            if old is not None and new is not None and old.result == new.result and old.note == new.note:
                continue
            if old is not None:
                visits_repo.supersede_exam(session, old.id, stamp, reason)
            if new is not None:
                visits_repo.add_exam(session, visit_id, new, stamp)
            audit.append("correct", "exam", entity_id=visit_id, patient_id=patient.id, reason=reason,
                         old=None if old is None else {"visit": visit.date, "kind": kind, "result": old.result, "note": old.note},
                         new=None if new is None else {"visit": entry.date, "kind": kind, "result": new.result, "note": new.note})
            changes += 1

        if entry.date != visit.date or entry.note != visit.note:
            audit.append("correct", "visit", entity_id=visit_id, patient_id=patient.id, reason=reason,
                         old={"date": visit.date, "note": visit.note}, new={"date": entry.date, "note": entry.note})
            changes += 1
        if changes == 0:
            return SavedVisit(visit_id, visit.version, tuple(marked))  # nothing differed: nothing changed
        new_version = visit.version + 1
        if not visits_repo.save_visit_if_version(session, visit_id, expected_version, day=entry.date, note=entry.note,
                                                 stamp=stamp):  # another writer slipped in (PostgreSQL read committed)
            raise ConcurrentEdit(_changed_by(session, visit_id))
    return SavedVisit(visit_id, new_version, tuple(marked), Changes.of_patient(patient.mrn, visit_reviews=True))


@dataclass(frozen=True)
class VisitSnapshot:
    """A visit as the entry form opens it: values as entered, and the version to save against."""

    visit_id: int
    version: int
    date: date
    values: tuple[EnteredValue, ...]
    features: tuple[tuple[str, str], ...]
    exams: tuple[ExamRecord, ...]
    note: str
    created_by: str
    reviewed_by: str | None


def open_visit(db: Database, visit_id: int) -> VisitSnapshot:
    with db.read() as session:
        v = visit_row(session, visit_id)
        obs = visits_repo.current_observations(session, visit_id, entered_only=True)
        feats = visits_repo.current_features(session, visit_id)
        exams = visits_repo.current_exams(session, visit_id)
    values = tuple(
        EnteredValue(o.code, o.value_text if o.value_text is not None else (o.entered_num if o.entered_num is not None else o.value_num),
                     o.entered_unit, o.specimen, o.qualifier, confirmed=True)
        for o in obs
    )
    return VisitSnapshot(
        visit_id=v.id, version=v.version, date=v.date, values=values, features=tuple(sorted((f.code, f.status) for f in feats)),
        exams=tuple(ExamRecord(x.kind, x.result, x.note) for x in exams), note=v.note, created_by=v.created_by,
        reviewed_by=v.reviewed_by,
    )


@dataclass(frozen=True)
class LastRecorded:
    """The newest earlier value of one measure or feature, as the entry form shows it beside the field."""

    date: date
    text: str  # "312 ×10⁹/L", "lambda", "present"


def last_recorded(db: Database, mrn: str, before: date) -> dict[str, LastRecorded]:
    """For each measure and feature code, the newest current value of visits strictly before
    `before` (a feature only when recorded present or absent). Keys are catalogue codes."""
    with db.read() as session:
        obs = visits_repo.latest_values_before(session, mrn, before)
        feats = visits_repo.latest_features_before(session, mrn, before, except_status=FeatureState.UNKNOWN.value)
        units = protocol_in(session).units  # shown in the clinic's unit, as the field beside it
    out: dict[str, LastRecorded] = {}
    for o in obs:
        if o.code in out:
            continue
        m = MEASURES.get(o.code)
        if o.value_text is not None or m is None or o.value_num is None:
            text = value_label(o.value_text) if o.value_text is not None else str(o.value_num)
        else:
            number = (format_number(o.value_num, m.decimals) if units.is_canonical(o.code)
                      else units.number(o.code, o.value_num, o.entered_num, o.entered_unit))
            unit = "" if m.kind.value == "score" else units.label(o.code)
            text = f"{o.qualifier or ''}{number} {unit}".strip()
        out[o.code] = LastRecorded(o.date, text)
    for f in feats:
        out.setdefault(f.code, LastRecorded(f.date, tr(f.status)))
    return out


def visit_on(db: Database, mrn: str, day: date) -> int | None:
    """The id of `mrn`'s visit on `day`, if there is one (a patient has at most one a day)."""
    with db.read() as session:
        return visits_repo.visit_id_of_mrn_on(session, mrn, day)
