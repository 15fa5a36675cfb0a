"""Physician review records: flag acknowledgements and follow-up waivers.

A review never deletes the flag or the follow-up item it refers to: the flag is recomputed from
the record every time and shown as acknowledged when a review names its stable identity.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime, Index
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class FlagReview(TableModel, table=True):
    __tablename__ = "flag_review"
    __table_args__ = (Index("ix_flag_review_flag", "flag_id"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    flag_id: str = Field(max_length=64)  # the flag's stable identity
    kind: str = Field(max_length=32)
    code: str = Field(max_length=40)
    flag_date: date
    comment: str = ""
    reviewed_at: datetime = Field(sa_type=DateTime(timezone=True))
    reviewed_by: str = Field(max_length=64)


class FollowupWaiver(TableModel, table=True):
    __tablename__ = "followup_waiver"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    item: str = Field(max_length=32)  # a worklist item: echo, pft, vegf, ...
    reason: str
    until: date | None = None  # None: until revoked
    waived_at: datetime = Field(sa_type=DateTime(timezone=True))
    waived_by: str = Field(max_length=64)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_by: str | None = Field(default=None, max_length=64)
