"""Visits and what was recorded at them, as the services read them.

`visit_row` is the one place that turns "no such visit" into `VisitNotFound`: a visit is never
deleted (corrections supersede its values), so an unknown id means the caller holds a stale or
mistyped id; the services that open, correct or sign off a visit share this. "Current" rows are
those no correction has replaced; a correction never updates a value in place, it marks the old
row superseded (who, when, why, and for a value the row that replaced it) and adds a new one.
The superseded readers return the replaced rows for the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import Table, and_, func, insert, select, update
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.domain.timeline import ExamRecord, ObservationRecord
from poems_monitor.models import Exam, FeatureStatus, Observation, Patient, User, Visit
from poems_monitor.persistence.repositories.statements import changed_rows, inserted_id
from poems_monitor.persistence.errors import VisitNotFound
from poems_monitor.persistence.repositories.patients import mrn_is
from poems_monitor.persistence.repositories.timelines import WriteStamp, observation_row

visit_table, observation_table, feature_table, exam_table = (
    Visit.__table__, Observation.__table__, FeatureStatus.__table__, Exam.__table__)
patient_table, user_table = Patient.__table__, User.__table__


def visit_row(session: Session, visit_id: int) -> Row:
    """The visit row `visit_id`; `VisitNotFound(visit_id)` when there is none."""
    row = session.execute(select(visit_table).where(visit_table.c.id == visit_id)).first()
    if row is None:
        raise VisitNotFound(visit_id)
    return row


def visit_dates_of_patient(session: Session, patient_id: int) -> dict[int, date]:
    """The date of each visit of the patient, by visit id."""
    return dict(session.execute(
        select(visit_table.c.id, visit_table.c.date).where(visit_table.c.patient_id == patient_id)).all())


def _visits_of(patient_id: int):  # noqa: ANN202 (a scalar subquery)
    return select(visit_table.c.id).where(visit_table.c.patient_id == patient_id)


def superseded_observations_of_patient(session: Session, patient_id: int) -> Sequence[Row]:
    """Every value of the patient's visits that a correction replaced (`superseded_at` set)."""
    return session.execute(select(observation_table).where(
        observation_table.c.visit_id.in_(_visits_of(patient_id)), observation_table.c.superseded_at.is_not(None))).all()


def superseded_features_of_patient(session: Session, patient_id: int) -> Sequence[Row]:
    """Every feature status of the patient's visits that a correction replaced."""
    return session.execute(select(feature_table).where(
        feature_table.c.visit_id.in_(_visits_of(patient_id)), feature_table.c.superseded_at.is_not(None))).all()


def observations_by_id(session: Session, observation_ids: Sequence[int]) -> dict[int, Row]:
    """The observation rows of `observation_ids` (current or superseded), by id."""
    if not observation_ids:
        return {}
    rows = session.execute(select(observation_table).where(observation_table.c.id.in_(list(observation_ids))))
    return {row.id: row for row in rows}


def visit_id_on(session: Session, patient_id: int, day: date) -> int | None:
    """The id of the patient's visit on `day`, if there is one (a patient has at most one a day)."""
    return session.execute(select(visit_table.c.id).where(
        visit_table.c.patient_id == patient_id, visit_table.c.date == day)).scalar()


def visit_id_of_mrn_on(session: Session, mrn: str, day: date) -> int | None:
    """The id of the visit on `day` of the patient `mrn` names; None when there is no such visit
    (or no such patient)."""
    return session.execute(select(visit_table.c.id).join(patient_table, patient_table.c.id == visit_table.c.patient_id)
                           .where(mrn_is(mrn), visit_table.c.date == day)).scalar()


def last_change_of_visit(session: Session, visit_id: int) -> Row:
    """Who saved the visit last and when (`updated_by`/`updated_at`, None before the first
    correction) and who created it when (`created_by`/`created_at`)."""
    return session.execute(select(
        visit_table.c.updated_by, visit_table.c.updated_at, visit_table.c.created_by, visit_table.c.created_at,
    ).where(visit_table.c.id == visit_id)).one()


def current_observations(session: Session, visit_id: int, *, entered_only: bool = False) -> Sequence[Row]:
    """The current values of the visit in the order they were entered; without the derived ones
    (computed from others) when `entered_only`."""
    query = select(observation_table).where(
        observation_table.c.visit_id == visit_id, observation_table.c.superseded_at.is_(None))
    if entered_only:
        query = query.where(observation_table.c.derived.is_(False))
    return session.execute(query.order_by(observation_table.c.id)).all()


def current_features(session: Session, visit_id: int) -> Sequence[Row]:
    """The current feature statuses of the visit."""
    return session.execute(select(feature_table).where(
        feature_table.c.visit_id == visit_id, feature_table.c.superseded_at.is_(None))
        .order_by(feature_table.c.id)).all()


def current_exams(session: Session, visit_id: int) -> Sequence[Row]:
    """The current examination results of the visit in the order they were entered."""
    return session.execute(select(exam_table).where(
        exam_table.c.visit_id == visit_id, exam_table.c.superseded_at.is_(None))
        .order_by(exam_table.c.id)).all()


def mrn_with_most_values(session: Session, codes: Iterable[str]) -> str | None:
    """The MRN of the patient with current values of the most of `codes`, then with the most
    such values (then the first MRN); None when nobody has one."""
    distinct_codes, values = func.count(func.distinct(observation_table.c.code)), func.count(observation_table.c.id)
    return session.execute(
        select(patient_table.c.mrn)
        .join(visit_table, visit_table.c.patient_id == patient_table.c.id)
        .join(observation_table, observation_table.c.visit_id == visit_table.c.id)
        .where(observation_table.c.code.in_(list(codes)), observation_table.c.superseded_at.is_(None))
        .group_by(patient_table.c.mrn).order_by(distinct_codes.desc(), values.desc(), patient_table.c.mrn)
        .limit(1)).scalar()


def latest_values_before(session: Session, mrn: str, before: date) -> Sequence[Row]:
    """The current values (`code`, `value_num`, `value_text`, `qualifier`, visit `date`, and the
    number and unit as entered) of the visits strictly before `before` of the patient `mrn`
    names, newest visit first."""
    return session.execute(
        select(observation_table.c.code, observation_table.c.value_num, observation_table.c.value_text,
               observation_table.c.qualifier, visit_table.c.date, observation_table.c.entered_num,
               observation_table.c.entered_unit)
        .join(visit_table, visit_table.c.id == observation_table.c.visit_id)
        .join(patient_table, patient_table.c.id == visit_table.c.patient_id)
        .where(mrn_is(mrn), visit_table.c.date < before, observation_table.c.superseded_at.is_(None))
        .order_by(visit_table.c.date.desc(), observation_table.c.id.desc())
    ).all()


def latest_features_before(session: Session, mrn: str, before: date, *, except_status: str) -> Sequence[Row]:
    """The current feature statuses (`code`, `status`, visit `date`) of the visits strictly
    before `before` of the patient `mrn` names, newest visit first, leaving out `except_status`."""
    return session.execute(
        select(feature_table.c.code, feature_table.c.status, visit_table.c.date)
        .join(visit_table, visit_table.c.id == feature_table.c.visit_id)
        .join(patient_table, patient_table.c.id == visit_table.c.patient_id)
        .where(mrn_is(mrn), visit_table.c.date < before, feature_table.c.superseded_at.is_(None),
               feature_table.c.status != except_status)
        .order_by(visit_table.c.date.desc(), feature_table.c.id.desc())
    ).all()


# ---------------------------------------------------------------------------------------------
# Corrections: add the new row, mark the old one superseded
# ---------------------------------------------------------------------------------------------

def add_observation(session: Session, visit_id: int, value: ObservationRecord, stamp: WriteStamp) -> int:
    """Store one value at the visit; returns its id."""
    return inserted_id(session, insert(observation_table).values(
        **observation_row(visit_id, value, stamp)))


def add_feature_status(session: Session, visit_id: int, code: str, status: str, stamp: WriteStamp) -> None:
    session.execute(insert(feature_table).values(
        visit_id=visit_id, code=code, status=status, entered_at=stamp.at, entered_by=stamp.user))


def add_exam(session: Session, visit_id: int, exam: ExamRecord, stamp: WriteStamp) -> None:
    session.execute(insert(exam_table).values(
        visit_id=visit_id, kind=exam.kind, result=exam.result, note=exam.note, entered_at=stamp.at,
        entered_by=stamp.user))


def _supersede(session: Session, table: Table, row_id: int, stamp: WriteStamp, reason: str, **more: object) -> None:
    session.execute(update(table).where(table.c.id == row_id).values(
        superseded_at=stamp.at, superseded_by=stamp.user, superseded_reason=reason, **more))


def supersede_observation(session: Session, observation_id: int, replaced_by_id: int | None, stamp: WriteStamp,
                          reason: str) -> None:
    """Mark a value replaced (by `replaced_by_id`, None when it was removed): who, when, why."""
    _supersede(session, observation_table, observation_id, stamp, reason, replaced_by_id=replaced_by_id)


def supersede_feature_status(session: Session, feature_id: int, stamp: WriteStamp, reason: str) -> None:
    _supersede(session, feature_table, feature_id, stamp, reason)


def supersede_exam(session: Session, exam_id: int, stamp: WriteStamp, reason: str) -> None:
    _supersede(session, exam_table, exam_id, stamp, reason)


def save_visit_if_version(session: Session, visit_id: int, expected_version: int, *, day: date, note: str,
                          stamp: WriteStamp) -> bool:
    """Store the visit's corrected date and note with the next version, clearing its sign-off,
    only if it still has `expected_version`; False when another writer saved it first."""
    return changed_rows(session,
        update(visit_table).where(visit_table.c.id == visit_id, visit_table.c.version == expected_version).values(
            date=day, note=note, updated_at=stamp.at, updated_by=stamp.user, version=expected_version + 1,
            reviewed_at=None, reviewed_by=None,
        )) == 1


# ---------------------------------------------------------------------------------------------
# Sign-off by a physician
# ---------------------------------------------------------------------------------------------

def unsigned_visits_entered_by(session: Session, role: str, patient_id: int | None = None) -> Sequence[Row]:
    """The visits not signed off whose latest content was saved by an account of `role`, oldest
    visit first (then by MRN): `id`, `version`, `patient_id`, `mrn`, `name`, `date`, `author`
    and `entered_at` (of the latest save). Only the visits of `patient_id` when given."""
    author = func.coalesce(visit_table.c.updated_by, visit_table.c.created_by)
    query = (
        select(visit_table.c.id, visit_table.c.version, visit_table.c.patient_id, patient_table.c.mrn,
               patient_table.c.name, visit_table.c.date, author.label("author"),
               func.coalesce(visit_table.c.updated_at, visit_table.c.created_at).label("entered_at"))
        .join(patient_table, patient_table.c.id == visit_table.c.patient_id)
        .join(user_table, and_(user_table.c.name == author, user_table.c.role == role))
        .where(visit_table.c.reviewed_at.is_(None))
        .order_by(visit_table.c.date, patient_table.c.mrn)
    )
    if patient_id is not None:
        query = query.where(visit_table.c.patient_id == patient_id)
    return session.execute(query).all()


def sign_off(session: Session, visit_id: int, version: int, stamp: WriteStamp) -> None:
    """Record that `stamp.user` signed off the visit at `version` (the version does not move, so
    a correction in progress is not refused because of it)."""
    session.execute(update(visit_table).where(visit_table.c.id == visit_id, visit_table.c.version == version).values(
        reviewed_at=stamp.at, reviewed_by=stamp.user))
