"""The base of every table class: SQLModel, plus the `__table__` SQLAlchemy gives each table.

SQLModel sets `__table__` at class creation without declaring it, so type checkers would not
know `Patient.__table__`; the services and repositories use it for Core queries."""

from __future__ import annotations

import os
from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import SQLModel

# Pydantic (under SQLModel) looks for plugins of its own when the first table is defined: it reads
# every installed distribution's entry points (about 100 files in a development environment, a
# cold start's time). No part of poems-monitor uses one; a user's environment variable still rules.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


class TableModel(SQLModel):
    __table__: ClassVar[Table]
