"""What an INSERT or UPDATE statement told: the new row's id, how many rows it changed.

`Session.execute` is typed as returning a plain `Result`; INSERT and UPDATE give a
`CursorResult`, which carries these. One place says so for every repository.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def inserted_id(session: Session, statement: Executable) -> int:
    """Run an INSERT of one row; its new primary key."""
    key = cast(CursorResult[Any], session.execute(statement)).inserted_primary_key
    assert key is not None, "an INSERT statement was expected"
    return int(key[0])


def changed_rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; how many rows it changed."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount
