"""Finding a visit by id: the one place that turns "no such visit" into `VisitNotFound`.

A visit is never deleted (corrections supersede its values), so an unknown id means the caller
holds a stale or mistyped id; the services that open, correct or sign off a visit share this.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.models import Visit
from poems_monitor.persistence.errors import VisitNotFound

V = Visit.__table__


def visit_row(session: Session, visit_id: int) -> Row:
    """The visit row `visit_id`; `VisitNotFound(visit_id)` when there is none."""
    row = session.execute(select(V).where(V.c.id == visit_id)).first()
    if row is None:
        raise VisitNotFound(visit_id)
    return row
