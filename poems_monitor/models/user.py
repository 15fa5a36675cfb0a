"""Local user accounts and their roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class User(TableModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=16)  # nurse | physician | admin
    password_hash: str | None = None
    active: bool = True
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    failed_sign_ins: int = 0  # wrong passwords in a row since the last good one
    locked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
