"""The clinic's accounts (`app_user`): finding one by name or id, the list, adding one and
storing what changed (role, active, password hash, the run of failed sign-ins and a lock).

An account is never deleted: a deactivated one keeps its name on everything it recorded. Names
are compared exactly (they are typed at sign-in, and the audit trail names the account so).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.models import User
from poems_monitor.persistence.repositories.statements import inserted_id

account_table = User.__table__


def account_count(session: Session) -> int:
    """How many accounts exist (none: the set-up administrator may act)."""
    return session.execute(select(func.count()).select_from(account_table)).scalar_one()


def accounts_by_name(session: Session) -> Sequence[Row]:
    """Every account, in name order."""
    return session.execute(select(account_table).order_by(account_table.c.name)).all()


def find_account(session: Session, name: str) -> Row | None:
    """The account named `name`, or None."""
    return session.execute(select(account_table).where(account_table.c.name == name)).first()


def account_by_id(session: Session, account_id: int) -> Row:
    """The account `account_id` (an id read from the account itself, so it exists)."""
    return session.execute(select(account_table).where(account_table.c.id == account_id)).one()


def active_names_with_role(session: Session, role: str) -> list[str]:
    """The names of the active accounts with `role`."""
    return list(session.execute(select(account_table.c.name).where(
        account_table.c.role == role, account_table.c.active.is_(True))).scalars())


def add_account(session: Session, name: str, role: str, password_hash: str | None, at: datetime) -> int:
    """Store a new active account; returns its id. No `password_hash` on a clinic server: the
    server keeps the password (its login)."""
    return inserted_id(session, insert(account_table).values(
        name=name, role=role, password_hash=password_hash, active=True, created_at=at))


def update_account(session: Session, account_id: int, **values: object) -> None:
    """Store the changed columns `values` of the account (for example `role=`, `active=`,
    `password_hash=`, `failed_sign_ins=`, `locked_until=`)."""
    session.execute(update(account_table).where(account_table.c.id == account_id).values(**values))
