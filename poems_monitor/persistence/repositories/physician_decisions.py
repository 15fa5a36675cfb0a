"""A physician's decisions about a patient's follow-up: flag acknowledgements (`flag_review`)
and waived follow-up items (`followup_waiver`).

Both are only ever added; a waiver is revoked by marking it (who, when), never deleted, and an
acknowledgement stays for good. Rows come back in the order they were made (by id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.models import FlagReview, FollowupWaiver, Patient
from poems_monitor.persistence.repositories.statements import inserted_id
from poems_monitor.persistence.repositories.patients import mrn_is
from poems_monitor.persistence.repositories.timelines import WriteStamp

flag_review_table, waiver_table, patient_table = FlagReview.__table__, FollowupWaiver.__table__, Patient.__table__


# ---------------------------------------------------------------------------------------------
# Flag acknowledgements
# ---------------------------------------------------------------------------------------------

def first_review_of_flag(session: Session, patient_id: int, flag_id: str) -> Row | None:
    """The first acknowledgement of the patient's flag `flag_id`, or None."""
    return session.execute(select(flag_review_table).where(
        flag_review_table.c.patient_id == patient_id, flag_review_table.c.flag_id == flag_id)
        .order_by(flag_review_table.c.id)).first()


def add_flag_review(session: Session, patient_id: int, *, flag_id: str, kind: str, code: str, flag_date: date,
                    comment: str, stamp: WriteStamp) -> int:
    """Store an acknowledgement of a flag by `stamp.user` at `stamp.at`; returns its id."""
    return inserted_id(session, insert(flag_review_table).values(
        patient_id=patient_id, flag_id=flag_id, kind=kind, code=code, flag_date=flag_date, comment=comment,
        reviewed_at=stamp.at, reviewed_by=stamp.user,
    ))


def flag_reviews_of_mrn(session: Session, mrn: str) -> Sequence[Row]:
    """Every acknowledgement of the flags of the patient `mrn` names, with the stored `mrn`."""
    return session.execute(
        select(flag_review_table, patient_table.c.mrn)
        .join(patient_table, patient_table.c.id == flag_review_table.c.patient_id)
        .where(mrn_is(mrn)).order_by(flag_review_table.c.id)).all()


def flag_reviews(session: Session, patient_ids: Iterable[int] | None = None) -> Sequence[Row]:
    """Every acknowledgement (of the patients `patient_ids` when given), oldest first."""
    query = select(flag_review_table).order_by(flag_review_table.c.id)
    if patient_ids is not None:
        query = query.where(flag_review_table.c.patient_id.in_(list(patient_ids)))
    return session.execute(query).all()


# ---------------------------------------------------------------------------------------------
# Waived follow-up items
# ---------------------------------------------------------------------------------------------

def waiver_in_force(session: Session, patient_id: int, item: str) -> Row | None:
    """The patient's waiver of `item` that was not revoked (its `until` may have passed), or None."""
    return session.execute(select(waiver_table).where(
        waiver_table.c.patient_id == patient_id, waiver_table.c.item == item,
        waiver_table.c.revoked_at.is_(None))).first()


def add_waiver(session: Session, patient_id: int, *, item: str, reason: str, until: date | None,
               stamp: WriteStamp) -> int:
    """Store a waiver of `item` by `stamp.user` at `stamp.at`; returns its id."""
    return inserted_id(session, insert(waiver_table).values(
        patient_id=patient_id, item=item, reason=reason, until=until, waived_at=stamp.at, waived_by=stamp.user,
    ))


def find_waiver(session: Session, waiver_id: int) -> Row | None:
    """The waiver `waiver_id` (revoked or not), or None."""
    return session.execute(select(waiver_table).where(waiver_table.c.id == waiver_id)).first()


def mark_revoked(session: Session, waiver_id: int, stamp: WriteStamp) -> None:
    """Mark the waiver revoked by `stamp.user` at `stamp.at`; the row stays."""
    session.execute(update(waiver_table).where(waiver_table.c.id == waiver_id).values(
        revoked_at=stamp.at, revoked_by=stamp.user))


def waivers_with_mrn(session: Session, *, patient_id: int | None = None, include_revoked: bool = False) -> Sequence[Row]:
    """The waivers (of `patient_id` when given; revoked ones only with `include_revoked`), oldest
    first, each with its patient's `mrn`."""
    query = (select(waiver_table, patient_table.c.mrn)
             .join(patient_table, patient_table.c.id == waiver_table.c.patient_id).order_by(waiver_table.c.id))
    if not include_revoked:
        query = query.where(waiver_table.c.revoked_at.is_(None))
    if patient_id is not None:
        query = query.where(waiver_table.c.patient_id == patient_id)
    return session.execute(query).all()


def waivers_not_revoked(session: Session, patient_ids: Iterable[int] | None = None) -> Sequence[Row]:
    """Every waiver not revoked (of the patients `patient_ids` when given), oldest first."""
    query = select(waiver_table).where(waiver_table.c.revoked_at.is_(None)).order_by(waiver_table.c.id)
    if patient_ids is not None:
        query = query.where(waiver_table.c.patient_id.in_(list(patient_ids)))
    return session.execute(query).all()
