"""Per-patient cache of what the clinical rules computed (derived data, never clinical record).

One row per patient: the reduced timeline the follow-up schedule needs, the patient's flags and
the worklist rows of the last as-of asked for (usually today),
stamped with what they were computed from (the patient's newest audit entry id, the protocol's
hash, the rules' version). A row whose stamps differ from the database's is stale and is
recomputed; deleting every row is always safe. Written only by `services.rules_cache`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class RulesCache(TableModel, table=True):
    __tablename__ = "rules_cache"

    patient_id: int = Field(foreign_key="patient.id", primary_key=True)
    audit_id: int  # max(audit_entry.id) of the patient when computed (0: none)
    protocol_sha: str = Field(max_length=64)
    rules_version: str = Field(max_length=32)
    latest_date: date | None = None  # newest date in the record: valid for as-of on or after it
    facts: str  # JSON: the reduced timeline the follow-up schedule reads
    flags: str  # JSON: the patient's flags (INTERFACES.md section 3 objects)
    computed_at: datetime = Field(sa_type=DateTime(timezone=True))
    plan_as_of: date | None = None  # the as-of of `plan`
    plan: str | None = None  # JSON: the worklist rows (due soon .. never done) as of `plan_as_of`
