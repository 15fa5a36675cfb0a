"""The audit trail: one append-only row per change, chained by hash to the row before it.

Rows are written only by `services.audit` inside the transaction of the change they describe.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class AuditEntry(TableModel, table=True):
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
    # The database login that wrote the entry: PostgreSQL's session_user, set by the server (a
    # client cannot choose it); None on SQLite. Not part of `hash` (see services.audit).
    db_user: str | None = Field(default=None, max_length=64)


class RecordSeal(TableModel, table=True):
    """A short fingerprint of each field of each row of the record as the app last wrote it, so
    that `check` can name the table, row and field changed outside the app (detection itself
    rests on the digests in the audit chain). Written only by `services.record_seal`."""

    __tablename__ = "record_seal"
    __table_args__ = {"sqlite_with_rowid": False}  # one b-tree, keyed by scope: no second index

    scope: str = Field(primary_key=True, max_length=32)  # "patient:ID", "accounts" or "settings"
    tbl: str = Field(primary_key=True, max_length=32)
    row_id: str = Field(primary_key=True, max_length=64)  # the row's primary key (text: settings have text keys)
    fields: str  # per non-null column: 3 hex digits naming the column, 3 of its value (see record_seal)
