"""Commands that keep the record safe: check, backup, restore, and user accounts."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from poems_monitor.cli import EXIT_FAILED, EXIT_OK, CommandError
from poems_monitor.cli.context import actor, open_db, open_existing_db, read_password_file
from poems_monitor.cli.progress import progress_bar
from poems_monitor.i18n import ntr, tr


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("check", parents=[common], help=tr("verify the database: integrity, foreign keys, schema (no triggers, views or extra tables), "
                                     "audit chain and its head, every row of the record against the chain, rules cache"))
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("backup", parents=[common], help=tr("write a consistent, checked copy of the database"))
    p.add_argument("file", type=Path, nargs="?",
                   help=tr("where to write it (default: today's automatic backup in the backup folder, with rotation)"))
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("restore", parents=[common], help=tr("replace the database by a checked backup, keeping the replaced file"))
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_restore)

    p = sub.add_parser("migrate", parents=[common], help=tr(
        "copy the whole SQLite clinic (--db FILE) into an empty PostgreSQL database, all or nothing, then check both"))
    p.add_argument("--to", required=True, metavar="URL", help=tr(
        "the empty server database, e.g. postgresql+psycopg://USER@HOST/DATABASE"))
    p.add_argument("--target-password-file", metavar="FILE", help=tr(
        "the first line of FILE is the password of the login in --to (default: the URL, PGPASSWORD or libpq's "
        "password file)"))
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("users", parents=[common], help=tr("local user accounts"))
    users = p.add_subparsers(dest="users_command", metavar="ACTION")
    add = users.add_parser("add", parents=[common], help=tr("create an account (password asked twice, or one line on stdin)"))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("nurse", "physician", "admin"))
    add.set_defaults(handler=cmd_users_add)
    lst = users.add_parser("list", parents=[common], help=tr("list the accounts"))
    lst.set_defaults(handler=cmd_users_list)
    pw = users.add_parser("passwd", parents=[common], help=tr(
        "set an account's new password: your own, or anyone's as an administrator (asked twice, or one line on stdin)"))
    pw.add_argument("name")
    pw.set_defaults(handler=cmd_users_passwd)
    unlock = users.add_parser("unlock", parents=[common], help=tr("lift the lock-out of an account after wrong passwords"))
    unlock.add_argument("name")
    unlock.set_defaults(handler=cmd_users_unlock)
    for action, text in (("deactivate", "stop an account from signing in or acting (kept, never deleted)"),
                         ("reactivate", "let a deactivated account sign in again")):
        sp = users.add_parser(action, parents=[common], help=tr(text))
        sp.add_argument("name")
        sp.add_argument("--reason", required=True, help=tr("why (kept in the audit trail)"))
        sp.set_defaults(handler=cmd_users_active, active=action == "reactivate")
    role = users.add_parser("role", parents=[common], help=tr("give an account another role"))
    role.add_argument("name")
    role.add_argument("role", choices=("nurse", "physician", "admin"))
    role.add_argument("--reason", required=True, help=tr("why (kept in the audit trail)"))
    role.set_defaults(handler=cmd_users_role)
    p.set_defaults(handler=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _database_path(args: argparse.Namespace) -> Path:
    from poems_monitor.config import app_paths
    from poems_monitor.persistence.db import database_url

    url = database_url(args.db or app_paths().default_database)
    if not url.startswith("sqlite:///"):
        raise CommandError(tr("restore works on an SQLite database file; restore a server database with the server's "
                              "own tools (for PostgreSQL: pg_restore)"))
    return Path(url[len("sqlite:///"):])


def cmd_check(args: argparse.Namespace) -> int:
    from poems_monitor.persistence.db import DatabaseError, ServerSignInRefused, ServerUnreachable, open_database
    from poems_monitor.services.integrity import check_report

    from poems_monitor.cli.context import database_target, server_password

    target = database_target(args)
    if "://" not in str(target) and not Path(target).exists():
        raise CommandError(tr("{db} does not exist").format(db=target))
    try:
        db = open_database(target, migrate=False, password=server_password(args, str(target)))
    except (ServerUnreachable, ServerSignInRefused):
        raise  # nothing is known about the data: not "damaged" (the command line says which, and exits so)
    except DatabaseError as exc:
        print(tr("{db} is damaged: {problem}").format(db=target, problem=exc), file=sys.stderr)
        return EXIT_FAILED
    try:
        with progress_bar() as progress:
            report = check_report(db, progress=progress)
    finally:
        db.dispose()
    if report.problems:
        print(ntr("{db} is damaged ({n} problem found):", "{db} is damaged ({n} problems found):", len(report.problems)).format(db=db.describe(), n=len(report.problems)), file=sys.stderr)
        for problem in report.problems:
            print(f"- {problem}", file=sys.stderr)
        return EXIT_FAILED
    print(tr("{db} is sound: {notes}.").format(db=db.describe(), notes="; ".join(report.notes)))
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from poems_monitor.services import backup

    db = open_db(args)
    try:
        who = actor(db, args)
        try:
            if args.file is None:
                from poems_monitor.services.access import Permission, require

                require(who, Permission.BACKUP)
                with progress_bar() as progress:
                    result = backup.automatic_backup(db, force=True, progress=progress)
                if result is None:  # an in-memory database: nothing to keep
                    raise CommandError(tr("{db} has no file to copy; nothing was written").format(db=db.describe()))
            else:
                with progress_bar() as progress:
                    result = backup.backup_to(db, who, args.file, progress)
        except backup.BackupRefused as exc:
            raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    print(tr("Backup written to {file} ({kb} kB), checked.").format(file=result.path, kb=max(1, result.size // 1024)))
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from poems_monitor.cli.context import acting_name, acting_password
    from poems_monitor.persistence.db import DatabaseError, open_database
    from poems_monitor.services import backup
    from poems_monitor.services.access import PermissionDenied
    from poems_monitor.services.users import count_users, resolve_actor

    from poems_monitor.cli.context import database_target
    from poems_monitor.persistence.db import database_url

    if not database_url(database_target(args)).startswith("sqlite"):
        return _restore_server(args)
    target = _database_path(args)
    name = acting_name(args)
    password: list[str | None] = []  # asked once, and only when some database has accounts

    def given_password() -> str | None:
        if not password:
            password.append(acting_password(args, name))
        return password[0]

    # Who may restore is decided by the accounts of the database being replaced; when that one is
    # too damaged to open, by the accounts of the backup (after the backup passes its checks).
    who = None
    if target.exists():
        try:
            current = open_database(target, migrate=False)
        except DatabaseError:
            current = None
        if current is not None:
            try:
                who = resolve_actor(current, name, given_password() if count_users(current) else None)
            except PermissionDenied:
                raise
            except Exception:  # noqa: BLE001, S110 (a damaged database may fail here: the backup decides)
                who = None
            finally:
                current.dispose()
    if who is None:
        problems = backup.problems_of_backup_file(args.file) if args.file.exists() else [
            tr("{file} does not exist").format(file=args.file)]
        if problems:
            raise CommandError(tr("{file} was not restored: {problems}. Nothing was changed.").format(
                file=args.file, problems="; ".join(problems)))
        who = _actor_from_backup(args.file, name, given_password)
    try:
        with progress_bar() as progress:  # the copy's check: minutes on a large clinic
            result = backup.restore_from(target, who, args.file, progress=progress)
    except backup.BackupRefused as exc:
        raise CommandError(str(exc)) from None
    kept = tr("; the replaced database was kept as {file}").format(file=result.replaced_kept_as) if result.replaced_kept_as else ""
    print(tr("Restored {db} from {file}{kept}.").format(db=target, file=args.file, kept=kept))
    return EXIT_OK


def _restore_server(args: argparse.Namespace) -> int:
    """`restore FILE` on a server database: into an empty database only. An empty database has no
    accounts yet, so, as for any database without accounts, the command acts as its set-up
    administrator; what it may do on the server is what the server login may do."""
    from poems_monitor.cli.context import acting_name, database_target, server_password
    from poems_monitor.persistence.db import DatabaseError, open_database
    from poems_monitor.services import backup
    from poems_monitor.services.access import Actor, Role

    from sqlalchemy.engine import make_url

    target = database_target(args)
    try:
        db = open_database(target, migrate=False, password=server_password(args, target))
    except DatabaseError as exc:
        raise CommandError(tr("{file} was not restored: {error}").format(file=args.file, error=exc)) from None
    try:
        # The entry recording the restore is the login's: the server says who wrote it (db_user),
        # and `check` holds an entry naming another account than its login for a forgery.
        login = make_url(target).username
        result = backup.restore_server_database(db, Actor(login or acting_name(args), Role.ADMIN), args.file)
    except backup.BackupRefused as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    print(tr("Restored {db} from {file} ({method}), checked.").format(db=db.describe(), file=result.restored_from,
                                                                      method=result.method))
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from poems_monitor.cli.context import database_target
    from poems_monitor.persistence.db import database_url
    from poems_monitor.services.server_migration import MigrationRefused, migrate_to_server

    if not database_url(database_target(args)).startswith("sqlite"):
        raise CommandError(tr("migrate copies a clinic from its SQLite file: give it with --db FILE; nothing was copied"))
    target_password = read_password_file(args.target_password_file) if args.target_password_file else None
    db = open_existing_db(args)
    try:
        who = actor(db, args)
        try:
            result = migrate_to_server(db, args.to, who, target_password=target_password)
        except MigrationRefused as exc:
            raise CommandError(str(exc)) from None
        source_name = db.describe()
    finally:
        db.dispose()
    from sqlalchemy.engine import make_url

    target_name = make_url(args.to).render_as_string(hide_password=True)
    print(tr("Copied {patients} patients ({rows} rows) from {file} to {db} in one transaction.").format(
        patients=result.rows.get("patient", 0), rows=sum(result.rows.values()), file=source_name, db=target_name))
    failed = False
    for name, problems, notes in ((source_name, result.source_problems, result.source_notes),
                                  (target_name, result.target_problems, result.target_notes)):
        if problems:
            failed = True
            print(ntr("check: {db} is damaged ({n} problem found):", "check: {db} is damaged ({n} problems found):",
                      len(problems)).format(db=name, n=len(problems)), file=sys.stderr)
            for problem in problems:
                print(f"- {problem}", file=sys.stderr)
        else:
            print(tr("check: {db} is sound: {notes}.").format(db=name, notes="; ".join(notes)))
    return EXIT_FAILED if failed else EXIT_OK


def _actor_from_backup(path: Path, name: str, password):  # noqa: ANN001, ANN202
    from sqlalchemy import create_engine

    from poems_monitor.persistence.db import Database
    from poems_monitor.services.users import count_users, resolve_actor

    url = f"sqlite:///{Path(path).resolve().as_uri()}?mode=ro&uri=true"
    engine = create_engine(url)
    try:
        copy = Database(engine=engine, url=url)
        return resolve_actor(copy, name, password() if count_users(copy) else None, record=False)
    finally:
        engine.dispose()


def _read_password(nothing_done: str | None = None) -> str:
    """The new password: asked twice on a terminal, or one line of standard input."""
    nothing_done = nothing_done or tr("no account was created")
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(tr("New password: "))
        second = getpass.getpass(tr("New password again: "))
        if first != second:
            raise CommandError(tr("The two passwords differ; {nothing}").format(nothing=nothing_done))
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise CommandError(tr("No password was given on standard input; {nothing}").format(nothing=nothing_done))
    return line.rstrip("\r\n")


def cmd_users_add(args: argparse.Namespace) -> int:
    from poems_monitor.services.access import Role
    from poems_monitor.services.users import AccountError, add_user

    db = open_db(args)
    try:
        who = actor(db, args)
        password = _read_password()
        try:
            account = add_user(db, who, args.name, Role(args.role), password)
        except AccountError as exc:
            raise CommandError(tr("{error}; no account was created").format(error=exc)) from None
    finally:
        db.dispose()
    print(tr("Account {name} ({role}) created.").format(name=account.name, role=account.role.label))
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    from poems_monitor.services.users import list_users

    db = open_existing_db(args)
    try:
        accounts = list_users(db)
    finally:
        db.dispose()
    if not accounts:
        print(tr("No accounts yet: create the first administrator with `poems-monitor users add NAME --role admin`."))
        return EXIT_OK
    width = max(len(a.name) for a in accounts)
    for a in accounts:
        state = "" if a.active else "  " + tr("(inactive)")
        print(f"{a.name:<{width}}  {a.role.label}{state}")
    return EXIT_OK


def cmd_users_passwd(args: argparse.Namespace) -> int:
    from poems_monitor.services.users import AccountError, change_password

    db = open_db(args)
    try:
        who = actor(db, args)
        password = _read_password(tr("the password was not changed"))
        try:
            change_password(db, who, args.name, password)
        except AccountError as exc:
            raise CommandError(tr("{error}; the password was not changed").format(error=exc)) from None
    finally:
        db.dispose()
    print(tr("New password set for {name}.").format(name=args.name))
    return EXIT_OK


def cmd_users_unlock(args: argparse.Namespace) -> int:
    from poems_monitor.services.users import AccountError, unlock_user

    db = open_db(args)
    try:
        try:
            lifted = unlock_user(db, actor(db, args), args.name)
        except AccountError as exc:
            raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    print(tr("{name} is unlocked.").format(name=args.name) if lifted else tr("{name} was not locked.").format(name=args.name))
    return EXIT_OK


def cmd_users_active(args: argparse.Namespace) -> int:
    from poems_monitor.services.users import AccountError, set_active

    db = open_db(args)
    try:
        try:
            changed = set_active(db, actor(db, args), args.name, args.active, args.reason)
        except AccountError as exc:
            raise CommandError(tr("{error}; nothing was changed").format(error=exc)) from None
    finally:
        db.dispose()
    state = tr("active") if args.active else tr("deactivated")
    message = tr("{name} is now {state}.") if changed else tr("{name} was already {state}.")
    print(message.format(name=args.name, state=state))
    return EXIT_OK


def cmd_users_role(args: argparse.Namespace) -> int:
    from poems_monitor.services.access import Role
    from poems_monitor.services.users import AccountError, change_role

    db = open_db(args)
    try:
        try:
            changed = change_role(db, actor(db, args), args.name, Role(args.role), args.reason)
        except AccountError as exc:
            raise CommandError(tr("{error}; nothing was changed").format(error=exc)) from None
    finally:
        db.dispose()
    message = tr("{name} is now {role}.") if changed else tr("{name} was already {role}.")
    print(message.format(name=args.name, role=args.role))
    return EXIT_OK
