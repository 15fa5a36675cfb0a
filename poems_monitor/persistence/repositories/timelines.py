"""Reading and writing whole patient timelines with a few set-based statements.

Owns the translation between tables and timeline records. Reading issues one query per table
(not one per patient) and groups rows in Python; writing uses Core executemany, about twenty
times faster than adding ORM objects one by one (TOOLCHAIN.md), and hands the bulk rows (values,
features, exams) to the driver's fast path (`bulk_insert.insert_rows`: ready tuples on SQLite, COPY on PostgreSQL). Only current rows are read:
superseded observations, feature statuses and exams, and deleted treatments and events, stay in
the database for the history view but are not part of the timeline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from datetime import date, datetime
from itertools import groupby
from operator import itemgetter

from sqlalchemy import literal_column, select, update
from sqlalchemy.sql.expression import ColumnClause
from sqlmodel import Session

from poems_monitor.domain.catalogue import series_specimen
from poems_monitor.domain.input_rules import mrn_key
from poems_monitor.domain.timeline import (
    EventRecord, ExamRecord, ObservationRecord, PatientRecord, TreatmentRecord, VisitRecord, build_record,
)
from poems_monitor.models import Event, Exam, FeatureStatus, Observation, Patient, Treatment, Visit
from poems_monitor.persistence import bulk_insert
from poems_monitor.persistence.repositories.patients import mrn_in

P, V, O, F, X, T, E = (m.__table__ for m in (Patient, Visit, Observation, FeatureStatus, Exam, Treatment, Event))

# SQLite allows 32k bound parameters; stay well under it for IN lists.
_CHUNK = 900


_Item = TypeVar("_Item")


def _chunks(ids: Sequence[_Item]) -> Iterable[Sequence[_Item]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


_OBS_COLUMNS = (O.c.visit_id, O.c.code, O.c.value_num, O.c.value_text, O.c.unit, O.c.entered_num, O.c.entered_unit,
                O.c.specimen, O.c.lab, O.c.method, O.c.qualifier, O.c.derived, O.c.confirmed_at_entry)

_new = object.__new__


def _observation(row) -> ObservationRecord:  # noqa: ANN001
    """The record of one value row (a driver tuple on SQLite, a Core row elsewhere), built without
    the dataclass __init__ (`build_record`, inlined: a clinic has most of a million values);
    `number` is known from the columns, so it is set here too."""
    _, code, value_num, value_text, unit, entered_num, entered_unit, specimen, lab, method, qualifier, derived, confirmed = row
    obs = _new(ObservationRecord)
    if value_text is not None:
        obs.__dict__.update({
            "code": code, "value": value_text, "unit": unit, "entered_value": value_text, "entered_unit": entered_unit,
            "specimen": specimen, "lab": lab, "method": method, "qualifier": qualifier,
            "derived": derived == 1, "confirmed_at_entry": confirmed == 1, "number": None})
    else:  # the driver's rows hold SQLite's 0/1 for booleans: `== 1` reads both forms
        obs.__dict__.update({
            "code": code, "value": value_num, "unit": unit, "entered_value": entered_num, "entered_unit": entered_unit,
            "specimen": specimen, "lab": lab, "method": method, "qualifier": qualifier,
            "derived": derived == 1, "confirmed_at_entry": confirmed == 1,
            "number": value_num})  # a number column: float or None, what the property would give
    return obs


def _day(value):  # noqa: ANN001, ANN202
    """A date column as a date: the SQLite driver's rows hold the ISO text Core would parse."""
    return date.fromisoformat(value) if isinstance(value, str) else value


# On SQLite, read the driver's plain tuples (False: Core's rows, as on other databases; tests
# compare the two).
DRIVER_ROWS = True


def _driver_rows(session: Session) -> bool:
    return DRIVER_ROWS and session.connection().dialect.name == "sqlite"


def _all(session: Session, query) -> Sequence[Any]:  # noqa: ANN001
    """Every row of `query`: on SQLite the driver's plain tuples, without Core's per-row work (a
    third of the time of reading a clinic's 845k values); the caller converts what the driver
    leaves raw (booleans are 0/1, dates ISO text). Other databases take Core's rows."""
    connection = session.connection()
    if _driver_rows(session):
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        return connection.exec_driver_sql(sql).cursor.fetchall()
    return session.execute(query).all()


# Where the patient ids go in a query compiled once (`_rows_of_patients`).
_IDS = "__patient_ids__"
_ID_SLOT: ColumnClause[Any] = literal_column(_IDS)
_COMPILED: dict[tuple, str] = {}  # the SQLite text of each kind of query, compiled once per process


def _rows_of_patients(session: Session, key: tuple, build: Callable[[Any], Any], ids: Sequence[int]) -> Sequence[Any]:
    """The rows of the query `build(ids)` (which puts `ids` in an IN list), as `_all` reads them.
    On SQLite, the driver's tuples of a text compiled once per kind of query (`key`), the ids
    written into it as integers: compiling the statement again for each batch of patients cost
    more than reading its rows (the rules read a clinic 50 patients at a time). Elsewhere,
    Core's rows of the same query, the ids bound as parameters a chunk at a time."""
    if _driver_rows(session):
        connection = session.connection()
        sql = _COMPILED.get(key)
        if sql is None:
            sql = _COMPILED[key] = str(build([_ID_SLOT]).compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        listed = ", ".join(str(int(i)) for i in ids)  # int(): nothing but a number is ever written into the text
        return connection.exec_driver_sql(sql.replace(_IDS, listed)).cursor.fetchall()
    out: list[Any] = []
    for chunk in _chunks(list(ids)):
        out.extend(session.execute(build(list(chunk))).all())
    return out


_PATIENT_COLUMNS = (P.c.id, P.c.mrn, P.c.name, P.c.sex, P.c.birth_date, P.c.diagnosis_date)


def load_timelines(session: Session, mrns: Sequence[str] | None = None, patient_ids: Sequence[int] | None = None) -> list[PatientRecord]:
    """Every current timeline (or those of `mrns`, matched as `mrn_key` folds them, / `patient_ids`),
    ordered by MRN."""
    query = select(*_PATIENT_COLUMNS).order_by(P.c.mrn)
    if mrns is not None:
        patients = session.execute(query.where(mrn_in(mrns))).all()
        if patient_ids is not None:
            wanted = set(patient_ids)
            patients = [p for p in patients if p[0] in wanted]
    elif patient_ids is not None and _driver_rows(session):
        patients = _rows_of_patients(session, ("patients",), lambda ids: query.where(P.c.id.in_(ids)), patient_ids)
    elif patient_ids is not None:
        patients = session.execute(query.where(P.c.id.in_(list(patient_ids)))).all()
    else:
        patients = session.execute(query).all()
    if not patients:
        return []
    ids = [p[0] for p in patients]
    whole_clinic = mrns is None and patient_ids is None

    def rows(table, order, patient_col=None, via_visit=False, columns=None):  # noqa: ANN001, ANN202
        """All current rows of `table` for the selected patients; the whole table when all are
        selected (reading only the columns a timeline needs keeps 80,000 values under a second)."""
        base = select(*(columns or (table,)))
        live = table.c.superseded_at.is_(None) if "superseded_at" in table.c else (
            table.c.deleted_at.is_(None) if "deleted_at" in table.c else None)
        if live is not None:
            base = base.where(live)
        if whole_clinic:
            return _all(session, base.order_by(*order))

        def of(chunk):  # noqa: ANN001, ANN202
            if via_visit:
                return base.where(table.c.visit_id.in_(select(V.c.id).where(V.c.patient_id.in_(chunk)))).order_by(*order)
            return base.where(patient_col.in_(chunk)).order_by(*order)

        return _rows_of_patients(session, (table.name, via_visit), of, ids)

    # Every table comes as tuples (the driver's on SQLite) in the order the timeline keeps; the
    # bulk ones (values, feature statuses, exams; visits) are grouped while read and their
    # records built without the dataclass __init__.
    first = itemgetter(0)
    obs_by_visit = {
        visit_id: tuple(map(_observation, group))
        for visit_id, group in groupby(
            rows(O, (O.c.visit_id, O.c.id), via_visit=True, columns=_OBS_COLUMNS), first)
    }
    feat_by_visit = {
        visit_id: tuple((code, status) for _, code, status in group)
        for visit_id, group in groupby(
            rows(F, (F.c.visit_id, F.c.code), via_visit=True, columns=(F.c.visit_id, F.c.code, F.c.status)), first)
    }
    exams_by_visit = {
        visit_id: tuple(build_record(ExamRecord, {"kind": kind, "result": result, "note": note})
                        for _, kind, result, note in group)
        for visit_id, group in groupby(
            rows(X, (X.c.visit_id, X.c.id), via_visit=True, columns=(X.c.visit_id, X.c.kind, X.c.result, X.c.note)),
            first)
    }
    visits_by_patient: dict[int, list[VisitRecord]] = defaultdict(list)
    for visit_id, patient_id, day, note in rows(V, (V.c.patient_id, V.c.date), V.c.patient_id,
                                                columns=(V.c.id, V.c.patient_id, V.c.date, V.c.note)):
        visits_by_patient[patient_id].append(build_record(VisitRecord, {
            "date": _day(day), "observations": obs_by_visit.get(visit_id, ()), "features": feat_by_visit.get(visit_id, ()),
            "exams": exams_by_visit.get(visit_id, ()), "note": note, "visit_id": visit_id}))
    treatments_by_patient: dict[int, list[TreatmentRecord]] = defaultdict(list)
    for patient_id, regimen, start, stop, prophylaxis, name, engraftment, melphalan, note, treatment_id in rows(
            T, (T.c.patient_id, T.c.start, T.c.id), T.c.patient_id,
            columns=(T.c.patient_id, T.c.regimen, T.c.start, T.c.stop, T.c.thromboprophylaxis, T.c.name,
                     T.c.engraftment_date, T.c.melphalan_mg, T.c.note, T.c.id)):
        treatments_by_patient[patient_id].append(
            TreatmentRecord(
                regimen=regimen, start=_day(start), stop=_day(stop), thromboprophylaxis=prophylaxis, name=name,
                engraftment_date=_day(engraftment), melphalan_mg=melphalan, note=note, treatment_id=treatment_id,
            )
        )
    events_by_patient: dict[int, list[EventRecord]] = defaultdict(list)
    for patient_id, kind, day, note, event_id in rows(E, (E.c.patient_id, E.c.date, E.c.id), E.c.patient_id,
                                                      columns=(E.c.patient_id, E.c.type, E.c.date, E.c.note, E.c.id)):
        events_by_patient[patient_id].append(EventRecord(type=kind, date=_day(day), note=note, event_id=event_id))

    return [
        PatientRecord(
            mrn=mrn, name=name, sex=sex, birth_date=_day(birth), diagnosis_date=_day(diagnosis),
            visits=tuple(visits_by_patient.get(pid, ())), treatments=tuple(treatments_by_patient.get(pid, ())),
            events=tuple(events_by_patient.get(pid, ())), patient_id=pid,
        )
        for pid, mrn, name, sex, birth, diagnosis in patients
    ]


def patient_ids_in_mrn_order(session: Session, mrns: Sequence[str] | None = None) -> list[int]:
    """The ids of every patient (or of those of `mrns`) in the order `load_timelines` returns them,
    so a caller can load the clinic a batch at a time; `mrns` are matched as `mrn_key` folds them."""
    query = select(P.c.id).order_by(P.c.mrn)
    if mrns is not None:
        query = query.where(mrn_in(mrns))
    return list(session.execute(query).scalars())


def patient_id_by_mrn(session: Session, mrns: Sequence[str]) -> dict[str, int]:
    """The stored patient of each of `mrns` that has one, keyed by the MRN as asked: compared
    without regard to case or Unicode form (h-000123 finds H-000123)."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for mrn in mrns:
        wanted[mrn_key(mrn)].append(mrn)
    out: dict[str, int] = {}
    for chunk in _chunks(list(wanted)):
        for row in session.execute(select(P.c.id, P.c.mrn_key).where(P.c.mrn_key.in_(chunk))):
            out.update(dict.fromkeys(wanted[row.mrn_key], row.id))
    return out


@dataclass
class WriteStamp:
    user: str
    at: datetime


StoredRows = bulk_insert.StoredRows


def _insert_returning_ids(session: Session, table, rows: list[dict], stored: StoredRows | None = None) -> list[int]:  # noqa: ANN001
    return bulk_insert.insert_rows(session.connection(), table, rows, assign_ids=True, stored=stored)


OBSERVATION_KEYS = ("visit_id", "code", "value_num", "value_text", "unit", "entered_num", "entered_unit", "specimen",
                    "lab", "method", "qualifier", "derived", "confirmed_at_entry", "entered_at", "entered_by")


def observation_values(visit_id: int, o: ObservationRecord, stamp: WriteStamp) -> tuple:
    """The observation row's values in the order of OBSERVATION_KEYS (a bulk insert takes them as
    they are: no dict per value)."""
    value, entered = o.value, o.entered_value
    is_text = isinstance(value, str)
    return (visit_id, o.code, None if is_text else float(value), value if is_text else None, o.unit,
            float(entered) if isinstance(entered, (int, float)) else None, o.entered_unit,
            series_specimen(o.code, o.specimen), o.lab, o.method, o.qualifier, o.derived, o.confirmed_at_entry, stamp.at,
            stamp.user)


def observation_row(visit_id: int, o: ObservationRecord, stamp: WriteStamp) -> dict:
    return dict(zip(OBSERVATION_KEYS, observation_values(visit_id, o, stamp)))


def insert_patient(session: Session, p: PatientRecord, stamp: WriteStamp) -> int:
    return _insert_returning_ids(session, P, [dict(
        mrn=p.mrn, mrn_key=mrn_key(p.mrn), name=p.name, sex=p.sex, birth_date=p.birth_date,
        diagnosis_date=p.diagnosis_date, created_at=stamp.at, created_by=stamp.user, version=1,
    )])[0]


def insert_patients(session: Session, patients: Sequence[PatientRecord], stamp: WriteStamp,
                    stored: StoredRows | None = None) -> list[int]:
    return _insert_returning_ids(session, P, [dict(
        mrn=p.mrn, mrn_key=mrn_key(p.mrn), name=p.name, sex=p.sex, birth_date=p.birth_date,
        diagnosis_date=p.diagnosis_date, created_at=stamp.at, created_by=stamp.user, version=1,
    ) for p in patients], stored)


def insert_visits(session: Session, items: Sequence[tuple[int, VisitRecord]], stamp: WriteStamp,
                  stored: StoredRows | None = None) -> list[int]:
    """Insert visits with everything recorded at them; returns the new visit ids in order."""
    ids = _insert_returning_ids(session, V, [dict(
        patient_id=pid, date=v.date, note=v.note, created_at=stamp.at, created_by=stamp.user, version=1,
    ) for pid, v in items], stored)
    add_visit_contents(session, [(vid, v.observations, v.features, v.exams) for vid, (_, v) in zip(ids, items)], stamp,
                       stored)
    return ids


def add_visit_contents(
    session: Session,
    items: Sequence[tuple[int, Sequence[ObservationRecord], Sequence[tuple[str, str]], Sequence[ExamRecord]]],
    stamp: WriteStamp,
    stored: StoredRows | None = None,
) -> None:
    obs_rows: list[tuple] = []
    feat_rows: list[dict] = []
    exam_rows: list[dict] = []
    for vid, observations, features, exams in items:
        obs_rows.extend([observation_values(vid, o, stamp) for o in observations])
        feat_rows.extend(dict(visit_id=vid, code=c, status=s, entered_at=stamp.at, entered_by=stamp.user) for c, s in features)
        exam_rows.extend(dict(visit_id=vid, kind=x.kind, result=x.result, note=x.note, entered_at=stamp.at,
                              entered_by=stamp.user) for x in exams)
    if obs_rows:
        bulk_insert.insert_rows(session.connection(), O, obs_rows, keys=OBSERVATION_KEYS, stored=stored)
    for table, batch in ((F, feat_rows), (X, exam_rows)):
        if batch:
            bulk_insert.insert_rows(session.connection(), table, batch, stored=stored)


def insert_treatments(session: Session, items: Sequence[tuple[int, TreatmentRecord]], stamp: WriteStamp,
                      stored: StoredRows | None = None) -> list[int]:
    return _insert_returning_ids(session, T, [dict(
        patient_id=pid, regimen=t.regimen, name=t.name, start=t.start, stop=t.stop,
        thromboprophylaxis=t.thromboprophylaxis, engraftment_date=t.engraftment_date, melphalan_mg=t.melphalan_mg,
        note=t.note, created_at=stamp.at, created_by=stamp.user, version=1,
    ) for pid, t in items], stored)


def insert_events(session: Session, items: Sequence[tuple[int, EventRecord]], stamp: WriteStamp,
                  stored: StoredRows | None = None) -> list[int]:
    return _insert_returning_ids(session, E, [dict(
        patient_id=pid, type=e.type, date=e.date, note=e.note, created_at=stamp.at, created_by=stamp.user, version=1,
    ) for pid, e in items], stored)


def set_visit_note(session: Session, visit_id: int, note: str, stamp: WriteStamp) -> None:
    """Fill the note of a visit that had none (an import adding what is new)."""
    session.execute(update(V).where(V.c.id == visit_id, V.c.note == "").values(
        note=note, updated_at=stamp.at, updated_by=stamp.user, version=V.c.version + 1))


def touch_visits(session: Session, visit_ids: Iterable[int], stamp: WriteStamp) -> None:
    """Something was added to these visits: move their version (an entry form opened on one of
    them must reload instead of superseding what arrived), name who changed them, and send them
    back to review."""
    ids = sorted(set(visit_ids))
    for chunk in _chunks(ids):
        session.execute(update(V).where(V.c.id.in_(chunk)).values(
            version=V.c.version + 1, updated_at=stamp.at, updated_by=stamp.user, reviewed_at=None, reviewed_by=None))
