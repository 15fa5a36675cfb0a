"""Patients, their treatments and events: create, correct, list.

Owns the use cases behind the new-patient, treatment and event dialogs and the patient list.
Corrections need a reason and keep the old values in the audit trail; a treatment or event
entered in error is marked deleted (who, when, why), never removed. Each record carries a
version so a second workstation's stale save is refused instead of overwriting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from sqlalchemy import func, insert, select, update

from poems_monitor.domain.catalogue import EVENT_TYPES, REGIMENS, SEXES, THROMBOPROPHYLAXIS, display_name
from poems_monitor.domain.course import after_death, death_before, records_after, second_death
from poems_monitor.domain.input_rules import (
    EARLIEST_DATE, date_range_problem, finite_number, mrn_key, mrn_problem, normalise_text, text_problem,
)
from poems_monitor.domain.timeline import EventRecord, PatientRecord, TreatmentRecord
from poems_monitor.i18n import tr
from poems_monitor.models import Event, Patient, Treatment, Visit
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import patients as patients_repo
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.persistence.repositories.visits import visit_row
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import Changes, NumberWithChanges
from poems_monitor.services.errors import ConcurrentEdit, FieldProblem, InputRefused, RecordNotFound

P, V, T, E = (m.__table__ for m in (Patient, Visit, Treatment, Event))


@dataclass(frozen=True)
class PatientInput:
    mrn: str
    name: str
    sex: str
    birth_date: date | None
    diagnosis_date: date | None = None


@dataclass(frozen=True)
class PatientListRow:
    patient_id: int
    mrn: str
    name: str
    sex: str
    birth_date: date | None
    diagnosis_date: date | None
    last_visit: date | None
    visit_count: int


@dataclass(frozen=True)
class StoredPatient:
    """One patient's identity as stored, with the version a correction must name."""

    patient_id: int
    version: int
    mrn: str
    name: str
    sex: str
    birth_date: date | None
    diagnosis_date: date | None


def _stored(row) -> StoredPatient:  # noqa: ANN001
    return StoredPatient(row.id, row.version, row.mrn, row.name, row.sex, row.birth_date, row.diagnosis_date)


def stored_patient(db: Database, mrn: str) -> StoredPatient:
    """The patient `mrn` names, as stored (`PatientNotFound` when none)."""
    with db.read() as session:
        return _stored(patients_repo.patient_row(session, mrn))


def patient_of_visit(db: Database, visit_id: int) -> StoredPatient:
    """The patient whose visit `visit_id` is (`VisitNotFound` when there is no such visit)."""
    with db.read() as session:
        visit = visit_row(session, visit_id)
        return _stored(session.execute(select(P).where(P.c.id == visit.patient_id)).one())


def _check_patient(p: PatientInput, today: date) -> list[FieldProblem]:
    problems = []
    if not p.mrn.strip() or len(p.mrn) > 64:
        problems.append(FieldProblem("mrn", tr("MRN must be 1 to 64 characters")))
    elif mrn_problem(p.mrn.strip()):
        problems.append(FieldProblem("mrn", mrn_problem(p.mrn.strip())))
    if not p.name.strip() or len(p.name) > 200:
        problems.append(FieldProblem("name", tr("Name must be 1 to 200 characters")))
    elif text_problem(p.name):
        problems.append(FieldProblem("name", tr("Name {problem}").format(problem=text_problem(p.name))))
    for field, label, value in (("birth_date", tr("Birth date"), p.birth_date),
                                ("diagnosis_date", tr("Diagnosis date"), p.diagnosis_date)):
        if value is not None and value < EARLIEST_DATE:
            problems.append(FieldProblem(field, date_range_problem(value, today, label)))
    if p.sex not in SEXES:
        problems.append(FieldProblem("sex", tr("Sex must be one of {choices}").format(choices=", ".join(SEXES))))
    if p.birth_date is None:
        problems.append(FieldProblem("birth_date", tr("Birth date is required")))
    elif p.birth_date > today:
        problems.append(FieldProblem("birth_date", tr("Birth date {d} is in the future").format(d=p.birth_date)))
    if p.diagnosis_date is not None:
        if p.diagnosis_date > today:
            problems.append(FieldProblem("diagnosis_date", tr("Diagnosis date {d} is in the future").format(d=p.diagnosis_date)))
        if p.birth_date and p.diagnosis_date < p.birth_date:
            problems.append(FieldProblem("diagnosis_date", tr("Diagnosis date is before the birth date")))
    return problems


def create_patient(db: Database, actor: Actor, p: PatientInput, today: date | None = None) -> NumberWithChanges:
    """The new patient's id (an int, with `.changes`: the patient and the patient list)."""
    require(actor, Permission.RECORD)
    p = PatientInput(normalise_text(p.mrn.strip()), normalise_text(p.name.strip()), p.sex, p.birth_date, p.diagnosis_date)
    problems = _check_patient(p, today or date.today())
    with db.write() as session:
        same = patients_repo.find_patient(session, p.mrn)
        if same:
            problems.append(FieldProblem("mrn", tr("A patient with MRN {mrn} exists already").format(mrn=same.mrn)))
        if problems:
            raise InputRefused(problems)
        pid = repo.insert_patient(session, PatientRecord(p.mrn, p.name, p.sex, p.birth_date, p.diagnosis_date),
                                  repo.WriteStamp(actor.name, utcnow()))
        AuditWriter(session, actor.name).append("create", "patient", entity_id=pid, patient_id=pid, new=asdict(p))
    return NumberWithChanges(pid, Changes.of_patient(p.mrn, patient_list=True))


def update_patient(db: Database, actor: Actor, patient_id: int, expected_version: int, p: PatientInput, reason: str,
                   today: date | None = None) -> NumberWithChanges:
    """The patient's new version (an int, with `.changes`: the patient, under its old and new MRN,
    and the patient list)."""
    require(actor, Permission.RECORD)
    p = PatientInput(normalise_text(p.mrn.strip()), normalise_text(p.name.strip()), p.sex, p.birth_date, p.diagnosis_date)
    problems = _check_patient(p, today or date.today())
    if not (reason or "").strip():
        problems.append(FieldProblem("reason", tr("A correction needs a reason")))
    with db.write() as session:
        row = session.execute(select(P).where(P.c.id == patient_id)).first()
        if row is None:
            raise RecordNotFound(tr("Patient {id} does not exist").format(id=patient_id))
        if row.version != expected_version:
            raise ConcurrentEdit(tr("This patient was changed by someone else after you opened it: reload"))
        same = patients_repo.find_patient(session, p.mrn) if p.mrn != row.mrn else None
        if same is not None and same.id != patient_id:
            problems.append(FieldProblem("mrn", tr("A patient with MRN {mrn} exists already").format(mrn=p.mrn)))
        if problems:
            raise InputRefused(problems)
        old = {k: getattr(row, k) for k in ("mrn", "name", "sex", "birth_date", "diagnosis_date")}
        session.execute(update(P).where(P.c.id == patient_id).values(**asdict(p), mrn_key=mrn_key(p.mrn),
                                                                     version=row.version + 1))
        AuditWriter(session, actor.name).append("correct", "patient", entity_id=patient_id, patient_id=patient_id,
                                                old=old, new=asdict(p), reason=reason.strip())
        return NumberWithChanges(row.version + 1, Changes.of_patients({row.mrn, p.mrn}, patient_list=True))


def list_patients(db: Database) -> list[PatientListRow]:
    """Every patient with the date of the last visit, in one query."""
    last = select(V.c.patient_id, func.max(V.c.date).label("last_visit"), func.count(V.c.id).label("n")) \
        .group_by(V.c.patient_id).subquery()
    query = select(P, last.c.last_visit, last.c.n).outerjoin(last, last.c.patient_id == P.c.id).order_by(P.c.mrn)
    with db.read() as session:
        return [
            PatientListRow(r.id, r.mrn, r.name, r.sex, r.birth_date, r.diagnosis_date, r.last_visit, r.n or 0)
            for r in session.execute(query)
        ]


def stored_mrn(db: Database, mrn: str) -> str:
    """The MRN as stored of the patient `mrn` names without regard to case or Unicode form
    (h-000123 names H-000123); `mrn` itself when no patient has it."""
    with db.read() as session:
        row = patients_repo.find_patient(session, mrn)
    return row.mrn if row else mrn


def patient_id_for(db: Database, mrn: str) -> int:
    """The id of the patient `mrn` names (`PatientNotFound` when none)."""
    with db.read() as session:
        return patients_repo.patient_id(session, mrn)


# ---------------------------------------------------------------------------------------------
# Treatments and events
# ---------------------------------------------------------------------------------------------

def check_treatment(t: TreatmentRecord, birth: date | None, today: date) -> list[FieldProblem]:
    problems = []
    if t.regimen not in REGIMENS:
        problems.append(FieldProblem("regimen", tr("'{r}' is not a known regimen").format(r=t.regimen)))
    if t.regimen == "other" and not (t.name or "").strip():
        problems.append(FieldProblem("name", tr("A regimen 'other' needs a name")))
    if t.start > today:
        problems.append(FieldProblem("start", tr("Start {d} is in the future").format(d=t.start)))
    if t.start < EARLIEST_DATE:
        problems.append(FieldProblem("start", date_range_problem(t.start, today, tr("Start"))))
    if birth and t.start < birth:
        problems.append(FieldProblem("start", tr("Start {d} is before the birth date").format(d=t.start)))
    if t.stop is not None and t.stop < t.start:
        problems.append(FieldProblem("stop", tr("Stop {stop} is before start {start}").format(stop=t.stop, start=t.start)))
    if t.stop is not None and t.stop > today:
        problems.append(FieldProblem("stop", tr("Stop {d} is in the future: leave it empty while the line runs").format(d=t.stop)))
    if t.engraftment_date is not None and (t.engraftment_date < t.start or t.engraftment_date > today):
        problems.append(FieldProblem("engraftment_date", tr("Engraftment must lie between the infusion and today")))
    if t.thromboprophylaxis is not None and t.thromboprophylaxis not in THROMBOPROPHYLAXIS:
        problems.append(FieldProblem("thromboprophylaxis", tr("Thromboprophylaxis must be one of {c}").format(
            c=", ".join(THROMBOPROPHYLAXIS))))
    if t.melphalan_mg is not None and (finite_number(t.melphalan_mg) is None or not 0 <= t.melphalan_mg <= 100000):
        problems.append(FieldProblem("melphalan_mg", tr("Melphalan dose must be between 0 and 100000 mg")))
    return problems


def stored_death(session, patient_id: int) -> date | None:  # noqa: ANN001
    """The patient's recorded date of death (the earliest, should there be two), or None."""
    return session.execute(select(func.min(E.c.date)).where(
        E.c.patient_id == patient_id, E.c.type == "death", E.c.deleted_at.is_(None))).scalar()


def _treatment_after_death(t: TreatmentRecord, died: date | None) -> list[FieldProblem]:
    out = []
    for fname in ("start", "stop", "engraftment_date"):
        label = tr("{regimen} {field}").format(regimen=display_name(t.regimen), field=fname.replace("_", " "))
        if (msg := after_death(label, getattr(t, fname), died)) is not None:
            out.append(FieldProblem(fname, msg[0].upper() + msg[1:]))
    return out


def _treatment_values(t: TreatmentRecord) -> dict:
    return dict(regimen=t.regimen, name=t.name, start=t.start, stop=t.stop, thromboprophylaxis=t.thromboprophylaxis,
                engraftment_date=t.engraftment_date, melphalan_mg=t.melphalan_mg, note=t.note)


def add_treatment(db: Database, actor: Actor, mrn: str, t: TreatmentRecord, today: date | None = None) -> NumberWithChanges:
    """The new treatment's id (an int, with `.changes`: the patient)."""
    require(actor, Permission.RECORD)
    with db.write() as session:
        patient = patients_repo.patient_row(session, mrn)
        problems = check_treatment(t, patient.birth_date, today or date.today())
        problems += _treatment_after_death(t, stored_death(session, patient.id))
        if problems:
            raise InputRefused(problems)
        tid = repo.insert_treatments(session, [(patient.id, t)], repo.WriteStamp(actor.name, utcnow()))[0]
        AuditWriter(session, actor.name).append("create", "treatment", entity_id=tid, patient_id=patient.id,
                                                new=_treatment_values(t))
    return NumberWithChanges(tid, Changes.of_patient(patient.mrn))


def update_treatment(db: Database, actor: Actor, treatment_id: int, expected_version: int, t: TreatmentRecord,
                     reason: str, today: date | None = None) -> Changes:
    require(actor, Permission.RECORD)
    with db.write() as session:
        row = session.execute(select(T).where(T.c.id == treatment_id, T.c.deleted_at.is_(None))).first()
        if row is None:
            raise RecordNotFound(tr("Treatment {id} does not exist").format(id=treatment_id))
        if row.version != expected_version:
            raise ConcurrentEdit(tr("This treatment was changed by someone else after you opened it: reload"))
        birth = session.execute(select(P.c.birth_date).where(P.c.id == row.patient_id)).scalar_one()
        problems = check_treatment(t, birth, today or date.today())
        problems += _treatment_after_death(t, stored_death(session, row.patient_id))
        if not (reason or "").strip():
            problems.append(FieldProblem("reason", tr("A correction needs a reason")))
        if problems:
            raise InputRefused(problems)
        old = {k: getattr(row, k) for k in _treatment_values(t)}
        session.execute(update(T).where(T.c.id == treatment_id).values(**_treatment_values(t), version=row.version + 1))
        AuditWriter(session, actor.name).append("correct", "treatment", entity_id=treatment_id, patient_id=row.patient_id,
                                                old=old, new=_treatment_values(t), reason=reason.strip())
        return _changes_of_patient(session, row.patient_id)


def delete_treatment(db: Database, actor: Actor, treatment_id: int, reason: str) -> Changes:
    return _soft_delete(db, actor, T, "treatment", treatment_id, reason)


def add_event(db: Database, actor: Actor, mrn: str, e: EventRecord, today: date | None = None) -> NumberWithChanges:
    """The new event's id (an int, with `.changes`: the patient)."""
    require(actor, Permission.RECORD)
    today = today or date.today()
    with db.write() as session:
        patient = patients_repo.patient_row(session, mrn)
        problems = []
        if e.type not in EVENT_TYPES:
            problems.append(FieldProblem("type", tr("'{t}' is not a known event type").format(t=e.type)))
        if e.date > today:
            problems.append(FieldProblem("date", tr("Event date {d} is in the future").format(d=e.date)))
        elif e.date < EARLIEST_DATE:
            problems.append(FieldProblem("date", date_range_problem(e.date, today, tr("Event date"))))
        if patient.birth_date and e.date < patient.birth_date:
            problems.append(FieldProblem("date", tr("Event date is before the birth date")))
        died = stored_death(session, patient.id)
        if e.type == "death" and died is not None and died != e.date:
            problems.append(FieldProblem("date", tr("Second death: {why}").format(why=second_death(e.date, died))))
        elif e.type == "death" and (later := records_after(
                repo.load_timelines(session, patient_ids=[patient.id])[0], e.date)) is not None:
            msg = death_before(e.date, *later)
            problems.append(FieldProblem("date", msg[0].upper() + msg[1:]))
        elif e.type != "death" and (msg := after_death(tr("event date"), e.date, died)) is not None:
            problems.append(FieldProblem("date", msg[0].upper() + msg[1:]))
        if problems:
            raise InputRefused(problems)
        eid = repo.insert_events(session, [(patient.id, e)], repo.WriteStamp(actor.name, utcnow()))[0]
        AuditWriter(session, actor.name).append("create", "event", entity_id=eid, patient_id=patient.id,
                                                new={"type": e.type, "date": e.date, "note": e.note})
    return NumberWithChanges(eid, Changes.of_patient(patient.mrn))


def delete_event(db: Database, actor: Actor, event_id: int, reason: str) -> Changes:
    return _soft_delete(db, actor, E, "event", event_id, reason)


def _soft_delete(db: Database, actor: Actor, table, entity: str, row_id: int, reason: str) -> Changes:  # noqa: ANN001
    require(actor, Permission.RECORD)
    if not (reason or "").strip():
        raise InputRefused([FieldProblem("reason", tr("Removing an entry needs a reason"))])
    with db.write() as session:
        row = session.execute(select(table).where(table.c.id == row_id, table.c.deleted_at.is_(None))).first()
        if row is None:
            raise RecordNotFound(tr("{entity} {id} does not exist").format(entity=entity, id=row_id))
        session.execute(update(table).where(table.c.id == row_id).values(
            deleted_at=utcnow(), deleted_by=actor.name, version=row.version + 1))
        old = {k: v for k, v in row._mapping.items() if k not in ("created_at",)}
        AuditWriter(session, actor.name).append("delete", entity, entity_id=row_id, patient_id=row.patient_id,
                                                old=old, reason=reason.strip())
        return _changes_of_patient(session, row.patient_id)


def _changes_of_patient(session, patient_id: int) -> Changes:  # noqa: ANN001
    return Changes.of_patient(session.execute(select(P.c.mrn).where(P.c.id == patient_id)).scalar_one())


def describe_treatment(t: TreatmentRecord) -> str:
    name = t.name if t.regimen == "other" and t.name else display_name(t.regimen)
    span = f"{t.start}–{t.stop}" if t.stop else tr("{start}–ongoing").format(start=t.start)
    return f"{name} ({span})"
