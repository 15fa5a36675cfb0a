"""The base of every table class: SQLModel, plus the `__table__` SQLAlchemy gives each table.

SQLModel sets `__table__` at class creation without declaring it, so type checkers would not
know `Patient.__table__`; the services and repositories use it for Core queries."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import SQLModel


class TableModel(SQLModel):
    __table__: ClassVar[Table]
