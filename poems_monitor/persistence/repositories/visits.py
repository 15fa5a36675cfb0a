"""Visits and what was recorded at them, as the services read them.

`visit_row` is the one place that turns "no such visit" into `VisitNotFound`: a visit is never
deleted (corrections supersede its values), so an unknown id means the caller holds a stale or
mistyped id; the services that open, correct or sign off a visit share this. The superseded
readers return the rows a correction replaced (kept with who, when and why) for the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.models import FeatureStatus, Observation, Visit
from poems_monitor.persistence.errors import VisitNotFound

visit_table, observation_table, feature_table = Visit.__table__, Observation.__table__, FeatureStatus.__table__


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


def superseded_observations_of_patient(session: Session, patient_id: int) -> list[Row]:
    """Every value of the patient's visits that a correction replaced (`superseded_at` set)."""
    return session.execute(select(observation_table).where(
        observation_table.c.visit_id.in_(_visits_of(patient_id)), observation_table.c.superseded_at.is_not(None))).all()


def superseded_features_of_patient(session: Session, patient_id: int) -> list[Row]:
    """Every feature status of the patient's visits that a correction replaced."""
    return session.execute(select(feature_table).where(
        feature_table.c.visit_id.in_(_visits_of(patient_id)), feature_table.c.superseded_at.is_not(None))).all()


def observations_by_id(session: Session, observation_ids: Sequence[int]) -> dict[int, Row]:
    """The observation rows of `observation_ids` (current or superseded), by id."""
    if not observation_ids:
        return {}
    rows = session.execute(select(observation_table).where(observation_table.c.id.in_(list(observation_ids))))
    return {row.id: row for row in rows}
