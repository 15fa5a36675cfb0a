"""Local user accounts: creating them, checking passwords, and deciding who is acting.

Owns account rules. Passwords are stored as Argon2id hashes (argon2-cffi), never in clear.
While a database has no account at all, the command line acts as an administrator so that the
first account can be created (`poems-monitor users add NAME --role admin`); once accounts
exist, only a known, active account whose password was given may act (INTERFACES.md section 1,
amended 2026-12): the desktop sign-in and the command line both go through `authenticate()`.

Failed sign-ins are counted on the account; after the configured number in a row (a DEFAULT in
the workstation's `session.toml`) the account is locked for a while, or until an administrator
unlocks it or sets a new password. Every failure, lock, unlock and password change is audited.

What changed: `add_user` carries it (`Account.changes`), `change_password` returns it; the
writes that answer whether anything changed (`unlock_user`, `set_active`, `change_role`: True or
False, as the command line and its tests read them) changed the accounts when True
(`ACCOUNTS_CHANGED`): a bool cannot carry more.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import OperationalError

from poems_monitor.config import app_paths
from poems_monitor.i18n import tr
from poems_monitor.models import User
from poems_monitor.persistence.db import Database
from poems_monitor.services.access import Actor, Permission, PermissionDenied, Role, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import ACCOUNTS_CHANGED, NO_CHANGES, Changes

U = User.__table__
_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
# DEFAULTs for a clinic workstation, not values from any standard; `session.toml` may set them.
SESSION_FILE = "session.toml"
DEFAULT_SIGN_IN_ATTEMPTS, SIGN_IN_ATTEMPTS_RANGE = 5, (3, 20)
DEFAULT_LOCK_MINUTES, LOCK_MINUTES_RANGE = 15, (1, 1440)


class AccountError(Exception):
    """A refused account change; the message names the rule."""


class SignInRefused(PermissionDenied):
    """No password, a wrong one, an unknown, inactive or locked account: one sentence, and the
    command or sign-in goes no further."""


@dataclass(frozen=True)
class SignInPolicy:
    attempts: int = DEFAULT_SIGN_IN_ATTEMPTS  # failed sign-ins in a row that lock the account
    lock_minutes: int = DEFAULT_LOCK_MINUTES  # how long the lock lasts (an administrator may lift it sooner)


def sign_in_policy() -> SignInPolicy:
    """The workstation's lock-out setting from `session.toml` (`sign_in_attempts`,
    `sign_in_lock_minutes`); a missing, unreadable or out-of-range value gives the DEFAULT, so a
    typo never switches the lock-out off."""
    try:
        values = tomllib.loads((app_paths().config / SESSION_FILE).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        values = {}

    def bounded(key: str, default: int, limits: tuple[int, int]) -> int:
        value = values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not limits[0] <= value <= limits[1]:
            return default
        return value

    return SignInPolicy(bounded("sign_in_attempts", DEFAULT_SIGN_IN_ATTEMPTS, SIGN_IN_ATTEMPTS_RANGE),
                        bounded("sign_in_lock_minutes", DEFAULT_LOCK_MINUTES, LOCK_MINUTES_RANGE))


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    active: bool
    locked: bool = False  # a lock-out after wrong passwords that has not expired yet
    changes: Changes = field(default=NO_CHANGES, compare=False, repr=False)  # set by add_user: the accounts


def count_users(db: Database) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(U)).scalar_one()


def list_users(db: Database) -> list[Account]:
    with db.read() as session:
        rows = session.execute(select(U).order_by(U.c.name)).all()
    now = utcnow()
    return [Account(r.name, Role(r.role), r.active, (_aware(r.locked_until) or now) > now) for r in rows]


def add_user(db: Database, actor: Actor, name: str, role: Role, password: str, reason: str | None = None) -> Account:
    require(actor, Permission.MANAGE_USERS)
    name = name.strip()
    if not name or len(name) > 64 or any(ch.isspace() for ch in name):
        raise AccountError(tr("User name must be 1 to 64 characters without spaces"))
    _check_new_password(password)
    server = _clinic_server(db)
    if server is not None:
        server.check_login_name(name)
    with db.write() as session:
        if session.execute(select(U.c.id).where(U.c.name == name)).first():
            raise AccountError(tr("A user named {name} exists already").format(name=name))
        new_id = session.execute(insert(U).values(  # on a server, the server keeps the password (its login)
            name=name, role=role.value, password_hash=None if server else _hasher.hash(password), active=True,
            created_at=utcnow(),
        )).inserted_primary_key[0]
        if server is not None:
            server.create_login(session, name, role, password)
        AuditWriter(session, actor.name).append("create", "user", entity_id=new_id, new={"name": name, "role": role.value},
                                                reason=(reason or "").strip() or None)
    return Account(name, role, True, changes=ACCOUNTS_CHANGED)


def _clinic_server(db: Database):  # noqa: ANN202
    """The server module when the database is a clinic server (accounts are its logins), else None."""
    if db.is_sqlite:
        return None
    from poems_monitor.services import clinic_server

    return clinic_server


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(tr("The password must have at least {n} characters").format(n=MIN_PASSWORD_LENGTH))


def _aware(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:  # SQLite hands back naive datetimes: stored as UTC
        return at.replace(tzinfo=timezone.utc)
    return at


_WRONG = "The name or the password is wrong, or the account is not active."
NOT_SIGNED_IN = "(not signed in)"  # the audit's "user" of a failed sign-in and of the lock it causes


def authenticate(db: Database, name: str, password: str | None, *, now: datetime | None = None,
                 policy: SignInPolicy | None = None, record: bool = True) -> Actor:
    """The actor for a correct name and password of an active, unlocked account.

    Raises `SignInRefused` otherwise. A wrong password counts against the account; the count that
    reaches the policy's limit locks it. Neither says whether the name or the password was wrong.
    `record=False` checks without writing (a backup file opened read-only).
    """
    if _clinic_server(db) is not None:  # the server checks the password, and the name is the connection's login
        actor = _clinic_server(db).server_actor(db, name)
        if password is not None:
            _clinic_server(db).check_login_password(db, name, password)
        return actor
    now = now or utcnow()
    policy = policy or sign_in_policy()
    if not password:
        raise SignInRefused(tr("Enter the password of {name}.").format(name=name))
    with db.read() as session:
        row = session.execute(select(U).where(U.c.name == name)).first()
    if row is None or not row.active or not row.password_hash:
        _hasher.hash(password)  # the same time as a real check, so a wrong name is not told apart
        raise SignInRefused(tr(_WRONG))
    locked_until = _aware(row.locked_until)
    if locked_until is not None and locked_until > now:
        raise SignInRefused(_locked_sentence(row.name, locked_until))
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        if record:
            _unless_read_only(lambda: _count_failure(db, row.id, now, policy))
        raise SignInRefused(tr(_WRONG)) from None
    if record and (row.failed_sign_ins or locked_until is not None):
        def reset() -> None:
            with db.write() as session:  # a correct password ends the run of failures (and an expired lock)
                session.execute(update(U).where(U.c.id == row.id).values(failed_sign_ins=0, locked_until=None))
                AuditWriter(session, row.name).append("sign_in", "user", entity_id=row.id,
                                                      old={"failed_sign_ins": row.failed_sign_ins},
                                                      new={"failed_sign_ins": 0})
        _unless_read_only(reset)
    return Actor(row.name, Role(row.role))


def _unless_read_only(write) -> None:  # noqa: ANN001
    """Count or reset sign-in failures, except on a database opened read-only (a damaged file
    or a backup being looked at), which cannot record them and is not written by anyone."""
    try:
        write()
    except OperationalError as exc:
        if "readonly" not in str(exc.orig).replace(" ", "").replace("-", ""):
            raise


def _locked_sentence(name: str, until: datetime) -> str:
    return tr("{name} is locked after too many wrong passwords until {until} UTC; an administrator can unlock it "
              "(users unlock {name}) or set a new password.").format(name=name, until=f"{until:%Y-%m-%d %H:%M}")


def _count_failure(db: Database, user_id: int, now: datetime, policy: SignInPolicy) -> None:
    with db.write() as session:  # read again under the write lock: two workstations count together
        row = session.execute(select(U).where(U.c.id == user_id)).first()
        failures = (row.failed_sign_ins or 0) + 1
        writer = AuditWriter(session, NOT_SIGNED_IN)  # whoever typed it is not known: never the account's holder
        values: dict = {"failed_sign_ins": failures}
        writer.append("sign_in_failed", "user", entity_id=row.id, old={"failed_sign_ins": row.failed_sign_ins},
                      new={"failed_sign_ins": failures})
        if failures >= policy.attempts:
            values = {"failed_sign_ins": 0, "locked_until": now + timedelta(minutes=policy.lock_minutes)}
            writer.append("lock", "user", entity_id=row.id, new={"locked_until": values["locked_until"].isoformat()},
                          reason=tr("{n} wrong passwords in a row").format(n=failures))
        session.execute(update(U).where(U.c.id == row.id).values(**values))


def resolve_actor(db: Database, name: str, password: str | None, *, record: bool = True) -> Actor:
    """Who is acting on the command line: the account `name` once its password is right, or the
    set-up administrator while no account exists yet."""
    if _clinic_server(db) is not None:
        return _clinic_server(db).server_actor(db, name)
    if count_users(db) == 0:
        return Actor(name, Role.ADMIN)
    return authenticate(db, name, password, record=record)


def account_without_password(db: Database, name: str) -> Actor:
    """The account's name and role without a password, for what writes nothing (a screenshot);
    callers wrap it so that every service refuses to write."""
    if count_users(db) == 0:
        return Actor(name, Role.ADMIN)
    with db.read() as session:
        row = session.execute(select(U).where(U.c.name == name)).first()
    if row is None or not row.active:
        raise PermissionDenied(
            tr("{name} has no active account in this clinic database; use --user with an account name").format(name=name)
        )
    return Actor(row.name, Role(row.role))


def change_password(db: Database, actor: Actor, name: str, new_password: str, reason: str | None = None) -> Changes:
    """Set `name`'s password: one's own (the actor signed in with the old one), or anyone's by an
    administrator, who may give the reason (the Accounts dialog asks for it). Clears a lock and
    the run of failures; audited without any hash."""
    if name != actor.name:
        require(actor, Permission.MANAGE_USERS)
    _check_new_password(new_password)
    given = (reason or "").strip()
    with db.write() as session:
        row = session.execute(select(U).where(U.c.name == name)).first()
        if row is None:
            raise AccountError(tr("There is no account named {name}").format(name=name))
        server = _clinic_server(db)
        if server is not None:
            server.set_login_password(session, name, new_password)  # the server checks who may
        else:
            session.execute(update(U).where(U.c.id == row.id).values(
                password_hash=_hasher.hash(new_password), failed_sign_ins=0, locked_until=None))
        AuditWriter(session, actor.name).append("password", "user", entity_id=row.id, new={"name": name},
                                                reason=given or (tr("password changed") if name == actor.name
                                                                 else tr("password set by an administrator")))
    return ACCOUNTS_CHANGED


def unlock_user(db: Database, actor: Actor, name: str) -> bool:
    """Lift a lock-out (administrator); False when the account was not locked."""
    require(actor, Permission.MANAGE_USERS)
    with db.write() as session:
        row = session.execute(select(U).where(U.c.name == name)).first()
        if row is None:
            raise AccountError(tr("There is no account named {name}").format(name=name))
        if row.locked_until is None and not row.failed_sign_ins:
            return False
        session.execute(update(U).where(U.c.id == row.id).values(failed_sign_ins=0, locked_until=None))
        AuditWriter(session, actor.name).append("unlock", "user", entity_id=row.id,
                                                old={"locked_until": str(row.locked_until) if row.locked_until else None,
                                                     "failed_sign_ins": row.failed_sign_ins})
    return True


def required_reason(reason: str | None, what: str) -> str:
    given = (reason or "").strip()
    if not given:
        raise AccountError(tr("{what} needs a reason").format(what=what))
    return given


def _active_admins(session) -> list[str]:  # noqa: ANN001
    return list(session.execute(select(U.c.name).where(U.c.role == Role.ADMIN.value, U.c.active.is_(True))).scalars())


def _account_row(session, name: str):  # noqa: ANN001, ANN202
    row = session.execute(select(U).where(U.c.name == name)).first()
    if row is None:
        raise AccountError(tr("There is no account named {name}").format(name=name))
    return row


def set_active(db: Database, actor: Actor, name: str, active: bool, reason: str) -> bool:
    """Deactivate or reactivate an account (administrator). A deactivated account cannot sign in
    or act and is never deleted: its name stays on everything it recorded. An administrator
    cannot deactivate their own account nor the last active administrator (the clinic would have
    no one left to manage accounts). False when the account was already in that state."""
    require(actor, Permission.MANAGE_USERS)
    why = required_reason(reason, tr("Deactivating an account") if not active else tr("Reactivating an account"))
    with db.write() as session:
        row = _account_row(session, name)
        if bool(row.active) == active:
            return False
        if not active and name == actor.name:
            raise AccountError(tr("You cannot deactivate your own account; another administrator can"))
        if not active and row.role == Role.ADMIN.value and _active_admins(session) == [name]:
            raise AccountError(tr("{name} is the last active administrator and cannot be deactivated").format(name=name))
        session.execute(update(U).where(U.c.id == row.id).values(active=active))
        if _clinic_server(db) is not None:  # the login too: NOLOGIN, and out of its group
            _clinic_server(db).set_login_active(session, name, Role(row.role), active)
        AuditWriter(session, actor.name).append("reactivate" if active else "deactivate", "user", entity_id=row.id,
                                                old={"name": name, "active": bool(row.active)},
                                                new={"name": name, "active": active}, reason=why)
    return True


def deactivate_user(db: Database, actor: Actor, name: str, reason: str) -> bool:
    return set_active(db, actor, name, False, reason)


def reactivate_user(db: Database, actor: Actor, name: str, reason: str) -> bool:
    return set_active(db, actor, name, True, reason)


def change_role(db: Database, actor: Actor, name: str, role: Role, reason: str) -> bool:
    """Give an account another role (administrator). The last active administrator keeps the
    administrator role. False when the account had that role already."""
    require(actor, Permission.MANAGE_USERS)
    why = required_reason(reason, tr("Changing a role"))
    with db.write() as session:
        row = _account_row(session, name)
        if row.role == role.value:
            return False
        if row.role == Role.ADMIN.value and row.active and _active_admins(session) == [name]:
            raise AccountError(tr("{name} is the last active administrator and keeps the administrator role").format(name=name))
        session.execute(update(U).where(U.c.id == row.id).values(role=role.value))
        if _clinic_server(db) is not None and row.active:  # the login changes group with the account
            _clinic_server(db).set_login_group(session, name, role)
        AuditWriter(session, actor.name).append("role", "user", entity_id=row.id, old={"name": name, "role": row.role},
                                                new={"name": name, "role": role.value}, reason=why)
    return True
