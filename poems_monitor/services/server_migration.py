"""`poems-monitor migrate --to URL`: moving a clinic from its SQLite file onto a PostgreSQL server.

Owns the rules of the move. The source must be sound (`check`) before anything is copied; the
target must be empty: no tables at all, or poems-monitor's current schema (made by `server init`)
without a single row. Everything happens in ONE transaction of the target: the schema (when the
database is bare), every table streamed in batches with its ids, the id sequences moved past the
copied ids, the server's roles, rights and guards (as `server init`/`server upgrade` make them,
under their advisory lock), and the `migrate` audit entry naming the file it came from; a failure anywhere (a
value the server refuses, a dropped connection, a kill) leaves the target exactly as empty as it
was. The source file is only read. Then `check` runs on both, and both verdicts are returned.
The audit chain and the record's seal are copied as they are, so the target's chain is the
source's chain with one more entry. The copied entries keep their users; their `db_user` (the
server login that wrote an entry) stays empty: they were written before the clinic had a server.
The accounts come without server logins and without their password hashes (their passwords were
the app's, not the server's, and every clinic login may read `app_user`: a hash there could be
guessed at offline); the accounts' seal is renewed in the `migrate` entry. `server init URL
--admin NAME` gives a migrated administrator account its login, and that administrator the others
theirs (`users passwd NAME`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url
from sqlmodel import Session

from poems_monitor.i18n import tr
from poems_monitor.models import User
from poems_monitor.persistence import audit_chain, clinic_copy, pg_tools
from poems_monitor.persistence.db import (
    Database,
    current_revision,
    known_revisions,
    pg_connect_args,
)
from poems_monitor.services import clinic_server, record_seal
from poems_monitor.services.access import Actor, Permission, require


USERS = User.__table__


class MigrationRefused(Exception):
    """A move that was not made; the message says why and that the target was left as it was."""


@dataclass(frozen=True)
class MigrationResult:
    rows: dict[str, int]  # table -> rows copied
    source_problems: list[str]  # `check` on the source after the copy (empty: sound)
    target_problems: list[str]  # `check` on the target after the copy (empty: sound)
    source_notes: list[str]
    target_notes: list[str]


def _target_state(target: Database) -> str:
    """"bare" (nothing in it) or "schema" (poems-monitor's current schema, every table empty);
    raises MigrationRefused naming what is there otherwise."""
    found = pg_tools.user_objects(target.engine)
    if not found:
        return "bare"
    tables = {t.name for t in clinic_copy.record_tables()} | set(clinic_copy.DERIVED_TABLES + clinic_copy.SCHEMA_TABLES)
    foreign = [o for o in found if not (o.startswith("table public.") and o.split(".", 1)[1] in tables)
               and not (o.startswith("sequence public.") and o.split(".", 1)[1].removesuffix("_id_seq") in tables)
               and not o.startswith("function public.poems_")]  # the server's guards (`server upgrade`)
    if not foreign and current_revision(target.engine) == known_revisions()[1]:
        with target.engine.connect() as conn:
            filled = [f"{t.name} ({n})" for t in clinic_copy.record_tables()
                      if (n := clinic_copy.count_rows(conn, t))]
        if not filled:
            return "schema"
        # `server init` made a first administrator here: the clinic moves first, its own
        # administrator account gets its login after (docs/server-backup-restore-migrate.md).
        order = tr(" (move the clinic into a new, empty database first, then run `server init URL --admin NAME` with an "
                   "administrator account of the moved clinic)") if not any(
            f.startswith("patient ") for f in filled) else ""
        raise MigrationRefused(tr(
            "{db} already holds records (rows in {tables}): migrate copies a clinic into an empty database only{order}; "
            "nothing was copied").format(db=target.describe(), tables=", ".join(filled[:5]), order=order))
    raise MigrationRefused(tr(
        "{db} is not empty: it holds {objects}. migrate copies a clinic into an empty database only (a new one: it is "
        "created when it does not exist); nothing was copied").format(
        db=target.describe(), objects=", ".join((foreign or found)[:5])))


def migrate_to_server(source: Database, target_url: str, actor: Actor, *, batch_rows: int = clinic_copy.BATCH_ROWS,
                      after_batch: Callable[[str, int], None] | None = None,
                      target_password: str | None = None) -> MigrationResult:
    """Copy the SQLite clinic `source` into the empty PostgreSQL database at `target_url`, all or
    nothing, then check both (admin only: it copies every account and the whole record).
    `target_password`: the target login's password (`--target-password-file`), else the URL's,
    PGPASSWORD or libpq's password file."""
    from poems_monitor.services.integrity import check_report

    require(actor, Permission.RESTORE)
    if not source.is_sqlite or source.path is None:
        raise MigrationRefused(tr("migrate copies a clinic from its SQLite file (--db FILE); nothing was copied"))
    if not target_url.startswith("postgresql"):
        raise MigrationRefused(tr("--to must name a PostgreSQL database (postgresql+psycopg://USER@HOST/DATABASE); "
                                  "nothing was copied"))
    before = check_report(source)
    if before.problems:
        raise MigrationRefused(tr("{db} is not sound, so it was not copied: {problems}. Nothing was copied.").format(
            db=source.describe(), problems="; ".join(before.problems)))
    shown_url = target_url
    if target_password:  # kept in the URL object only (never rendered: describe() shows the URL without it)
        target_url = make_url(target_url).set(password=target_password)
    try:
        clinic_server.ensure_database(target_url)  # as `server init` does: createdb is not a step of its own
    except Exception as exc:  # noqa: BLE001 (an unreachable server, a login that may not create it: one sentence)
        raise MigrationRefused(tr("{db} cannot be reached or created: {error}; nothing was copied").format(
            db=make_url(shown_url).render_as_string(hide_password=True), error=pg_tools.plain_error(exc))) from None
    engine = create_engine(target_url, pool_pre_ping=True, connect_args=pg_connect_args())
    target = Database(engine=engine, url=shown_url)
    rows: dict[str, int] = {}
    current = tr("none")
    try:
        try:
            state = _target_state(target)
        except MigrationRefused:
            raise
        except Exception as exc:  # noqa: BLE001 (an unreachable server, a refused login: one sentence)
            raise MigrationRefused(tr("{db} cannot be reached: {error}; nothing was copied").format(
                db=target.describe(), error=pg_tools.plain_error(exc))) from None
        try:
            with source.engine.connect() as src, src.begin(), engine.connect() as dst, dst.begin():
                dst.exec_driver_sql("SET LOCAL application_name = 'poems-monitor migrate'")
                dst.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
                # The schema is the server's to change (`server init/upgrade`): taken under the same
                # lock, held to the end of this transaction.
                dst.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": clinic_server.UPGRADE_LOCK_KEY})
                if state == "bare":
                    clinic_copy.create_schema(dst)
                tables = clinic_copy.record_tables()
                for table in tables:
                    current = table.name
                    rows[table.name] = clinic_copy.copy_table(src, dst, table, batch_rows=batch_rows,
                                                              after_batch=after_batch)
                pg_tools.move_sequences_past_ids(dst, tables)
                # The copied entries were written before the clinic had a server: no login wrote
                # them, so db_user stays empty (the guard of a prepared database filled in ours).
                dst.execute(text("UPDATE audit_entry SET db_user = NULL WHERE db_user IS NOT NULL"))
                # The group roles' rights, the guard triggers and functions, as `server init`
                # leaves a database: the migrated clinic is enforced by the server from its first save.
                clinic_server.apply_rights(dst)
                # The app's password hashes stay behind: on a server the server checks passwords, and
                # app_user is readable by every clinic login (an offline guessing target otherwise).
                # Each account gets its login with `server init --admin` / `users passwd`.
                hashes = dst.execute(update(USERS).where(USERS.c.password_hash.is_not(None))
                                     .values(password_hash=None)).rowcount
                # Recorded in the same transaction, at table level like a schema migration's entry. The
                # patients' seals stay those of their last change (this copy changed none); the accounts
                # are sealed again without their hashes (and the settings with them): this entry holds both.
                with Session(bind=dst) as session:
                    digests = record_seal.seal(session, [])
                audit_chain.insert_entry(dst, audit_chain.last_hash(dst), user=actor.name, action="migrate",
                                         entity="database", reason="moved from an SQLite file to a server database",
                                         new={"from": source.path.name, "patients": rows.get("patient", 0),
                                              "password_hashes_left_behind": hashes},
                                         state=digests)
                audit_chain.record_head(dst, actor.name)
        except MigrationRefused:
            raise
        except Exception as exc:  # noqa: BLE001 (whatever stopped it, the transaction is undone)
            raise MigrationRefused(tr(
                "The copy to {db} stopped at table {table} ({error}); the server undid all of it, so the database is "
                "as empty as before. {file} is unchanged.").format(
                db=target.describe(), table=current,
                error=pg_tools.plain_error(exc), file=source.path.name)) from None
        after_source, after_target = check_report(source), check_report(target)
    finally:
        engine.dispose()
    return MigrationResult(rows, after_source.problems, after_target.problems, after_source.notes, after_target.notes)
