"""Backups and restore of a clinic database on a PostgreSQL server (`services.backup` calls this
for a server database and keeps the policy: folders, names, rotation, the catalogue).

A backup is `pg_dump --format=custom`, written to a temporary name beside its destination,
flushed, checked and only then renamed into place. Checked means: what restoring it would run is
read first (`pg_restore --list` and `pg_restore --file=-`) and must be what poems-monitor's own
schema is, statement for statement (a reference database built by the shipped migrations at the
dump's schema revision, dumped by the same pg_dump, once as the migrations leave it and once with
the clinic server's guard triggers and functions as `server init` adds them); then the dump is restored into a scratch
database on the same server, `check` runs there (foreign keys, schema revision, audit chain and
its head, every row against its seal), and the scratch database is dropped.

A restore goes into an EMPTY database only (a server database is never overwritten: the old one
stays where it is, and the restore is made into a new one created with `createdb`), after the same
reading of the dump: functions and triggers (other than the server's own guards, exactly as
`server init` makes them), event triggers, rules, policies, views, extensions, other schemas,
extra columns or indexes are refused by name before any statement of the dump runs, so a crafted
dump can run nothing on the server. A dump of a schema this version does not know is refused; an
older one is upgraded in the new database; the server's roles get their rights and the guards
are (re)applied there as `server upgrade` does (under its advisory lock). After pg_restore (one
transaction), `check` runs on the restored database; if it finds anything, everything the restore
created is dropped again, so the database is empty as before. The restore is recorded in the
restored audit trail, the rules cache is dropped (derived data), and the catalogue head moves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.engine import URL

from poems_monitor.i18n import tr
from poems_monitor.persistence import pg_tools, sqlite_backup
from poems_monitor.persistence.db import Database, known_revisions, upgrade
from poems_monitor.persistence.pg_tools import PgToolsError

# The reference tables of contents and statements per (server major version, schema revision):
# building them costs a scratch database and a migration run, so a process builds each once.
# Two per revision: the schema as the migrations make it, and as `server init`/`server upgrade`
# leave it (the same plus the server's guard triggers and functions, `clinic_server.apply_rights`).
_REFERENCES: dict[tuple[int, str], tuple[tuple[set[str], Counter], ...]] = {}


def _refused(message: str) -> Exception:
    from poems_monitor.services.backup import BackupRefused

    return BackupRefused(message)


def _open(url: URL | str) -> Database:
    engine = create_engine(url, pool_pre_ping=True)
    return Database(engine=engine, url=engine.url.render_as_string(hide_password=False))


# ---------------------------------------------------------------------------------------------
# What a dump holds
# ---------------------------------------------------------------------------------------------

def _reference(url: URL | str, major: int, revision: str) -> tuple[tuple[set[str], Counter], ...]:
    """The tables of contents and statements of dumps of an empty poems-monitor database at
    `revision`, made on this server by this server's pg_dump: as the migrations make it, and as
    a clinic server's (`server init`) with its guards."""
    from poems_monitor.services.clinic_server import apply_rights

    key = (major, revision)
    if key in _REFERENCES:
        return _REFERENCES[key]
    scratch = pg_tools.create_scratch_database(url)
    folder = Path(tempfile.mkdtemp(prefix="poems-reference-"))
    variants = []
    try:
        db = _open(scratch)
        try:
            upgrade(db, revision)
            for step, archive in enumerate((folder / "migrations.pgdump", folder / "server.pgdump")):
                if step:
                    with db.engine.begin() as conn:
                        apply_rights(conn)
                pg_tools.dump(db, archive)
                variants.append((set(pg_tools.archive_listing(archive, major)),
                                 pg_tools.archive_script(archive, major).statements))
        finally:
            db.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        pg_tools.drop_database(scratch)
    _REFERENCES[key] = tuple(variants)
    return _REFERENCES[key]


def _differences(listing: list[str], statements: Counter, ref_listing: set[str], ref_statements: Counter) -> list[str]:
    problems = [tr("it holds {object}, which poems-monitor never makes").format(object=pg_tools.describe_entry(e))
                for e in listing if e not in ref_listing]
    missing = [e for e in sorted(ref_listing) if e not in listing]
    if missing:
        problems.append(tr("it lacks parts of poems-monitor's schema: {objects}").format(
            objects=", ".join(pg_tools.describe_entry(e) for e in missing[:5])))
    if not problems:  # the same objects: their definitions must be the same, too
        extra = statements - ref_statements
        lacking = ref_statements - statements
        for statement in list(extra)[:3]:
            problems.append(tr("it holds a statement poems-monitor's schema does not have: {sql}").format(
                sql=" ".join(statement.split())[:160]))
        if lacking and not extra:
            problems.append(tr("it lacks statements of poems-monitor's schema: {sql}").format(
                sql=" ".join(next(iter(lacking)).split())[:160]))
    return problems


def archive_problems(archive: Path, url: URL | str, major: int) -> tuple[list[str], str | None]:
    """Every reason the dump `archive` is not poems-monitor's plain data at a schema this version
    knows, read without running any of it; and the schema revision it holds."""
    revisions, head = known_revisions()
    try:
        listing = pg_tools.archive_listing(archive, major)
        script = pg_tools.archive_script(archive, major)
    except PgToolsError as exc:
        return [tr("it is not a dump pg_restore can read ({error})").format(error=exc)], None
    if script.revision is None:
        return [tr("the schema revision is not recorded")], None
    if script.revision not in revisions:
        return [tr("the schema revision {found} is not one this poems-monitor knows (up to {head})").format(
            found=script.revision, head=head)], script.revision
    # A dump must be one of the two exactly; what it is refused for is named against the closer one.
    verdicts = [_differences(listing, script.statements, ref_listing, ref_statements)
                for ref_listing, ref_statements in _reference(url, major, script.revision)]
    problems = min(verdicts, key=len)
    return problems, script.revision


def _head_of(db: Database) -> tuple[int, str] | None:
    from poems_monitor.models import AuditEntry

    A = AuditEntry.__table__
    with db.read() as session:
        row = session.execute(select(A.c.id, A.c.hash).order_by(A.c.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def _entry_hash(db: Database, entry: int) -> str | None:
    from poems_monitor.models import AuditEntry

    A = AuditEntry.__table__
    with db.read() as session:
        return session.execute(select(A.c.hash).where(A.c.id == entry)).scalar_one_or_none()


def check_in_scratch(archive: Path, url: URL | str, major: int) -> tuple[list[str], tuple[int, str] | None]:
    """Restore `archive` into a scratch database on the server of `url`, bring an older schema up
    to date there, run `check`, drop the scratch database. Returns the problems and the chain head."""
    from poems_monitor.services.clinic_server import upgrade_server
    from poems_monitor.services.integrity import check

    scratch = pg_tools.create_scratch_database(url)
    try:
        pg_tools.restore(archive, scratch, major)
        copy = _open(scratch)
        try:
            upgrade_server(copy)  # as a restore would leave it: schema at head, the server's rights and guards
            return check(copy, rules_cache=False), _head_of(copy)  # a restore drops the cache
        finally:
            copy.dispose()
    finally:
        pg_tools.drop_database(scratch)


# ---------------------------------------------------------------------------------------------
# Backup
# ---------------------------------------------------------------------------------------------

def dump_verified(db: Database, dest: Path) -> tuple[int, str] | None:
    """Write a checked pg_dump of the live server database to `dest`; returns its chain head.
    Raises BackupRefused (nothing written at `dest`) when the tools are missing or the dump fails
    its check."""
    from poems_monitor.services.backup import temporary_beside_destination

    tmp = temporary_beside_destination(dest, "dump")
    try:
        try:
            major = pg_tools.server_major(db.engine)
            pg_tools.dump(db, tmp)
            problems, _revision = archive_problems(tmp, pg_tools.login_url(db), major)
            head = None
            if not problems:
                problems, head = check_in_scratch(tmp, pg_tools.login_url(db), major)
        except PgToolsError as exc:
            raise _refused(tr("The backup of {db} was not made: {error}; nothing was written").format(
                db=db.describe(), error=exc)) from None
        except OSError as exc:
            raise _refused(tr("The backup could not be written to {file}: {error}").format(
                file=dest, error=exc.strerror or exc)) from None
        if problems:
            raise _refused(tr("The copy failed its check, so no backup was made: {problems}").format(
                problems="; ".join(problems)))
        os.replace(tmp, dest)
        sqlite_backup._fsync_dir(dest.parent)  # noqa: SLF001 (the one directory-sync helper)
    finally:
        sqlite_backup.remove_with_side_files(tmp)
    return head


# ---------------------------------------------------------------------------------------------
# Restore
# ---------------------------------------------------------------------------------------------

def _empty_again(db: Database) -> None:
    """Drop everything a failed restore created in a database that was empty before it."""
    for _ in range(10):  # user_objects names at most 50 at a time
        left = [o.split(" ", 1) for o in pg_tools.user_objects(db.engine)]
        droppable = [(k, n) for k, n in left if k in ("table", "view", "sequence", "materialized view")]
        if not droppable:
            return
        with db.engine.begin() as conn:
            for kind, name in droppable:
                schema, _, rel = name.partition(".")
                conn.execute(text(f'DROP {kind.upper()} IF EXISTS "{schema}"."{rel}" CASCADE'))


def restore_into_empty(db: Database, actor_name: str, source: Path, catalogued: tuple[int, str] | None,
                       record: dict) -> tuple[int, str]:
    """Restore the dump `source` into the empty server database `db`; returns the new chain head.
    Raises BackupRefused, the database left as empty as it was."""
    from poems_monitor.models import RulesCache
    from poems_monitor.services.audit import AuditWriter
    from poems_monitor.services.clinic_server import upgrade_server
    from poems_monitor.services.integrity import check

    there = pg_tools.user_objects(db.engine)
    if there:
        raise _refused(tr(
            "{file} was not restored: a server database is restored only into an empty database, and {db} holds "
            "{objects}. Create an empty database (createdb NAME) and restore into it. Nothing was changed.").format(
            file=source.name, db=db.describe(), objects=", ".join(there[:5])))
    folder = Path(tempfile.mkdtemp(prefix="poems-restore-"))  # private (0700): the file cannot change under us
    try:
        copy = folder / "restore.pgdump"
        try:
            shutil.copyfile(source, copy)
        except OSError as exc:
            raise _refused(tr("{file} cannot be read: {error}; nothing was changed").format(
                file=source.name, error=exc.strerror or exc)) from None
        try:
            major = pg_tools.server_major(db.engine)
            problems, _revision = archive_problems(copy, pg_tools.login_url(db), major)
            if problems:
                raise _refuse(source, problems)
            pg_tools.restore(copy, pg_tools.login_url(db), major)
        except PgToolsError as exc:
            raise _refuse(source, [str(exc)]) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        if catalogued is not None and _entry_hash(db, catalogued[0]) != catalogued[1]:
            raise _refuse(source, [tr(
                "its audit trail no longer ends at entry {entry}, where it ended when this workstation made it: the "
                "file was changed after the backup").format(entry=catalogued[0])])
        # The server's path (advisory lock): an older schema upgraded, and the roles' rights, the
        # guard triggers and functions (re)applied, as `server init` leaves a database; a dump
        # carries no grants (--no-acl), so this is what gives the clinic's logins their rights.
        upgrade_server(db)
        # An older backup rightly ends before the catalogued head; its rules cache is dropped below.
        problems = check(db, against_catalogue=False, rules_cache=False)
        if problems:
            raise _refuse(source, problems)
        with db.write() as session:
            session.execute(delete(RulesCache.__table__))  # derived data: rebuilt, never trusted
            AuditWriter(session, actor_name).append("restore", "database", reason=tr("restore of a backup"), new=record)
        head = _head_of(db)
        assert head is not None
        return head
    except BaseException:
        _empty_again(db)
        raise


def _refuse(source: Path, problems: list[str]) -> Exception:
    return _refused(tr("{file} was not restored, because the copy failed its check: {problems}. "
                       "Nothing was changed.").format(file=source.name, problems="; ".join(problems)))
