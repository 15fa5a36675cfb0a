"""Finding a patient by MRN: the one place that spells the MRN comparison.

MRNs are compared as `domain.input_rules.mrn_key` folds them (NFC, case-folded: h-000123 names
H-000123), through the unique `patient.mrn_key` column. Services call `patient_row` /
`patient_id` instead of writing their own `where mrn == ...`, and get a `PatientNotFound` when
nothing matches; queries that join through the patient table filter with `mrn_is`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, select
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.domain.input_rules import mrn_key
from poems_monitor.models import Patient
from poems_monitor.persistence.errors import PatientNotFound

P = Patient.__table__


def mrn_is(mrn: str) -> ColumnElement[bool]:
    """The condition "this patient row is the one `mrn` names", for queries joining `patient`."""
    return P.c.mrn_key == mrn_key(mrn)


def mrn_in(mrns: Iterable[str]) -> ColumnElement[bool]:
    """The condition "this patient row is one of those `mrns` name"."""
    return P.c.mrn_key.in_({mrn_key(m) for m in mrns})


def find_patient(session: Session, mrn: str) -> Row | None:
    """The patient row `mrn` names, or None."""
    return session.execute(select(P).where(mrn_is(mrn))).first()


def patient_row(session: Session, mrn: str) -> Row:
    """The patient row `mrn` names; `PatientNotFound(mrn)` when there is none."""
    row = find_patient(session, mrn)
    if row is None:
        raise PatientNotFound(mrn)
    return row


def patient_by_id(session: Session, patient_id: int) -> Row:
    """The patient row `patient_id` (an id read from another row of the record, so it exists)."""
    return session.execute(select(P).where(P.c.id == patient_id)).one()


def patient_id(session: Session, mrn: str) -> int:
    """The id of the patient `mrn` names; `PatientNotFound(mrn)` when there is none."""
    return patient_row(session, mrn).id
