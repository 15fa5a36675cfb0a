"""Finding a line of therapy by id: the one place that turns "no such treatment" into
`TreatmentNotFound`.

A treatment entered in error is marked deleted, never removed; a removed one is found no more,
so a stale id (the line was removed on another workstation) reads as "does not exist".
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.models import Patient, Treatment
from poems_monitor.persistence.errors import TreatmentNotFound

treatment_table, patient_table = Treatment.__table__, Patient.__table__


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
