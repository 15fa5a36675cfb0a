"""Waiving a follow-up item for one patient, revoking a waiver, and listing waivers.

Owns the use case. A waiver is a physician's decision that an item of the follow-up schedule is
not to be done for this patient (for example "echo: patient declines, discussed 2026-05"),
optionally until a date. Only a role with the WAIVE permission may waive or revoke (checked
here, not only in the screen); a reason is required; each waiver and revocation is audited with
the patient in the same transaction. Nothing is deleted: a revoked waiver keeps who revoked it
and when. The worklist leaves waived items out and lists them with `--all`. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import insert, select, update

from poems_monitor.domain.catalogue import display_name
from poems_monitor.domain.followup import ITEMS, Waiver
from poems_monitor.i18n import tr
from poems_monitor.models import FollowupWaiver, Patient
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.patients import patient_id, patient_row
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import NO_CHANGES, Changes
from poems_monitor.services.errors import FieldProblem, InputRefused, RecordNotFound

FW = FollowupWaiver.__table__
P = Patient.__table__
MAX_REASON = 2000


@dataclass(frozen=True)
class WaiverRecord:
    waiver_id: int
    mrn: str
    item: str
    reason: str
    until: date | None
    waived_by: str
    waived_at: datetime
    revoked_by: str | None = None
    revoked_at: datetime | None = None
    changes: Changes = field(default=NO_CHANGES, compare=False, repr=False)  # set on a new waiver: the patient

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict:
        return {
            "waiver_id": self.waiver_id, "mrn": self.mrn, "item": self.item, "reason": self.reason,
            "until": self.until.isoformat() if self.until else None, "waived_by": self.waived_by,
            "waived_at": self.waived_at.isoformat(), "revoked_by": self.revoked_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def waive_item(
    db: Database, actor: Actor, mrn: str, item: str, reason: str, until: date | None = None,
    today: date | None = None,
) -> WaiverRecord:
    """Waive `item` for patient `mrn`. Refused without WAIVE, without a reason, for an unknown
    item, an `until` in the past, or when the item is already waived (revoke that one first)."""
    require(actor, Permission.WAIVE)
    today = today or date.today()
    problems = []
    if item not in ITEMS:
        problems.append(FieldProblem("item", tr("{item} is not a follow-up item; the items are: {items}").format(
            item=item, items=", ".join(ITEMS))))
    reason = (reason or "").strip()
    if not reason:
        problems.append(FieldProblem("reason", tr("Give a reason for waiving {item}").format(item=display_name(item))))
    elif len(reason) > MAX_REASON:
        problems.append(FieldProblem("reason", tr("The reason must be at most {n} characters").format(n=MAX_REASON)))
    if until is not None and until < today:
        problems.append(FieldProblem("until", tr("The waiver's end date {until} is in the past").format(
            until=until.isoformat())))
    if problems:
        raise InputRefused(problems)
    with db.write() as session:
        patient = patient_row(session, mrn)
        pid, mrn = patient.id, patient.mrn  # the stored spelling from here on
        earlier = session.execute(select(FW).where(
            FW.c.patient_id == pid, FW.c.item == item, FW.c.revoked_at.is_(None))).first()
        if earlier is not None and (earlier.until is None or earlier.until >= today):
            raise InputRefused([FieldProblem("item", tr(
                "{item} is already waived for {mrn} by {who} ({reason}); revoke that waiver first").format(
                item=item, mrn=mrn, who=earlier.waived_by, reason=earlier.reason))])
        now = utcnow()
        waiver_id = session.execute(insert(FW).values(
            patient_id=pid, item=item, reason=reason, until=until, waived_at=now, waived_by=actor.name,
        )).inserted_primary_key[0]
        AuditWriter(session, actor.name).append(
            "waive", "followup_waiver", entity_id=waiver_id, patient_id=pid,
            new={"mrn": mrn, "item": item, "until": until, "reason": reason}, reason=reason, at=now,
        )
    return WaiverRecord(waiver_id, mrn, item, reason, until, actor.name, now, changes=Changes.of_patient(mrn))


def revoke_waiver(db: Database, actor: Actor, waiver_id: int, reason: str) -> Changes:
    """Withdraw a waiver: the item comes back on the worklist. The row stays, marked revoked."""
    require(actor, Permission.WAIVE)
    reason = (reason or "").strip()
    if not reason:
        raise InputRefused([FieldProblem("reason", tr("Give a reason for revoking the waiver"))])
    with db.write() as session:
        row = session.execute(select(FW).where(FW.c.id == waiver_id)).first()
        if row is None:
            raise RecordNotFound(tr("No waiver {id}").format(id=waiver_id))
        if row.revoked_at is not None:
            raise InputRefused([FieldProblem("waiver", tr("Waiver {id} was revoked already by {who}").format(
                id=waiver_id, who=row.revoked_by))])
        now = utcnow()
        session.execute(update(FW).where(FW.c.id == waiver_id).values(revoked_at=now, revoked_by=actor.name))
        AuditWriter(session, actor.name).append(
            "revoke", "followup_waiver", entity_id=waiver_id, patient_id=row.patient_id,
            old={"item": row.item, "reason": row.reason, "until": row.until, "waived_by": row.waived_by},
            new={"revoked": True}, reason=reason, at=now,
        )
        return Changes.of_patient(session.execute(select(P.c.mrn).where(P.c.id == row.patient_id)).scalar_one())


def list_waivers(db: Database, mrn: str | None = None, include_revoked: bool = False) -> list[WaiverRecord]:
    """Waivers of the clinic (or of one patient), oldest first."""
    query = select(FW, P.c.mrn).join(P, P.c.id == FW.c.patient_id).order_by(FW.c.id)
    if not include_revoked:
        query = query.where(FW.c.revoked_at.is_(None))
    with db.read() as session:
        if mrn is not None:
            query = query.where(FW.c.patient_id == patient_id(session, mrn))
        rows = session.execute(query).all()
    return [WaiverRecord(r.id, r.mrn, r.item, r.reason, r.until, r.waived_by, r.waived_at, r.revoked_by, r.revoked_at)
            for r in rows]


def waivers_in(session, patient_ids=None) -> dict[int, tuple[Waiver, ...]]:  # noqa: ANN001
    """Waivers in force (not revoked) per patient id; `Waiver.applies` checks `until`."""
    query = select(FW).where(FW.c.revoked_at.is_(None)).order_by(FW.c.id)
    if patient_ids is not None:
        query = query.where(FW.c.patient_id.in_(list(patient_ids)))
    out: dict[int, list[Waiver]] = {}
    for w in session.execute(query):
        out.setdefault(w.patient_id, []).append(Waiver(w.item, w.reason, w.waived_by, w.until))
    return {k: tuple(v) for k, v in out.items()}
