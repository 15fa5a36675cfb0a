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
    # JSON {scope: digest} of the record after this entry's transaction (the last entry of each
    # transaction carries it; None on entries written before the record was sealed)
    state: str | None = None


class RecordSeal(SQLModel, table=True):
    """The content of one row of the record as the app last wrote it, so that `check` can name the
    table, row and field that were changed outside the app. Written only by `services.record_seal`."""

    __tablename__ = "record_seal"

    tbl: str = Field(primary_key=True, max_length=32)
    row_id: str = Field(primary_key=True, max_length=64)  # the row's primary key (text: settings have text keys)
    scope: str = Field(max_length=32, index=True)  # "patient:ID", "accounts" or "settings"
    content: str  # canonical JSON of the row's non-null columns
