"""The clinic worklist and the clinic's flags (INTERFACES.md sections 3 and 4).

Owns the use cases "what follow-up is due for every patient" and "which flags does the clinic
have, and which are not yet acknowledged". The rules themselves are the domain's
(`followup.schedule_for`, `flags.compute_flags`); this module only gathers their inputs from the
database (the patients' timelines, the clinic protocol, the waivers, the flag reviews) and
returns plain frozen dataclasses. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from poems_monitor.domain.flags import Flag, compute_flags
from poems_monitor.domain.followup import Waiver, WorklistItem, schedule_for, sort_key, waived_for
from poems_monitor.domain.protocol import Protocol
from poems_monitor.i18n import tr
from poems_monitor.models import FlagReview, FollowupWaiver
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.protocol_store import protocol_in

FR = FlagReview.__table__
FW = FollowupWaiver.__table__


@dataclass(frozen=True)
class Worklist:
    as_of: date
    items: tuple[WorklistItem, ...]  # due soon, due, overdue or never done; not waived; most urgent first
    waived: tuple[WorklistItem, ...] = ()  # rows a waiver left out (filled with include_waived), each with its waiver

    def to_json(self, include_waived: bool = False) -> dict:
        """The document of INTERFACES.md section 4 (`waived` only with --all)."""
        out = {"as_of": self.as_of.isoformat(), "items": [i.to_json() for i in self.items]}
        if include_waived:
            out["waived"] = [i.to_json() for i in self.waived]
        return out


def waivers_in(session, patient_ids=None) -> dict[int, tuple[Waiver, ...]]:  # noqa: ANN001
    """Waivers in force (not revoked) per patient id; `Waiver.applies` checks `until`."""
    query = select(FW).where(FW.c.revoked_at.is_(None)).order_by(FW.c.id)
    if patient_ids is not None:
        query = query.where(FW.c.patient_id.in_(list(patient_ids)))
    out: dict[int, list[Waiver]] = {}
    for w in session.execute(query):
        out.setdefault(w.patient_id, []).append(Waiver(w.item, w.reason, w.waived_by, w.until))
    return {k: tuple(v) for k, v in out.items()}


def build_worklist(db: Database, as_of: date, include_waived: bool = False, protocol: Protocol | None = None) -> Worklist:
    """Every patient's due-soon, due, overdue and never-done items, most urgent first."""
    with db.read() as session:
        protocol = protocol or protocol_in(session)
        patients = load_timelines(session)
        waivers = waivers_in(session)
    items: list[WorklistItem] = []
    waived: list[WorklistItem] = []
    for p in patients:
        w = waivers.get(p.patient_id, ())
        items.extend(schedule_for(p, protocol, as_of, w))
        if include_waived and w:
            waived.extend(waived_for(p, protocol, as_of, w))
    return Worklist(as_of, tuple(sorted(items, key=sort_key)), tuple(sorted(waived, key=sort_key)))


def patient_worklist(db: Database, mrn: str, as_of: date, include_waived: bool = True) -> Worklist:
    """One patient's worklist rows (KeyError naming the MRN when unknown)."""
    with db.read() as session:
        protocol = protocol_in(session)
        records = load_timelines(session, mrns=[mrn])
        if not records:
            raise KeyError(tr("No patient with MRN {mrn}").format(mrn=mrn))
        p = records[0]
        w = waivers_in(session, [p.patient_id]).get(p.patient_id, ())
    items = schedule_for(p, protocol, as_of, w)
    waived = waived_for(p, protocol, as_of, w) if include_waived and w else ()
    return Worklist(as_of, tuple(sorted(items, key=sort_key)), tuple(sorted(waived, key=sort_key)))


def clinic_flags(db: Database, as_of: date, mrn: str | None = None) -> list[Flag]:
    """Every flag of the clinic (or of patient `mrn`: KeyError when unknown), by MRN then date."""
    with db.read() as session:
        protocol = protocol_in(session)
        patients = load_timelines(session, mrns=[mrn] if mrn is not None else None)
    if mrn is not None and not patients:
        raise KeyError(tr("No patient with MRN {mrn}").format(mrn=mrn))
    return [f for p in patients for f in compute_flags(p, protocol, as_of)]


def acknowledged_ids(db: Database) -> set[str]:
    with db.read() as session:
        return {row[0] for row in session.execute(select(FR.c.flag_id))}


def unacknowledged_flags(db: Database, as_of: date, mrn: str | None = None) -> list[Flag]:
    """The flags no physician review names yet."""
    flags = clinic_flags(db, as_of, mrn)
    done = acknowledged_ids(db)
    return [f for f in flags if f.flag_id not in done]
