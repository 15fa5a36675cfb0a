"""The audit trail: one append-only row per change, chained by hash to the row before it.

Rows are written only by `services.audit` inside the transaction of the change they describe.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    user: str = Field(max_length=64)
    action: str = Field(max_length=32)  # create | correct | delete | import | review | ...
    entity: str = Field(max_length=32)  # patient | visit | observation | treatment | ...
    entity_id: int | None = None
    patient_id: int | None = Field(default=None, index=True)
    old: str | None = None  # JSON of the values before the change
    new: str | None = None  # JSON of the values after the change
    reason: str | None = None
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
