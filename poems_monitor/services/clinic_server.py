"""The clinic's PostgreSQL server: group roles with only their rights, accounts as server logins,
and a schema that only the server's administrator changes.

Owns everything the server enforces. Each account is a login role in one group role
(`poems_nurse`, `poems_physician`, `poems_admin`); a group's rights are computed from the app's
permission table (`services.access.ROLE_PERMISSIONS`) through `SERVER_RIGHTS`, so the server and
the services can never disagree. Rights that depend on the row or the value are kept by
triggers that refuse with the server's own permission error (SQLSTATE 42501): who may sign off a
visit, change a clinic setting other than the audit chain's head, re-link an audit entry (only
those of one's own transaction, while sealing it) or write an audit entry under another
account's name. Logins are created and changed only through SECURITY DEFINER functions that
administrators may call, so no clinic login needs CREATEROLE; passwords reach the server as
SCRAM verifiers, never in clear.

`upgrade_server()` runs the migrations and re-applies all of this under a session advisory lock,
so that any number of simultaneous runs end with the schema at head once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from poems_monitor.i18n import counted, tr
from poems_monitor.persistence.db import Database, DatabaseError, known_revisions
from poems_monitor.services.access import ROLE_PERMISSIONS, Actor, Permission, PermissionDenied, Role

GROUPS: dict[Role, str] = {Role.NURSE: "poems_nurse", Role.PHYSICIAN: "poems_physician", Role.ADMIN: "poems_admin"}
# A key of the session advisory lock that serialises schema upgrades ("POEMSUPG"); the write
# lock of persistence.db is another key, so an upgrade never waits for itself.
UPGRADE_LOCK_KEY = 0x504F454D53555047
HEAD_SETTING_KEY = "audit.head"  # the one clinic setting every role writes (services.audit)
MAX_LOGIN_BYTES = 63  # PostgreSQL's longest role name

# What every signed-in role writes as part of any audited change: the audit trail (append, and
# re-link the entries of its own transaction when sealing it: the triggers keep it to those), the
# record seal and the rules cache (derived data), the chain head among the clinic settings.
BASELINE: tuple[tuple[str, str], ...] = (
    ("INSERT", "audit_entry"),
    ("UPDATE (prev_hash, state, hash)", "audit_entry"),
    ("INSERT, UPDATE, DELETE", "record_seal"),
    ("INSERT, UPDATE, DELETE", "rules_cache"),
    ("INSERT, UPDATE", "clinic_setting"),  # other keys than the head: EDIT_PROTOCOL (trigger)
)
# What each permission adds. Nothing grants DELETE on the record: the services never delete it.
SERVER_RIGHTS: dict[Permission, tuple[tuple[str, str], ...]] = {
    Permission.RECORD: tuple(("INSERT, UPDATE", table) for table in (
        "patient", "visit", "observation", "feature_status", "exam", "treatment", "event")),
    Permission.REVIEW: (("INSERT", "flag_review"),),  # and signing off a visit (trigger on visit)
    Permission.WAIVE: (("INSERT", "followup_waiver"), ("UPDATE (revoked_at, revoked_by)", "followup_waiver")),
    Permission.EDIT_PROTOCOL: (),  # the protocol row of clinic_setting (trigger)
    Permission.MANAGE_USERS: (("INSERT, UPDATE", "app_user"),),  # and the login functions below
    Permission.BACKUP: (),  # pg_dump reads; every role reads
    Permission.RESTORE: (),  # into an empty database, by the server's owner
}
_LOGIN_FUNCTIONS = ("poems_create_login(text, text, text)", "poems_set_login_group(text, text)",
                    "poems_set_login_active(text, text, boolean)")
_OWN_PASSWORD_FUNCTION = "poems_set_login_password(text, text)"


class ServerRefused(DatabaseError):
    """A server set-up or account change refused; the message says why."""


def group_rights(role: Role) -> list[tuple[str, str]]:
    """The table privileges of a role's group: the baseline plus what its permissions need."""
    rights = list(BASELINE)
    for permission in sorted(ROLE_PERMISSIONS[role], key=lambda p: p.value):
        rights.extend(SERVER_RIGHTS[permission])
    return rights


def _may_sql(permission: Permission) -> str:
    groups = [GROUPS[r] for r in Role if permission in ROLE_PERMISSIONS[r]]
    return " OR ".join(f"pg_has_role(current_user, '{g}', 'MEMBER')" for g in groups) or "false"


def _functions_sql(schema: str) -> list[str]:
    s = schema
    guard = "SET search_path = pg_catalog, pg_temp"
    return [
        # The schema's owner (who ran `server init`) and superusers are not clinic logins.
        f"""CREATE OR REPLACE FUNCTION {s}.poems_is_owner() RETURNS boolean LANGUAGE sql STABLE {guard} AS $$
            SELECT current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = '{s}.alembic_version'::regclass)
                OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.poems_may(permission text) RETURNS boolean LANGUAGE sql STABLE {guard} AS $$
            SELECT {s}.poems_is_owner() OR CASE permission
              {' '.join(f"WHEN '{p.value}' THEN {_may_sql(p)}" for p in Permission)} ELSE false END $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.poems_guard_setting() RETURNS trigger LANGUAGE plpgsql {guard} AS $$
            BEGIN
              IF (TG_OP = 'DELETE' OR NEW.key <> '{HEAD_SETTING_KEY}' OR (TG_OP = 'UPDATE' AND OLD.key <> '{HEAD_SETTING_KEY}'))
                 AND NOT {s}.poems_may('{Permission.EDIT_PROTOCOL.value}') THEN
                RAISE EXCEPTION 'permission denied: % may not change the clinic protocol or settings', session_user
                  USING ERRCODE = 'insufficient_privilege';
              END IF;
              IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
              RETURN NEW;
            END $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.poems_guard_sign_off() RETURNS trigger LANGUAGE plpgsql {guard} AS $$
            BEGIN
              IF (NEW.reviewed_at IS NOT NULL OR NEW.reviewed_by IS NOT NULL)
                 AND (TG_OP = 'INSERT' OR OLD.reviewed_at IS DISTINCT FROM NEW.reviewed_at
                      OR OLD.reviewed_by IS DISTINCT FROM NEW.reviewed_by)
                 AND NOT {s}.poems_may('{Permission.REVIEW.value}') THEN
                RAISE EXCEPTION 'permission denied: % may not sign off visits', session_user
                  USING ERRCODE = 'insufficient_privilege';
              END IF;
              RETURN NEW;
            END $$""",
        # The login that writes an entry is the server's to say; an account's login writes
        # entries under its own name only.
        f"""CREATE OR REPLACE FUNCTION {s}.poems_guard_audit_insert() RETURNS trigger LANGUAGE plpgsql {guard} AS $$
            BEGIN
              NEW.db_user := session_user;
              IF NEW."user" IS DISTINCT FROM session_user::text AND NOT {s}.poems_is_owner() THEN
                RAISE EXCEPTION 'permission denied: the login % may not write audit entries as %', session_user, NEW."user"
                  USING ERRCODE = 'insufficient_privilege';
              END IF;
              RETURN NEW;
            END $$""",
        # Sealing re-links the entries its own transaction wrote; older entries stay as written.
        f"""CREATE OR REPLACE FUNCTION {s}.poems_guard_audit_update() RETURNS trigger LANGUAGE plpgsql {guard} AS $$
            BEGIN
              IF NOT {s}.poems_is_owner() AND (
                   NEW.db_user IS DISTINCT FROM OLD.db_user OR
                   (SELECT xmin::text FROM {s}.audit_entry WHERE id = OLD.id) <> (txid_current() % 4294967296)::text) THEN
                RAISE EXCEPTION 'permission denied: audit entry % was written by an earlier transaction', OLD.id
                  USING ERRCODE = 'insufficient_privilege';
              END IF;
              RETURN NEW;
            END $$""",
        # Accounts as logins: only for administrators (EXECUTE granted to poems_admin), only on
        # logins this clinic database made (marked so: logins are the whole server's, and another
        # clinic's login, or any other, must stay out of reach), only into the clinic's groups.
        f"""CREATE OR REPLACE FUNCTION {s}.poems_login_mark() RETURNS text LANGUAGE sql STABLE {guard} AS $$
            SELECT 'poems-monitor account of database ' || current_database() $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.poems_check_login(login text, grp text, existing boolean) RETURNS void
            LANGUAGE plpgsql {guard} AS $$
            BEGIN
              IF existing AND coalesce(shobj_description((SELECT oid FROM pg_roles WHERE rolname = login), 'pg_authid'), '')
                              <> {s}.poems_login_mark() THEN
                RAISE EXCEPTION 'permission denied: % is not a login of this clinic', login
                  USING ERRCODE = 'insufficient_privilege';
              END IF;
              IF grp IS NOT NULL AND grp NOT IN ({', '.join(f"'{g}'" for g in GROUPS.values())}) THEN
                RAISE EXCEPTION 'not a clinic group: %', grp USING ERRCODE = 'insufficient_privilege';
              END IF;
              IF login IN ({', '.join(f"'{g}'" for g in GROUPS.values())})
                 OR NOT EXISTS (SELECT 1 FROM {s}.app_user WHERE name = login)
                 OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login AND (rolsuper OR rolcreaterole OR rolbypassrls)) THEN
                RAISE EXCEPTION 'permission denied: % is not an account of this clinic', login
                  USING ERRCODE = 'insufficient_privilege';
              END IF;
            END $$""",
        # An administrator's backup is verified by restoring it into a scratch database, which
        # needs CREATEDB; a role attribute is never inherited from a group, so each administrator
        # login carries it itself, and loses it with the group or the login.
        f"""CREATE OR REPLACE FUNCTION {s}.poems_createdb(grp text) RETURNS text LANGUAGE sql IMMUTABLE {guard} AS $$
            SELECT CASE WHEN grp = '{GROUPS[Role.ADMIN]}' THEN 'CREATEDB' ELSE 'NOCREATEDB' END $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.poems_create_login(login text, grp text, verifier text) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER {guard} AS $$
            BEGIN
              PERFORM {s}.poems_check_login(login, grp, false);
              EXECUTE format('CREATE ROLE %I LOGIN INHERIT PASSWORD %L IN ROLE %I', login, verifier, grp);
              EXECUTE format('ALTER ROLE %I ' || {s}.poems_createdb(grp), login);
              EXECUTE format('COMMENT ON ROLE %I IS %L', login, {s}.poems_login_mark());
            END $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.poems_set_login_group(login text, grp text) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER {guard} AS $$
            DECLARE g text;
            BEGIN
              PERFORM {s}.poems_check_login(login, grp, true);
              FOREACH g IN ARRAY ARRAY[{', '.join(f"'{g}'" for g in GROUPS.values())}] LOOP
                EXECUTE format('REVOKE %I FROM %I', g, login);
              END LOOP;
              EXECUTE format('GRANT %I TO %I', grp, login);
              EXECUTE format('ALTER ROLE %I ' || {s}.poems_createdb(grp), login);
            END $$""",
        # A deactivated account loses its group as well as its login, so that a session it
        # opened before can do nothing more either.
        f"""CREATE OR REPLACE FUNCTION {s}.poems_set_login_active(login text, grp text, active boolean) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER {guard} AS $$
            DECLARE g text;
            BEGIN
              PERFORM {s}.poems_check_login(login, grp, true);
              FOREACH g IN ARRAY ARRAY[{', '.join(f"'{g}'" for g in GROUPS.values())}] LOOP
                EXECUTE format('REVOKE %I FROM %I', g, login);
              END LOOP;
              IF active THEN
                EXECUTE format('GRANT %I TO %I', grp, login);
                EXECUTE format('ALTER ROLE %I LOGIN ' || {s}.poems_createdb(grp), login);
              ELSE
                EXECUTE format('ALTER ROLE %I NOLOGIN NOCREATEDB', login);
              END IF;
            END $$""",
        # One's own password, or anyone's for an administrator.
        f"""CREATE OR REPLACE FUNCTION {s}.poems_set_login_password(login text, verifier text) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER {guard} AS $$
            BEGIN
              PERFORM {s}.poems_check_login(login, NULL, true);
              IF login <> session_user AND NOT pg_has_role(session_user, '{GROUPS[Role.ADMIN]}', 'MEMBER') THEN
                RAISE EXCEPTION 'permission denied: % may not set the password of %', session_user, login
                  USING ERRCODE = 'insufficient_privilege';
              END IF;
              EXECUTE format('ALTER ROLE %I PASSWORD %L', login, verifier);
            END $$""",
    ]


_TRIGGERS = (
    ("poems_guard_setting", "clinic_setting", "BEFORE INSERT OR UPDATE OR DELETE", "poems_guard_setting"),
    ("poems_guard_sign_off", "visit", "BEFORE INSERT OR UPDATE", "poems_guard_sign_off"),
    ("poems_guard_audit_insert", "audit_entry", "BEFORE INSERT", "poems_guard_audit_insert"),
    ("poems_guard_audit_update", "audit_entry", "BEFORE UPDATE", "poems_guard_audit_update"),
)


def apply_rights(conn: Connection) -> None:
    """Create the group roles (once per server) and give them exactly their rights on this
    database, replacing whatever they had: idempotent, run by `server init` and `upgrade`."""
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    groups = ", ".join(GROUPS.values())
    for group in GROUPS.values():
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": group}).first() is None:
            conn.execute(text(f'CREATE ROLE "{group}" NOLOGIN'))
    quoted_db = '"' + database.replace('"', '""') + '"'
    conn.execute(text(f"REVOKE ALL ON DATABASE {quoted_db} FROM PUBLIC"))  # no one else connects; no TEMP tables
    conn.execute(text(f"GRANT CONNECT ON DATABASE {quoted_db} TO {groups}"))
    conn.execute(text(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC"))
    conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {groups}"))
    conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM PUBLIC, {groups}"))
    conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM PUBLIC, {groups}"))
    conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {groups}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {groups}"))
    for role, group in GROUPS.items():
        for privileges, table in group_rights(role):
            conn.execute(text(f"GRANT {privileges} ON {schema}.{table} TO {group}"))
    for statement in _functions_sql(schema):
        conn.execute(text(statement))
    for name, table, when, function in _TRIGGERS:
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {schema}.{table}"))
        conn.execute(text(f"CREATE TRIGGER {name} {when} ON {schema}.{table} FOR EACH ROW "
                          f"EXECUTE FUNCTION {schema}.{function}()"))
    conn.execute(text(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM PUBLIC"))
    conn.execute(text(f"GRANT EXECUTE ON FUNCTION {schema}.poems_is_owner(), {schema}.poems_may(text) TO {groups}"))
    conn.execute(text(f"GRANT EXECUTE ON FUNCTION {schema}.{_OWN_PASSWORD_FUNCTION} TO {groups}"))
    conn.execute(text(f"GRANT EXECUTE ON FUNCTION {', '.join(f'{schema}.{f}' for f in _LOGIN_FUNCTIONS)} "
                      f"TO {GROUPS[Role.ADMIN]}"))


# ---------------------------------------------------------------------------------------------
# The schema: created and upgraded by the server's administrator only
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str
    migrated: bool  # False: another run (or an earlier one) had brought it to head already


def upgrade_server(db: Database) -> UpgradeResult:
    """Bring a server database to this version's schema and re-apply the roles' rights, under a
    session advisory lock: simultaneous runs wait for each other and the later ones find the
    schema at head. A schema newer than this version is refused, changing nothing."""
    from poems_monitor.persistence.db import current_revision, upgrade

    if db.is_sqlite:
        raise ServerRefused(tr("server commands need a PostgreSQL URL (postgresql+psycopg://…); an SQLite file "
                               "upgrades itself when it is opened"))
    revisions, head = known_revisions()
    with db.engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": UPGRADE_LOCK_KEY})
        lock.commit()
        try:
            before = current_revision(db.engine)
            if before is not None and before not in revisions:
                raise ServerRefused(tr("The clinic server's database is at schema {found}, newer than this version of "
                                       "poems-monitor knows ({head}); nothing was changed: update poems-monitor.").format(
                    found=before, head=head))
            if before != head:
                upgrade(db)
            with db.engine.begin() as conn:
                apply_rights(conn)
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": UPGRADE_LOCK_KEY})
            lock.commit()
    return UpgradeResult(before, head, before != head)


def ensure_database(url: str) -> bool:
    """Create the database the URL names when it does not exist (connecting to the server's
    `postgres` database with the same login); True when it was created."""
    from sqlalchemy import create_engine

    from poems_monitor.persistence.db import pg_connect_args

    target = make_url(url)
    name = target.database or ""
    engine = create_engine(target.set(database="postgres"), connect_args=pg_connect_args(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                return False
            conn.execute(text('CREATE DATABASE "{}"'.format(name.replace('"', '""'))))
            return True
    finally:
        engine.dispose()


@dataclass(frozen=True)
class ServerStatus:
    server_version: str
    database: str
    login: str
    tls: bool
    schema: str | None
    head: str
    groups: dict[str, bool]  # group role -> exists
    logins: dict[str, int]  # group role -> its active logins

    @property
    def current(self) -> bool:
        return self.schema == self.head and all(self.groups.values())


def server_status(db: Database) -> ServerStatus:
    from poems_monitor.persistence.db import current_revision

    _, head = known_revisions()
    with db.engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        database, login = conn.execute(text("SELECT current_database(), session_user")).one()
        tls = bool(conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar())
        groups, logins = {}, {}
        for group in GROUPS.values():
            groups[group] = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": group}).first() is not None
            logins[group] = conn.execute(text(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = :g AND r.rolcanlogin"), {"g": group}).scalar_one()
    return ServerStatus(version, database, login, tls, current_revision(db.engine), head, groups, logins)


# ---------------------------------------------------------------------------------------------
# Accounts as logins
# ---------------------------------------------------------------------------------------------

def scram_verifier(password: str, *, iterations: int = 4096, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677), made here so
    that the password itself never travels to the server nor reaches its statement log. NFKC
    stands in for SASLprep, which it equals for every password without unusual code points."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", unicodedata.normalize("NFKC", password).encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def check_login_name(name: str) -> None:
    from poems_monitor.services.users import AccountError

    if len(name.encode("utf-8")) > MAX_LOGIN_BYTES:
        raise AccountError(tr("On a clinic server an account name is at most {n} bytes long (a server login)").format(
            n=MAX_LOGIN_BYTES))


def create_login(session, name: str, role: Role, password: str) -> None:  # noqa: ANN001
    """The account's server login, in the caller's transaction (after its app_user row)."""
    from poems_monitor.services.users import AccountError

    check_login_name(name)
    if login_exists(session, name):
        raise AccountError(tr("The clinic server has a login named {name} already (logins are shared by every "
                              "database of a server)").format(name=name))
    session.execute(text("SELECT poems_create_login(:n, :g, :v)"),
                    {"n": name, "g": GROUPS[role], "v": scram_verifier(password)})


def login_exists(session, name: str) -> bool:  # noqa: ANN001
    """Whether the server has a login (or any role) named `name`: logins are the whole server's."""
    return session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first() is not None


def set_login_group(session, name: str, role: Role) -> None:  # noqa: ANN001
    session.execute(text("SELECT poems_set_login_group(:n, :g)"), {"n": name, "g": GROUPS[role]})


def set_login_active(session, name: str, role: Role, active: bool) -> None:  # noqa: ANN001
    session.execute(text("SELECT poems_set_login_active(:n, :g, :a)"), {"n": name, "g": GROUPS[role], "a": active})


def set_login_password(session, name: str, password: str) -> None:  # noqa: ANN001
    session.execute(text("SELECT poems_set_login_password(:n, :v)"), {"n": name, "v": scram_verifier(password)})


def server_actor(db: Database, claimed: str | None) -> Actor:
    """Who acts on a server: the account whose login this connection signed in as (the server
    checked its password). Claiming another name is refused. The server's owner (who ran
    `server init`) acts as the set-up administrator only while the clinic has no account."""
    from sqlalchemy import func, select

    from poems_monitor.models import User

    U = User.__table__
    with db.read() as session:
        login, owner = session.execute(text("SELECT session_user, poems_is_owner()")).one()
        row = session.execute(select(U.c.name, U.c.role, U.c.active).where(U.c.name == login)).first()
        accounts = session.execute(select(func.count()).select_from(U)).scalar_one()
    if claimed and claimed != login and not (owner and row is None and accounts == 0):
        raise PermissionDenied(tr("This connection to the clinic server is signed in as {login}: it cannot act as "
                                  "{claimed}. Connect with {claimed}'s own login.").format(login=login, claimed=claimed))
    if row is None:
        if owner and accounts == 0:
            return Actor(claimed or login, Role.ADMIN)
        raise PermissionDenied(tr("The login {login} is not an account of this clinic: connect with your own "
                                  "account's login.").format(login=login))
    if not row.active:
        raise PermissionDenied(tr("the account {user} is deactivated: nothing was saved; "
                                  "sign in with an active account").format(user=login))
    return Actor(row.name, Role(row.role))


def check_login_password(db: Database, name: str, password: str) -> None:
    """Have the server check `name`'s password (a sign-in typed on a workstation whose connection
    is already that login's): a second connection as that login, closed at once. Raises
    SignInRefused when the server refuses it."""
    from sqlalchemy import create_engine

    from poems_monitor.persistence.db import ServerSignInRefused, connection_problem, pg_connect_args
    from poems_monitor.services.users import SignInRefused

    engine = create_engine(make_url(db.url).set(username=name, password=None), poolclass=None,
                           connect_args=pg_connect_args(password))
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 (named when it is a connection problem, else re-raised)
        problem = connection_problem(exc, db.url)
        if isinstance(problem, ServerSignInRefused):
            raise SignInRefused(tr("The name or the password is wrong, or the account is not active.")) from None
        raise problem or exc from None
    finally:
        engine.dispose()


def server_problems(db: Database) -> tuple[list[str], list[str]]:
    """What `check` adds on a clinic server: (problems, notes). The guards must be in place and
    enabled, and no audit entry may name another account than the login that wrote it (the
    guard refuses that, so one that does was written with the guard off)."""
    problems: list[str] = []
    with db.engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM pg_roles WHERE rolname = ANY(:g)"),
                        {"g": list(GROUPS.values())}).scalar_one() < len(GROUPS):
            return [], [tr("the server's roles are not set up: accounts are not server logins (`server init`)")]
        present = dict(conn.execute(text(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'poems\\_guard\\_%'")).all())
        for name, table, _, _ in _TRIGGERS:
            if present.get(name) not in ("O", "A"):
                problems.append(tr("the server's guard {name} on {table} is missing or disabled: its rights were not "
                                   "enforced; run `poems-monitor server upgrade`").format(name=name, table=table))
        for entry_id, user, login in conn.execute(text(
                'SELECT a.id, a."user", a.db_user FROM audit_entry a JOIN app_user u ON u.name = a.db_user '
                'WHERE a."user" <> a.db_user ORDER BY a.id LIMIT 50')).all():
            problems.append(tr("audit entry {id} names {user} but was written by the login {login}").format(
                id=entry_id, user=user, login=login))
        # Entries copied from an SQLite file by `migrate --to` were written before the clinic had
        # a server: no login (db_user empty). Every later one has its login (the guard and the
        # column's default fill it), so an empty one after the move was written around them.
        moved_at = conn.execute(text(
            "SELECT max(id) FROM audit_entry WHERE action = 'migrate' AND entity = 'database'")).scalar() or 0
        before_server = conn.execute(text("SELECT count(*) FROM audit_entry WHERE db_user IS NULL AND id < :m"),
                                     {"m": moved_at}).scalar_one()
        for (entry_id,) in conn.execute(text("SELECT id FROM audit_entry WHERE db_user IS NULL AND id > :m "
                                             "ORDER BY id LIMIT 50"), {"m": moved_at}).all():
            problems.append(tr("audit entry {id} has no server login, though it was written on the server").format(
                id=entry_id))
    if problems:
        return problems, []
    notes = [tr("the server's rights and guards checked")]
    if before_server:
        notes.append(counted(before_server, "{n} audit entry from before the move to the server has no login",
                             "{n} audit entries from before the move to the server have no login"))
    return problems, notes
