"""Lines of therapy and events (death, relapse, ...): the course records that are marked deleted,
never removed.

`current_treatment` is the one place that turns "no such treatment" into `TreatmentNotFound`: a
removed treatment is found no more, so a stale id (the line was removed on another workstation)
reads as "does not exist". Removing keeps the row with who removed it and when.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.models import Event, Patient, Treatment
from poems_monitor.persistence.errors import TreatmentNotFound
from poems_monitor.persistence.repositories.timelines import WriteStamp

treatment_table, event_table, patient_table = Treatment.__table__, Event.__table__, Patient.__table__
CourseRecord = Literal["treatment", "event"]
_TABLES = {"treatment": treatment_table, "event": event_table}


def current_treatment(session: Session, treatment_id: int) -> Row:
    """The treatment row `treatment_id` (not removed) with its patient's `mrn`;
    `TreatmentNotFound(treatment_id)` when there is none."""
    row = session.execute(
        select(treatment_table, patient_table.c.mrn)
        .join(patient_table, patient_table.c.id == treatment_table.c.patient_id)
        .where(treatment_table.c.id == treatment_id, treatment_table.c.deleted_at.is_(None))
    ).first()
    if row is None:
        raise TreatmentNotFound(treatment_id)
    return row


def save_treatment(session: Session, treatment_id: int, values: dict, version: int) -> None:
    """Store the corrected `values` of a treatment with its next `version`."""
    session.execute(update(treatment_table).where(treatment_table.c.id == treatment_id).values(
        **values, version=version))


def find_current(session: Session, kind: CourseRecord, row_id: int) -> Row | None:
    """The treatment or event row `row_id` as stored, unless it was removed."""
    table = _TABLES[kind]
    return session.execute(select(table).where(table.c.id == row_id, table.c.deleted_at.is_(None))).first()


def mark_deleted(session: Session, kind: CourseRecord, row_id: int, version: int, stamp: WriteStamp) -> None:
    """Mark the treatment or event `row_id` removed by `stamp.user` at `stamp.at`, with its next `version`."""
    table = _TABLES[kind]
    session.execute(update(table).where(table.c.id == row_id).values(
        deleted_at=stamp.at, deleted_by=stamp.user, version=version))


def date_of_death(session: Session, patient_id: int) -> date | None:
    """The patient's recorded date of death (the earliest, should there be two), or None."""
    return session.execute(select(func.min(event_table.c.date)).where(
        event_table.c.patient_id == patient_id, event_table.c.type == "death",
        event_table.c.deleted_at.is_(None))).scalar()
