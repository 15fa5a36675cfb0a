"""Patients: finding one by MRN (the one place that spells the MRN comparison) or by id, the
patient list, and storing a corrected identity.

MRNs are compared as `domain.input_rules.mrn_key` folds them (NFC, case-folded: h-000123 names
H-000123), through the unique `patient.mrn_key` column. Services call `patient_row` /
`patient_id` instead of writing their own `where mrn == ...`, and get a `PatientNotFound` when
nothing matches; queries that join through the patient table filter with `mrn_is`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.domain.input_rules import mrn_key
from poems_monitor.models import Patient, Visit
from poems_monitor.persistence.errors import PatientNotFound

patient_table = Patient.__table__


def mrn_is(mrn: str) -> ColumnElement[bool]:
    """The condition "this patient row is the one `mrn` names", for queries joining `patient`."""
    return patient_table.c.mrn_key == mrn_key(mrn)


def mrn_in(mrns: Iterable[str]) -> ColumnElement[bool]:
    """The condition "this patient row is one of those `mrns` name"."""
    return patient_table.c.mrn_key.in_({mrn_key(m) for m in mrns})


def find_patient(session: Session, mrn: str) -> Row | None:
    """The patient row `mrn` names, or None."""
    return session.execute(select(patient_table).where(mrn_is(mrn))).first()


def patient_row(session: Session, mrn: str) -> Row:
    """The patient row `mrn` names; `PatientNotFound(mrn)` when there is none."""
    row = find_patient(session, mrn)
    if row is None:
        raise PatientNotFound(mrn)
    return row


def find_patient_by_id(session: Session, patient_id: int) -> Row | None:
    """The patient row `patient_id`, or None."""
    return session.execute(select(patient_table).where(patient_table.c.id == patient_id)).first()


def patient_by_id(session: Session, patient_id: int) -> Row:
    """The patient row `patient_id`, an id read from another row of the record (so it exists)."""
    return session.execute(select(patient_table).where(patient_table.c.id == patient_id)).one()


def save_patient(session: Session, patient_id: int, values: dict, version: int) -> None:
    """Store the corrected identity `values` (mrn, name, sex, birth and diagnosis dates) of a
    patient with its next `version`; the MRN's folded key moves with it."""
    session.execute(update(patient_table).where(patient_table.c.id == patient_id).values(
        **values, mrn_key=mrn_key(values["mrn"]), version=version))


def patient_count(session: Session) -> int:
    """How many patients the clinic holds."""
    return session.execute(select(func.count()).select_from(patient_table)).scalar_one()


def mrns_in_order(session: Session) -> list[str]:
    """Every patient's MRN, in MRN order."""
    return list(session.execute(select(patient_table.c.mrn).order_by(patient_table.c.mrn)).scalars())


def patient_list(session: Session) -> Sequence[Row]:
    """Every patient in MRN order, with the date of the last visit (`last_visit`, None without
    one) and the number of visits (`visit_count`)."""
    visits = Visit.__table__
    per_patient = (select(visits.c.patient_id, func.max(visits.c.date).label("last_visit"),
                          func.count(visits.c.id).label("visit_count"))
                   .group_by(visits.c.patient_id).subquery())
    return session.execute(
        select(patient_table, per_patient.c.last_visit,
               func.coalesce(per_patient.c.visit_count, 0).label("visit_count"))
        .outerjoin(per_patient, per_patient.c.patient_id == patient_table.c.id).order_by(patient_table.c.mrn)).all()


def patient_id(session: Session, mrn: str) -> int:
    """The id of the patient `mrn` names; `PatientNotFound(mrn)` when there is none."""
    return patient_row(session, mrn).id
