"""Physician review of visits: which visits wait for review, and signing one off.

Owns the rule "a visit whose latest content was entered by a nurse is to review until a
physician signs it off". A correction clears the sign-off (services.visits does that), so a
corrected visit comes back to the list. Signing off is refused for a stale version (the
physician must have seen what is signed) and is recorded in the audit trail; it does not bump
the visit's version, so a nurse's correction in progress is not refused because of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, select, update

from poems_monitor.i18n import tr
from poems_monitor.models import Patient, User, Visit
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.visits import visit_row
from poems_monitor.services.access import Actor, Permission, Role, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import NO_CHANGES, Changes
from poems_monitor.services.errors import ConcurrentEdit, FieldProblem, InputRefused

P, V, U = Patient.__table__, Visit.__table__, User.__table__


@dataclass(frozen=True)
class VisitToReview:
    visit_id: int
    version: int
    patient_id: int
    mrn: str
    patient_name: str
    date: date
    entered_by: str
    entered_at: datetime


@dataclass(frozen=True)
class SignOff:
    visit_id: int
    version: int
    reviewed_by: str
    reviewed_at: datetime
    changes: Changes = field(default=NO_CHANGES, compare=False, repr=False)  # the patient, the list to review


def visits_to_review(db: Database, patient_id: int | None = None) -> list[VisitToReview]:
    """Visits whose latest content was entered by a nurse and that no physician has signed off
    since, oldest visit date first."""
    author = func.coalesce(V.c.updated_by, V.c.created_by)
    query = (
        select(V.c.id, V.c.version, V.c.patient_id, P.c.mrn, P.c.name, V.c.date, author.label("author"),
               func.coalesce(V.c.updated_at, V.c.created_at).label("entered_at"))
        .join(P, P.c.id == V.c.patient_id)
        .join(U, and_(U.c.name == author, U.c.role == Role.NURSE.value))
        .where(V.c.reviewed_at.is_(None))
        .order_by(V.c.date, P.c.mrn)
    )
    if patient_id is not None:
        query = query.where(V.c.patient_id == patient_id)
    with db.read() as session:
        return [VisitToReview(r.id, r.version, r.patient_id, r.mrn, r.name, r.date, r.author, r.entered_at)
                for r in session.execute(query)]


def sign_off_visit(db: Database, actor: Actor, visit_id: int, expected_version: int, comment: str = "") -> SignOff:
    """Record that `actor` (a physician) reviewed the visit as it is at `expected_version`."""
    require(actor, Permission.REVIEW)
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise InputRefused([FieldProblem("comment", tr("The comment must be at most 2000 characters"))])
    with db.write() as session:
        visit = visit_row(session, visit_id)
        if visit.version != expected_version:
            who = visit.updated_by or visit.created_by
            when = visit.updated_at or visit.created_at
            raise ConcurrentEdit(tr(
                "This visit was changed by {who} at {when} after you opened it: reload it and review it again").format(
                who=who, when=when.strftime("%Y-%m-%d %H:%M")))
        if visit.reviewed_at is not None:
            raise InputRefused([FieldProblem("visit", tr("This visit was signed off already by {who} at {when}").format(
                who=visit.reviewed_by, when=visit.reviewed_at.strftime("%Y-%m-%d %H:%M")))])
        now = utcnow()
        session.execute(update(V).where(V.c.id == visit_id, V.c.version == expected_version).values(
            reviewed_at=now, reviewed_by=actor.name))
        AuditWriter(session, actor.name).append(
            "review", "visit", entity_id=visit_id, patient_id=visit.patient_id, at=now,
            new={"visit": visit.date, "version": expected_version, "comment": comment}, reason=comment or None)
        mrn = session.execute(select(P.c.mrn).where(P.c.id == visit.patient_id)).scalar_one()
    return SignOff(visit_id, expected_version, actor.name, now, Changes.of_patient(mrn, visit_reviews=True))
