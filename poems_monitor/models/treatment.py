"""Lines of therapy and clinical events of a patient.

Changes to these rows are written by services that keep the old values in the audit trail.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class Treatment(TableModel, table=True):
    __tablename__ = "treatment"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    regimen: str = Field(max_length=48)
    name: str | None = Field(default=None, max_length=120)  # for regimen "other"
    start: date
    stop: date | None = None
    thromboprophylaxis: str | None = Field(default=None, max_length=10)
    engraftment_date: date | None = None  # ASCT: neutrophil engraftment
    melphalan_mg: float | None = None  # cumulative melphalan dose of this line, when known
    note: str = ""
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_by: str = Field(max_length=64)
    version: int = 1
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    deleted_by: str | None = Field(default=None, max_length=64)


class Event(TableModel, table=True):
    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    type: str = Field(max_length=32)
    date: date
    note: str = ""
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_by: str = Field(max_length=64)
    version: int = 1
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    deleted_by: str | None = Field(default=None, max_length=64)
