"""Opening the clinic database: engine, connection settings, schema migrations, sessions.

Owns every dialect-specific detail (SQLite pragmas and write locking, PostgreSQL advisory
locks) so that services speak plain SQLAlchemy and run on either. A database written by a newer
version of poems-monitor is refused before anything touches it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from poems_monitor.i18n import tr

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Serialises writers on PostgreSQL the way BEGIN IMMEDIATE does on SQLite, so that the audit
# hash chain stays one line even with several workstations.
_PG_WRITE_LOCK_KEY = 0x504F454D  # "POEM"


class DatabaseError(Exception):
    """A database that cannot be opened as it is; the message is for the person at the desk."""


class ServerUnreachable(DatabaseError):
    """The clinic's PostgreSQL server did not answer (down, network, timeout): nothing is known
    about the data, which is not damaged. The command line exits with EXIT_UNREACHABLE."""

    def __init__(self, host_port: str, detail: str = ""):
        self.host_port = host_port
        super().__init__(tr("clinic server unreachable at {where}: {detail}; nothing was changed, try again when "
                            "the server is back (or ask the administrator)").format(
            where=host_port, detail=detail or tr("no answer")))


class ServerSignInRefused(DatabaseError):
    """The server refused the login (wrong password, no password, a deactivated account)."""


class ServerSchemaNotCurrent(DatabaseError):
    """A clinic server whose schema is older than this version needs: only the server's
    administrator upgrades it (`poems-monitor server upgrade`); clients wait."""

    def __init__(self, found: str | None, needed: str):
        self.found, self.needed = found, needed
        super().__init__(tr("the clinic server's database is at schema {found}, this version needs {needed}: ask the "
                            "administrator to run `poems-monitor server upgrade`").format(
            found=found or tr("none (not set up: `poems-monitor server init`)"), needed=needed))


# libpq connection settings for a clinic server: give up connecting after CONNECT_TIMEOUT_SECONDS
# instead of hanging on a dead address, and let TCP keepalives find a connection the network
# dropped (after about 30 + 3 x 10 s of silence) instead of waiting on it for ever.
CONNECT_TIMEOUT_SECONDS = 5


def pg_connect_args(password: str | None = None) -> dict:
    args: dict = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "keepalives": 1, "keepalives_idle": 30,
                  "keepalives_interval": 10, "keepalives_count": 3}
    if password:
        args["password"] = password
    return args


_UNREACHABLE_SIGNS = ("connection refused", "timeout expired", "could not translate host name", "no route to host",
                      "network is unreachable", "server closed the connection unexpectedly", "connection reset",
                      "name or service not known", "connection timed out", "the database system is shutting down",
                      "the database system is starting up", "terminating connection due to administrator command",
                      "consuming input failed", "server conn crashed", "ssl syscall error: eof detected")
_SIGN_IN_SIGNS = ("password authentication failed", "is not permitted to log in", "no password supplied",
                  "pg_hba.conf rejects", "no pg_hba.conf entry")


def server_address(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


def connection_problem(exc: BaseException, url: str) -> DatabaseError | None:
    """The server's answer to a failed connection as one of our errors: unreachable (nothing is
    known about the data) or a refused sign-in; None when it is neither."""
    message = str(getattr(exc, "orig", None) or exc)
    lowered = message.lower()
    if any(sign in lowered for sign in _UNREACHABLE_SIGNS):
        first = lowered.strip().splitlines()[0] if lowered.strip() else ""
        detail = next((sign for sign in _UNREACHABLE_SIGNS if sign in lowered), first)
        return ServerUnreachable(server_address(url), detail)
    if any(sign in lowered for sign in _SIGN_IN_SIGNS) or ('role "' in lowered and "does not exist" in lowered):
        user = make_url(url).username or ""
        return ServerSignInRefused(tr("The clinic server refused the sign-in of {user}: the password is wrong or "
                                      "missing (give --password-file FILE), or the account is not active; nothing "
                                      "was changed.").format(user=user))
    return None


class DatabaseBusy(DatabaseError):
    """Another write (a long import on another workstation) held the database for longer than
    this write waits; nothing was changed. One sentence: try again."""


# How long a write waits for another one to finish before it is told "busy, try again": a DEFAULT
# (not from any standard), long enough for a large import; POEMS_MONITOR_WRITE_WAIT_SECONDS sets it.
DEFAULT_WRITE_WAIT_SECONDS = 120
_BUSY_ATTEMPT_MS = 2000  # each attempt waits this long inside SQLite before the waiting is announced
_wait_notice: list = []  # callables told once per write that it is waiting (the command line prints it)


def on_write_wait(callback) -> None:  # noqa: ANN001
    """Have `callback()` called when a write starts waiting for another one (once per write)."""
    _wait_notice[:] = [callback]


def write_wait_seconds() -> float:
    import os

    try:
        value = float(os.environ.get("POEMS_MONITOR_WRITE_WAIT_SECONDS", DEFAULT_WRITE_WAIT_SECONDS))
    except ValueError:
        return DEFAULT_WRITE_WAIT_SECONDS
    return value if 1 <= value <= 3600 else DEFAULT_WRITE_WAIT_SECONDS


def database_url(url_or_path: str | Path) -> str:
    """Accept a plain file path or an SQLAlchemy URL (INTERFACES.md section 1, `--db`)."""
    text_value = str(url_or_path)
    if "://" in text_value:
        return text_value
    return f"sqlite:///{Path(text_value).expanduser().resolve()}"


@dataclass
class Database:
    """An open clinic database. Services take one of these and open their own sessions."""

    engine: Engine
    url: str
    # The login's password when it was typed (never in `url`): the server's own tools (pg_dump,
    # pg_restore) and the backup's scratch databases connect with it too. Kept in memory only.
    password: str | None = field(default=None, repr=False)
    # This handle's id, given to every write (session.info["poems_origin"]): a clinic server's
    # announcements name it, so a workstation knows its own writes' echo (services.live_updates).
    origin: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        database = make_url(self.url).database
        return Path(database) if database and database != ":memory:" else None

    def describe(self) -> str:
        """Where the data is, for the status bar: the file path, or the server without password."""
        if self.path is not None:
            return str(self.path)
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (a consistent snapshot under WAL)."""
        with self._server_problems_named(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _server_problems_named(self) -> Iterator[None]:
        """A clinic server that stops answering mid-work (down, network, timeout) is said as
        `ServerUnreachable` (or a refused sign-in as `ServerSignInRefused`), never as a driver
        traceback: callers show the sentence and keep what was typed; the transaction rolled back."""
        try:
            yield
        except DBAPIError as exc:
            problem = None if self.is_sqlite else connection_problem(exc, self.url)
            if problem is None:
                raise
            raise problem from None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction that holds the database's write lock from its first statement.

        Commits on success, rolls back on any exception. Writers are serialised (BEGIN IMMEDIATE
        on SQLite, an advisory transaction lock on PostgreSQL): the audit chain reads its last
        hash and appends in one step, so two workstations can never fork it.
        """
        with self._server_problems_named():
            connection = self.engine.connect().execution_options(poems_write=True)
            try:
                with Session(bind=connection, expire_on_commit=False) as session:
                    session.info["poems_origin"] = self.origin
                    if not self.is_sqlite:
                        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK_KEY})
                    try:
                        yield session
                        session.commit()
                    except BaseException:
                        session.rollback()
                        raise
            finally:
                connection.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine, *, wal: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 (DB-API objects)
        # Let SQLAlchemy's "begin" event below emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_ATTEMPT_MS}")
        if wal:  # switching to WAL writes the file header: never on a file we may still refuse
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a saved visit survives a power cut
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("poems_write"):
            _begin_writing(connection)
        else:
            connection.exec_driver_sql("BEGIN")


def _begin_writing(connection) -> None:  # noqa: ANN001
    """BEGIN IMMEDIATE, waiting while another writer holds the lock: announced once after the
    first attempt, refused with DatabaseBusy (one sentence) after write_wait_seconds()."""
    import time

    from sqlalchemy.exc import OperationalError

    deadline = time.monotonic() + write_wait_seconds()
    announced = False
    while True:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
                raise
        if time.monotonic() >= deadline:
            log.warning("write refused: the database stayed busy for %.0f s", write_wait_seconds())
            raise DatabaseBusy(tr("The clinic database is busy with another write (for example a long import) and "
                                  "nothing was changed: try again in a minute."))
        if not announced:
            announced = True
            log.info("write waiting for another writer to finish")
            for notice in _wait_notice:
                notice()


def create_database_engine(url: str, *, wal: bool = True, password: str | None = None) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": _BUSY_ATTEMPT_MS / 1000})
        _configure_sqlite(engine, wal=wal)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=pg_connect_args(password))


def known_revisions() -> tuple[list[str], str]:
    """Every schema revision this version knows, and its newest (head), read from the migration
    files without importing Alembic (which costs start-up time)."""
    revisions: list[str] = []
    down: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        rev = down_rev = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("revision ="):
                rev = line.split("=", 1)[1].strip().strip("\"'")
            elif line.startswith("down_revision ="):
                down_rev = line.split("=", 1)[1].strip().strip("\"'")
        if rev:
            revisions.append(rev)
            if down_rev and down_rev != "None":
                down.add(down_rev)
    heads = [r for r in revisions if r not in down]
    if len(heads) != 1:
        raise DatabaseError(f"migration scripts have {len(heads)} heads: {heads}")
    return revisions, heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def open_database(url_or_path: str | Path, *, migrate: bool = True, password: str | None = None) -> Database:
    """Open (and create or upgrade) the clinic database at `url_or_path`.

    Refuses, changing nothing, a database made by a newer poems-monitor or a file that is not a
    poems-monitor database. A clinic server (PostgreSQL) is never migrated by a client: one at an
    older schema is refused with ServerSchemaNotCurrent (`migrate=False` opens it as it is, for
    `server upgrade`); one that does not answer raises ServerUnreachable. `password` is the
    server login's (never stored).
    """
    url = database_url(url_or_path)
    if url.startswith("sqlite:///"):
        path = Path(make_url(url).database or "")
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size > 0:
                with open(path, "rb") as fh:
                    if fh.read(16) != b"SQLite format 3\x00":
                        raise DatabaseError(
                            tr("{path} is not a poems-monitor database (not an SQLite file); nothing was changed").format(
                                path=path
                            )
                        )
    # Inspect with an engine that only reads (no switch to WAL), so a refused file keeps every byte.
    engine = create_database_engine(url, wal=False, password=password)
    revisions, head = known_revisions()
    try:
        current = current_revision(engine)
    except Exception as exc:  # a damaged file shows here first
        engine.dispose()
        problem = None if url.startswith("sqlite") else connection_problem(exc, url)
        if problem is not None:
            raise problem from None
        raise DatabaseError(tr("The database cannot be read: {error}").format(error=exc)) from exc
    if current is not None and current not in revisions:
        engine.dispose()
        raise DatabaseError(
            tr(
                "This database was written by a newer version of poems-monitor (schema {found}); "
                "this version knows schemas up to {head}. Nothing was changed: please update poems-monitor."
            ).format(found=current, head=head)
        )
    if current is None:
        with engine.connect() as conn:
            foreign = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        if foreign:
            engine.dispose()
            raise DatabaseError(
                tr("This database holds tables that are not poems-monitor's ({tables}); nothing was changed").format(
                    tables=", ".join(sorted(foreign)[:5])
                )
            )
    if url.startswith("sqlite"):
        engine.dispose()
        engine = create_database_engine(url)
    db = Database(engine=engine, url=url, password=password)
    if current != head and migrate:
        if not db.is_sqlite:  # only `server init/upgrade` change a clinic server's schema
            db.dispose()
            raise ServerSchemaNotCurrent(current, head)
        upgrade(db)
    return db


def upgrade(db: Database, revision: str = "head") -> None:
    """Run the Alembic migrations shipped in the package up to `revision`."""
    _migrate(db, "upgrade", revision)
    log.info("database schema upgraded to %s", revision)


def downgrade(db: Database, revision: str) -> None:
    """Run the shipped migrations back down to `revision` (tests build older clinic files so)."""
    _migrate(db, "downgrade", revision)
    log.info("database schema downgraded to %s", revision)



def _driver(conn: Connection) -> Any:  # noqa: ANN401 (the DB-API connection of the dialect)
    """The driver's own connection under `conn` (sqlite3 for a file database)."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a connection checked out of the pool always has one
    return driver


def _migrate(db: Database, direction: str, revision: str) -> None:
    """One migration run in one transaction. On SQLite, foreign-key enforcement is off while it
    runs: a batch migration rebuilds a table (copy, drop, rename), and dropping a table that other
    rows point at fails with enforcement on, so an existing clinic file could not be upgraded. The
    references are checked once at the end instead, and a dangling one undoes the whole run."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where SQLite honours this pragma
            _driver(conn).execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                getattr(command, direction)(cfg, revision)
                if sqlite:
                    dangling = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if dangling:
                        raise RuntimeError(f"schema {direction} to {revision} would leave {len(dangling)} dangling "
                                           f"reference(s) (first in table {dangling[0][0]}); nothing was changed")
        finally:
            if sqlite:
                _driver(conn).execute("PRAGMA foreign_keys=ON")
