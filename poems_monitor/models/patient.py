"""The patient table: identity and the dates every rule is anchored on."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class Patient(TableModel, table=True):
    __tablename__ = "patient"

    id: int | None = Field(default=None, primary_key=True)
    mrn: str = Field(max_length=64, unique=True, index=True)
    # the MRN as compared (NFC, case-folded: input_rules.mrn_key), unique so that h-1 and H-1
    # can never be two patients
    mrn_key: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    sex: str = Field(max_length=16)  # female | male | other | unknown
    birth_date: date | None = None
    diagnosis_date: date | None = None
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_by: str = Field(max_length=64)
    version: int = 1  # optimistic concurrency: bumped on every change
