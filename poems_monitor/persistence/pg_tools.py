"""PostgreSQL's own tools behind backup and restore of a server database: finding the pg_dump and
pg_restore that match the server, running them without the password on a command line or on
disk, reading what a dump holds before anything of it runs, and scratch databases.

Owns every subprocess call to the PostgreSQL client tools, as `sqlite_backup` owns the sqlite3
module. Nothing here decides policy (where backups go, who may restore, what counts as sound):
`services.backup` does.

The password goes to the child only in its environment (PGPASSWORD), never in its arguments:
arguments are world-readable (`ps`, /proc/PID/cmdline), a child's environment is readable only by
the same account and root (/proc/PID/environ is mode 0400), who can read this process's memory
anyway; a passfile would put the password on disk, however briefly. Every other connection
setting goes the same way (PGHOST, PGPORT, PGUSER, PGSSLMODE...), and `--no-password` makes a
tool fail with a sentence instead of waiting for a password prompt nobody sees.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

from poems_monitor.persistence.db import Database

PG_INSTALL_ROOT = Path("/usr/lib/postgresql")  # Debian/Ubuntu: one bin folder per major version
TOOL_TIMEOUT_SECONDS = 3600  # a large clinic's dump takes minutes, never hours: a hung tool is stopped
SCRATCH_PREFIX = "poems_scratch_"

# URL query options that libpq reads from the environment (TLS settings chosen in a profile).
_LIBPQ_ENV = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL", "connect_timeout": "PGCONNECT_TIMEOUT", "target_session_attrs": "PGTARGETSESSIONATTRS",
    "sslnegotiation": "PGSSLNEGOTIATION", "gssencmode": "PGGSSENCMODE", "channel_binding": "PGCHANNELBINDING",
}


class PgToolsError(Exception):
    """A tool that is missing or failed; the message is a plain sentence without the password."""


def plain_error(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    return lines[0] if lines else type(inner).__name__


# ---------------------------------------------------------------------------------------------
# Which tool, and how it connects
# ---------------------------------------------------------------------------------------------

def server_major(engine: Engine) -> int:
    """The major version of the server (15 for 15.4)."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\)\s+(\d+)", out)
    return int(m.group(1)) if m else None


def find_tool(name: str, major: int) -> Path:
    """The `name` tool (pg_dump, pg_restore) of PostgreSQL `major`: POEMS_MONITOR_PG_BIN, then
    /usr/lib/postgresql/MAJOR/bin, then PATH when its version is the same major. A pg_dump of
    another major version either refuses the server or writes a dump the server's pg_restore may
    not read, so no other version is taken."""
    looked: list[str] = []
    candidates: list[Path] = []
    if os.environ.get("POEMS_MONITOR_PG_BIN"):
        candidates.append(Path(os.environ["POEMS_MONITOR_PG_BIN"]) / name)
    candidates.append(PG_INSTALL_ROOT / str(major) / "bin" / name)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        looked.append(str(candidate.parent))
        if candidate.is_file() and os.access(candidate, os.X_OK) and _tool_major(candidate) == major:
            return candidate
    raise PgToolsError(
        f"no {name} of PostgreSQL {major} (the server's version) was found (looked in {', '.join(looked)}); install "
        f"the PostgreSQL {major} client tools (on Debian or Ubuntu: apt-get install postgresql-client-{major}) or "
        f"name their folder in POEMS_MONITOR_PG_BIN")


def login_url(db: Database) -> URL:
    """Where `db` is connected, with the password its login signed in with (typed, not in the
    URL): for the tools and the scratch databases, which connect as the same login."""
    url = db.engine.url
    return url.set(password=db.password) if db.password and url.password is None else url


def libpq_environment(url: str | URL, database: str | None = None) -> dict[str, str]:
    """The environment of a child tool that connects where `url` points (password included, in
    PGPASSWORD only). `database` replaces the URL's database (a scratch database)."""
    u = make_url(url) if isinstance(url, str) else url
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no stray PGDATABASE etc.
    for key in ("PGPASSFILE", "PGSERVICEFILE", "PGSYSCONFDIR"):  # the user's own libpq files stay usable
        if key in os.environ:
            env[key] = os.environ[key]
    query = {k: (v[0] if isinstance(v, tuple) else v) for k, v in u.query.items()}
    host = u.host or query.get("host")
    if host:
        env["PGHOST"] = str(host)
    if u.port or query.get("port"):
        env["PGPORT"] = str(u.port or query.get("port"))
    if u.username:
        env["PGUSER"] = u.username
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    env["PGDATABASE"] = database or u.database or "postgres"
    for option, variable in _LIBPQ_ENV.items():
        if query.get(option):
            env[variable] = str(query[option])
    env["PGAPPNAME"] = "poems-monitor"
    env["PGCONNECT_TIMEOUT"] = env.get("PGCONNECT_TIMEOUT", "15")
    return env


def _scrub(message: str, env: dict[str, str]) -> str:
    secret = env.get("PGPASSWORD")
    return message.replace(secret, "***") if secret else message


def run_tool(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    """Run a tool; a failure raises PgToolsError with the tool's own first error line."""
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PgToolsError(f"{what} did not finish within {TOOL_TIMEOUT_SECONDS // 60} minutes and was stopped") from None
    except OSError as exc:
        raise PgToolsError(f"{what} could not be started: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() or "fatal" in ln.lower()] or lines
        raise PgToolsError(_scrub(f"{what} failed: {errors[0] if errors else f'exit code {done.returncode}'}", env))
    return done


# ---------------------------------------------------------------------------------------------
# Dump and restore
# ---------------------------------------------------------------------------------------------

def dump(db: Database, dest: Path) -> None:
    """`pg_dump --format=custom` of the live database into `dest` (one consistent snapshot:
    pg_dump reads in one repeatable-read transaction while others keep writing), flushed to disk."""
    tool = find_tool("pg_dump", server_major(db.engine))
    env = libpq_environment(login_url(db))
    run_tool([str(tool), "--format=custom", "--no-password", "--file", str(dest)], env, "pg_dump")
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore(archive: Path, url: str | URL, major: int, database: str | None = None) -> None:
    """pg_restore `archive` into the (empty) database `url` points at, in one transaction: a failure
    anywhere leaves the database as it was. Owners and grants of the dump are not restored: the
    objects belong to the restoring login, and the server's roles get their rights from `server
    init`/`server upgrade` (a dump's grants could name roles this server does not have)."""
    tool = find_tool("pg_restore", major)
    env = libpq_environment(url, database)
    run_tool([str(tool), "--no-password", "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error",
              "--dbname", _conninfo_dbname(env["PGDATABASE"]), str(archive)], env, "pg_restore")


def _conninfo_dbname(name: str) -> str:
    """`dbname='...'` as a libpq connection string (a database name with = or spaces stays a name)."""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def archive_listing(archive: Path, major: int) -> list[str]:
    """The table of contents of a custom-format dump (`pg_restore --list`), each entry as
    `KIND SCHEMA NAME` (dump ids, OIDs and owner left out), comments and ACL entries left out."""
    tool = find_tool("pg_restore", major)
    done = run_tool([str(tool), "--list", str(archive)], libpq_environment("postgresql://"), "pg_restore --list")
    entries = []
    for line in done.stdout.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        m = re.match(r"^\s*-?\d+;\s*\d+\s+\d+\s+(?P<rest>.*)$", line)
        if not m:
            entries.append(line.strip())
            continue
        rest = m["rest"]
        words = rest.split()
        if words[:1] == ["ACL"] or words[:2] == ["DEFAULT", "ACL"]:
            continue  # grants are never restored (--no-acl)
        # The owner, last, is not restored; objects without one (an extension) end in a space.
        entries.append(" ".join(words if rest.endswith(" ") or len(words) < 2 else words[:-1]))
    return entries


# Kinds of table-of-contents entries, longest first (the listing separates words by spaces).
_KINDS = ("SEQUENCE OWNED BY", "SEQUENCE SET", "TABLE DATA", "FK CONSTRAINT", "EVENT TRIGGER", "MATERIALIZED VIEW DATA",
          "MATERIALIZED VIEW", "FOREIGN TABLE", "FOREIGN DATA WRAPPER", "SERVER", "USER MAPPING", "DEFAULT ACL",
          "LARGE OBJECT", "BLOB", "BLOBS", "TEXT SEARCH", "OPERATOR CLASS", "OPERATOR FAMILY", "ROW SECURITY",
          "PUBLICATION TABLE", "PUBLICATION", "SUBSCRIPTION", "TRANSFORM", "STATISTICS", "CONSTRAINT", "TABLE",
          "SEQUENCE", "INDEX", "DEFAULT", "TRIGGER", "FUNCTION", "PROCEDURE", "AGGREGATE", "VIEW", "RULE", "POLICY",
          "EXTENSION", "SCHEMA", "TYPE", "DOMAIN", "COMMENT", "CAST", "COLLATION", "CONVERSION", "OPERATOR",
          "LANGUAGE", "ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE")


def describe_entry(entry: str) -> str:
    """A TOC entry as a sentence part: `a trigger (quiet_vegf on observation)`, `a function (...)`."""
    kind = next((k for k in _KINDS if entry == k or entry.startswith(k + " ")), entry.split(" ", 1)[0])
    rest = entry[len(kind):].split()
    schema, names = (rest[0], rest[1:]) if rest else ("-", [])
    if kind in ("TRIGGER", "RULE", "POLICY", "CONSTRAINT", "FK CONSTRAINT") and len(names) >= 2:
        what = f"{names[-1]} on {' '.join(names[:-1])}"
    else:
        what = " ".join(names) or schema
    where = f" in schema {schema}" if schema not in ("-", "public") else ""
    article = "an" if kind[0] in "AEIOU" else "a"
    return f"{article} {kind.lower()} ({what}){where}"


@dataclass
class ArchiveScript:
    """What restoring a dump would run, read from `pg_restore --file=-` before anything of it runs:
    every statement (data rows left out, sequence values generalised), and the schema revision the
    dump's alembic_version holds."""

    statements: Counter = field(default_factory=Counter)
    revision: str | None = None
    copies: list[str] = field(default_factory=list)


_SETVAL = re.compile(r"^(SELECT pg_catalog\.setval\('[^']+', )\d+, (?:true|false)(\);)$")
_LONGEST_STATEMENT_LINES = 2000  # the longest CREATE TABLE of the schema has a few dozen
# psql meta-commands that pg_dump 15.14 and later put around a script (a random key each time);
# pg_restore does not send them to the server.
_PSQL_RESTRICT = re.compile(r"^\\(?:un)?restrict [A-Za-z0-9]+$")


def archive_script(archive: Path, major: int) -> ArchiveScript:
    """Stream the SQL that pg_restore would run for `archive` (`pg_restore --file=-`, same options
    as `restore`) and keep its statements; the data rows of COPY blocks are skipped, line by line,
    so memory stays small for any size of dump."""
    tool = find_tool("pg_restore", major)
    env = libpq_environment("postgresql://")
    script = ArchiveScript()
    proc = subprocess.Popen([str(tool), "--no-owner", "--no-acl", "--file=-", str(archive)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    copying: str | None = None
    pending: list[str] = []
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if copying is not None:
                if line == "\\.":
                    copying = None
                elif copying == "public.alembic_version" and script.revision is None:
                    script.revision = line.strip()
                continue
            if not pending and (not line.strip() or line.startswith("--") or _PSQL_RESTRICT.match(line)):
                continue
            pending.append(line)
            if len(pending) > _LONGEST_STATEMENT_LINES:  # rows outside a COPY block: not a dump of ours
                raise PgToolsError("it holds a statement of more than "
                                   f"{_LONGEST_STATEMENT_LINES} lines, which no poems-monitor schema has")
            if line.rstrip().endswith(";"):
                statement = "\n".join(pending).strip()
                pending = []
                statement = _SETVAL.sub(r"\1N, B\2", statement)
                script.statements[statement] += 1
                m = re.match(r"^COPY (\S+) \(.*\) FROM stdin;$", statement, re.S)
                if m:
                    copying = m.group(1)
                    script.copies.append(m.group(1))
        if pending:
            script.statements["\n".join(pending).strip()] += 1
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode("utf-8", errors="replace") if proc.stderr else ""
        code = proc.wait()
    if code != 0:
        first = next((ln for ln in stderr.splitlines() if ln.strip()), f"exit code {code}")
        raise PgToolsError(f"pg_restore cannot read the file: {first}")
    return script


# ---------------------------------------------------------------------------------------------
# Databases on the server
# ---------------------------------------------------------------------------------------------

def server_url(url: str | URL, database: str) -> URL:
    u = make_url(url) if isinstance(url, str) else url
    return u.set(database=database)


def admin_engine(url: str | URL) -> Engine:
    """An autocommit engine on the server's maintenance database (CREATE/DROP DATABASE cannot run
    in a transaction); the login is the one of `url`."""
    return create_engine(server_url(url, "postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _host_tag() -> str:
    """Six hex digits naming this computer in scratch database names: a left-over scratch database
    is removed only by the computer whose process made it (and only once that process is gone)."""
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:6]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def sweep_stale_scratch_databases(conn) -> list[str]:  # noqa: ANN001 (an autocommit Connection)
    """Drop the scratch databases that a killed backup or restore of this computer left behind."""
    prefix = f"{SCRATCH_PREFIX}{_host_tag()}_"
    dropped = []
    names = conn.execute(text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"), {"p": prefix}).scalars()
    for name in list(names):
        m = re.match(rf"^{re.escape(prefix)}(\d+)_[0-9a-f]+$", name)
        if m and not _alive(int(m.group(1))):
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            dropped.append(name)
    return dropped


def create_scratch_database(url: str | URL) -> URL:
    """A new empty database on the same server (from template0, so nothing a site added to
    template1 is in it), named by this computer and process so that one left behind by a kill is
    recognised and dropped by the next one; returns its URL."""
    name = f"{SCRATCH_PREFIX}{_host_tag()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            try:
                sweep_stale_scratch_databases(conn)
            except Exception:  # noqa: BLE001, S110 (a left-over database is untidy, never a reason to stop)
                pass
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
    except Exception as exc:  # noqa: BLE001 (no CREATEDB right, server gone: one sentence)
        raise PgToolsError(f"a scratch database to check the copy in could not be created ({plain_error(exc)}); "
                           "the login needs the right to create databases (CREATEDB)") from None
    finally:
        engine.dispose()
    return server_url(url, name)


def drop_database(url: str | URL) -> None:
    """Drop the scratch database `url` names (only one of ours: the name is checked)."""
    name = (make_url(url) if isinstance(url, str) else url).database or ""
    if not name.startswith(SCRATCH_PREFIX):
        raise ValueError(f"{name} is not a scratch database")
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


def user_objects(engine: Engine) -> list[str]:
    """What the database holds outside the system schemas: tables, views, sequences, functions,
    types, extensions and schemas other than an empty `public`, as `kind name` (a few dozen at most
    are named). Empty: the database is empty."""
    sql = """SELECT kind, name FROM (
        SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
               WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
               ELSE 'relation' END, n.nspname || '.' || c.relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\\_%'
        UNION ALL
        SELECT 'function', n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        UNION ALL
        SELECT 'extension', e.extname FROM pg_extension e WHERE e.extname <> 'plpgsql'
        UNION ALL
        SELECT 'schema', n.nspname FROM pg_namespace n
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\\_%'
        UNION ALL
        SELECT 'event trigger', evtname FROM pg_event_trigger
        ) AS found (kind, name) ORDER BY kind <> 'table', kind, name LIMIT 50"""
    with engine.connect() as conn:
        return [f"{kind} {name}" for kind, name in conn.execute(text(sql))]


def move_sequences_past_ids(conn, tables) -> None:  # noqa: ANN001 (a Connection, Tables)
    """After rows were copied with their ids: each table's id sequence continues after the
    highest id (or starts at 1 for an empty table), so the next saved row gets a new id."""
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not keys[0].autoincrement or keys[0].type.python_type is not int:
            continue
        name, column = table.name, keys[0].name
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": f"public.{name}", "c": column}).scalar()
        if sequence is None:
            continue
        conn.execute(text(f'SELECT setval(:s, COALESCE((SELECT max("{column}") FROM "{name}"), 1), '
                          f'(SELECT max("{column}") FROM "{name}") IS NOT NULL)'), {"s": sequence})
