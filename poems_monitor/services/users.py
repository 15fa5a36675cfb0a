"""Local user accounts: creating them, checking passwords, and deciding who is acting.

Owns account rules. Passwords are stored as Argon2id hashes (argon2-cffi), never in clear.
While a database has no account at all, the command line acts as an administrator so that the
first account can be created (`poems-monitor users add NAME --role admin`); once accounts
exist, only known, active users may act.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, insert, select

from poems_monitor.i18n import tr
from poems_monitor.models import User
from poems_monitor.persistence.db import Database
from poems_monitor.services.access import Actor, Permission, PermissionDenied, Role, require
from poems_monitor.services.audit import AuditWriter, utcnow

U = User.__table__
_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


class AccountError(Exception):
    """A refused account change; the message names the rule."""


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    active: bool


def count_users(db: Database) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(U)).scalar_one()


def list_users(db: Database) -> list[Account]:
    with db.read() as session:
        return [Account(r.name, Role(r.role), r.active) for r in session.execute(select(U).order_by(U.c.name))]


def add_user(db: Database, actor: Actor, name: str, role: Role, password: str) -> Account:
    require(actor, Permission.MANAGE_USERS)
    name = name.strip()
    if not name or len(name) > 64 or any(ch.isspace() for ch in name):
        raise AccountError(tr("User name must be 1 to 64 characters without spaces"))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(tr("The password must have at least {n} characters").format(n=MIN_PASSWORD_LENGTH))
    with db.write() as session:
        if session.execute(select(U.c.id).where(U.c.name == name)).first():
            raise AccountError(tr("A user named {name} exists already").format(name=name))
        new_id = session.execute(insert(U).values(
            name=name, role=role.value, password_hash=_hasher.hash(password), active=True, created_at=utcnow(),
        )).inserted_primary_key[0]
        AuditWriter(session, actor.name).append("create", "user", entity_id=new_id, new={"name": name, "role": role.value})
    return Account(name, role, True)


def verify_password(db: Database, name: str, password: str) -> Actor | None:
    """The actor for a correct name and password of an active account, else None."""
    with db.read() as session:
        row = session.execute(select(U).where(U.c.name == name)).first()
    if row is None or not row.active or not row.password_hash:
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return Actor(row.name, Role(row.role))


def resolve_actor(db: Database, name: str) -> Actor:
    """Who is acting on the command line: a known active account, or the set-up administrator
    while no account exists yet."""
    with db.read() as session:
        any_user = session.execute(select(U.c.id).limit(1)).first()
        row = session.execute(select(U).where(U.c.name == name)).first()
    if any_user is None:
        return Actor(name, Role.ADMIN)
    if row is None or not row.active:
        raise PermissionDenied(
            tr("{name} has no active account in this clinic database; use --user with an account name").format(name=name)
        )
    return Actor(row.name, Role(row.role))
