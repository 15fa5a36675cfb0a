"""Clinic-wide settings stored in the database (shared by every workstation of the clinic),
such as the protocol file's text. Changes are audited by the service that writes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class ClinicSetting(TableModel, table=True):
    __tablename__ = "clinic_setting"

    key: str = Field(primary_key=True, max_length=64)
    value: str
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_by: str = Field(max_length=64)
