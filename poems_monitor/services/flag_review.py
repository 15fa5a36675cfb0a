"""Acknowledging a clinical flag: a physician's review with a comment.

Owns the use case. Only a role with the REVIEW permission may acknowledge (checked here, not
only by a greyed-out button). The flag must exist as the rules compute it today (its stable
`flag_id`: mrn + kind + code + date); the review is stored in `flag_review` and audited in the
same transaction. Nothing deletes or hides the flag: the dashboard and the worklist keep showing
it, marked as acknowledged by whom, when and why. A flag is acknowledged once; a second attempt
is refused and names the first review. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import insert, select

from poems_monitor.domain.flags import compute_flags
from poems_monitor.i18n import tr
from poems_monitor.models import FlagReview, Patient
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.patients import mrn_is
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import NO_CHANGES, Changes
from poems_monitor.services.protocol_store import protocol_in
from poems_monitor.services.errors import FieldProblem, InputRefused, PatientNotFound

FR = FlagReview.__table__
P = Patient.__table__
MAX_COMMENT = 2000


@dataclass(frozen=True)
class Acknowledgement:
    review_id: int
    flag_id: str
    mrn: str
    reviewed_by: str
    reviewed_at: datetime
    comment: str
    changes: Changes = field(default=NO_CHANGES, compare=False, repr=False)  # the patient (its flags)


def acknowledge_flag(
    db: Database, actor: Actor, mrn: str, flag_id: str, comment: str, as_of: date | None = None,
) -> Acknowledgement:
    """Record that `actor` reviewed flag `flag_id` of patient `mrn`, with `comment`."""
    require(actor, Permission.REVIEW)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise InputRefused([FieldProblem("comment", tr("The comment must be at most {n} characters").format(n=MAX_COMMENT))])
    as_of = as_of or date.today()
    with db.write() as session:
        records = load_timelines(session, mrns=[mrn])
        if not records:
            raise PatientNotFound(mrn)
        patient = records[0]
        mrn = patient.mrn  # the stored spelling from here on
        flag = next((f for f in compute_flags(patient, protocol_in(session), as_of) if f.flag_id == flag_id), None)
        if flag is None:
            raise InputRefused([FieldProblem("flag", tr(
                "Patient {mrn} has no flag {flag} as of {date}: the record changed since the screen was drawn; reload"
            ).format(mrn=mrn, flag=flag_id, date=as_of.isoformat()))])
        earlier = session.execute(
            select(FR).where(FR.c.patient_id == patient.patient_id, FR.c.flag_id == flag_id).order_by(FR.c.id)
        ).first()
        if earlier is not None:
            raise InputRefused([FieldProblem("flag", tr("This flag was acknowledged already by {who} on {when}").format(
                who=earlier.reviewed_by, when=f"{earlier.reviewed_at:%Y-%m-%d %H:%M}"))])
        now = utcnow()
        review_id = session.execute(insert(FR).values(
            patient_id=patient.patient_id, flag_id=flag_id, kind=flag.kind.value, code=flag.code, flag_date=flag.date,
            comment=comment, reviewed_at=now, reviewed_by=actor.name,
        )).inserted_primary_key[0]
        AuditWriter(session, actor.name).append(
            "acknowledge", "flag", entity_id=review_id, patient_id=patient.patient_id,
            new={"flag_id": flag_id, "kind": flag.kind.value, "code": flag.code, "date": flag.date.isoformat(),
                 "message": flag.message, "comment": comment},
            reason=comment or None, at=now,
        )
    return Acknowledgement(review_id, flag_id, mrn, actor.name, now, comment, Changes.of_patient(mrn))


def reviews_of(db: Database, mrn: str) -> list[Acknowledgement]:
    """Every acknowledgement of the patient's flags, oldest first."""
    with db.read() as session:
        rows = session.execute(
            select(FR, P.c.mrn).join(P, P.c.id == FR.c.patient_id).where(mrn_is(mrn)).order_by(FR.c.id)
        ).all()
    return [Acknowledgement(r.id, r.flag_id, r.mrn, r.reviewed_by, r.reviewed_at, r.comment) for r in rows]
