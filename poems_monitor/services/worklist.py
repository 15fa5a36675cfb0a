"""The clinic worklist and the clinic's flags (INTERFACES.md sections 3 and 4).

Owns the use cases "what follow-up is due for every patient" and "which flags does the clinic
have, and which are not yet acknowledged". The rules themselves are the domain's
(`followup.schedule_for` / `followup_plan`, `flags.compute_flags`); this module applies them to
inputs gathered by `rules_cache.gather` (reduced timelines and flags cached per patient, stamped
with the patient's newest audit entry, so a 2,000-patient worklist takes a fraction of a second),
adds the waivers and the flag reviews, and returns plain frozen dataclasses. No Qt.

Waivers: a waiver that is not revoked and whose `until` is not past leaves its item out of the
worklist (the same rule as the dashboard's follow-up card); `include_waived` lists those rows
separately with the waiver (who, why, until).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select

from poems_monitor.domain.flags import Flag
from poems_monitor.domain.followup import Waiver, WorklistItem, sort_key
from poems_monitor.models import FlagReview
from poems_monitor.persistence.db import Database
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.rules_cache import Gathered, gather, store_plans
from poems_monitor.services.waivers import waivers_in

FR = FlagReview.__table__


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


def _worklist(g: Gathered, include_waived: bool, waivers: dict[int, tuple[Waiver, ...]]) -> Worklist:
    items: list[WorklistItem] = []
    waived: list[WorklistItem] = []
    for head in g.heads:
        w = waivers.get(head.patient_id, ())
        for i in g.plan(head.patient_id):  # followup_plan(record, protocol, as_of), rows with a status
            waiver = next((x for x in w if x.item == i.item and x.applies(g.as_of)), None)
            if waiver is None:
                items.append(i)
            elif include_waived:
                waived.append(replace(i, waiver=waiver))
    return Worklist(g.as_of, tuple(sorted(items, key=sort_key)), tuple(sorted(waived, key=sort_key)))


def _waivers(db: Database, patient_ids=None) -> dict[int, tuple[Waiver, ...]]:  # noqa: ANN001
    with db.read() as session:
        return waivers_in(session, patient_ids)


def build_worklist(db: Database, as_of: date, include_waived: bool = False) -> Worklist:
    """Every patient's due-soon, due, overdue and never-done items, most urgent first; with
    `include_waived`, also the rows a waiver leaves out (in `Worklist.waived`)."""
    g = gather(db, as_of)
    worklist = _worklist(g, include_waived, _waivers(db))
    store_plans(db, g)
    return worklist


def patient_worklist(db: Database, mrn: str, as_of: date, include_waived: bool = True) -> Worklist:
    """One patient's worklist rows (PatientNotFound when the MRN is unknown)."""
    g = gather(db, as_of, mrns=[mrn])
    if not g.heads:
        raise PatientNotFound(mrn)
    worklist = _worklist(g, include_waived, _waivers(db, [g.heads[0].patient_id]))
    store_plans(db, g)
    return worklist


def clinic_flags(db: Database, as_of: date, mrn: str | None = None) -> list[Flag]:
    """Every flag of the clinic (or of patient `mrn`: PatientNotFound when unknown), by MRN then date."""
    g = gather(db, as_of, mrns=[mrn] if mrn is not None else None, want_schedule=False, want_flags=True)
    if mrn is not None and not g.heads:
        raise PatientNotFound(mrn)
    return [f for h in g.heads for f in g.flags[h.patient_id]]


def acknowledged_ids(db: Database, patient_ids=None) -> set[str]:  # noqa: ANN001
    query = select(FR.c.flag_id)
    if patient_ids is not None:
        query = query.where(FR.c.patient_id.in_(list(patient_ids)))
    with db.read() as session:
        return {row[0] for row in session.execute(query)}


def unacknowledged_flags(db: Database, as_of: date, mrn: str | None = None) -> list[Flag]:
    """The flags no physician review names yet (a review is never deleted, the flag stays
    listed by `clinic_flags`)."""
    flags = clinic_flags(db, as_of, mrn)
    done = acknowledged_ids(db)
    return [f for f in flags if f.flag_id not in done]
