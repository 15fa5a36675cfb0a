"""The `server` commands: set up a clinic's PostgreSQL server (`init`), bring its schema to this
version (`upgrade`) and say where it stands (`status`). Only these change a server's schema;
every other command and the desktop app refuse a server at another schema than theirs."""

from __future__ import annotations

import argparse

from poems_monitor.cli import EXIT_FAILED, EXIT_OK, CommandError
from poems_monitor.i18n import counted, tr


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("server", parents=[common], help=tr("set up and upgrade a clinic's PostgreSQL server"))
    server = p.add_subparsers(dest="server_command", metavar="ACTION")
    init = server.add_parser("init", parents=[common], help=tr(
        "create the database, schema, group roles with only their rights, and the first administrator's login"))
    init.add_argument("url", help=tr("postgresql+psycopg://OWNER@HOST:PORT/DATABASE (a login that may create roles "
                                     "and databases)"))
    init.add_argument("--admin", required=True, metavar="NAME", help=tr("the first administrator's account and login"))
    init.set_defaults(handler=cmd_server_init)
    upgrade = server.add_parser("upgrade", parents=[common], help=tr(
        "bring the server's schema to this version and re-apply the roles' rights (one run at a time)"))
    upgrade.add_argument("url")
    upgrade.set_defaults(handler=cmd_server_upgrade)
    status = server.add_parser("status", parents=[common], help=tr("the server's schema, roles and logins"))
    status.add_argument("url")
    status.set_defaults(handler=cmd_server_status)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _open(url: str):  # noqa: ANN202
    from poems_monitor.persistence.db import database_url, open_database

    if "://" not in url or url.startswith("sqlite"):
        raise CommandError(tr("server commands need a PostgreSQL URL (postgresql+psycopg://…), not {target}").format(
            target=url))
    return open_database(database_url(url), migrate=False)


def _new_admin_password(args: argparse.Namespace) -> str:
    """The first administrator's password: the first line of --password-file, or asked twice on
    a terminal (one line of standard input otherwise). Never written anywhere by us."""
    from poems_monitor.cli.context import acting_password
    from poems_monitor.cli.safety import _read_password

    if getattr(args, "password_file", None):
        return acting_password(args, args.admin)
    return _read_password()


def cmd_server_init(args: argparse.Namespace) -> int:
    from poems_monitor.services import clinic_server
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.users import AccountError, add_user, change_password, count_users, list_users

    password = _new_admin_password(args)
    try:
        clinic_server.check_login_name(args.admin)
        created = clinic_server.ensure_database(args.url)
    except clinic_server.ServerRefused as exc:
        raise CommandError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 (a connection problem becomes exit 3; anything else is re-raised)
        _unreachable_or_raise(exc, args.url)
    db = _open(args.url)
    try:
        result = clinic_server.upgrade_server(db)
        admin = Actor(args.admin, Role.ADMIN)
        if count_users(db):
            # A clinic moved here with `migrate --to` has its accounts but no logins: the named
            # administrator account gets its login (the others get theirs from it: `users passwd`).
            moved = {a.name: a for a in list_users(db)}.get(args.admin)
            with db.read() as session:
                has_login = clinic_server.login_exists(session, args.admin)
            if moved is None or moved.role != Role.ADMIN or not moved.active or has_login:
                raise CommandError(tr(
                    "{db} has accounts already: `server init` makes the first administrator, or gives an administrator "
                    "account of a migrated clinic its login; add accounts with `users add`, logins of migrated "
                    "accounts with `users passwd` (the schema and rights are current)").format(db=db.describe()))
            try:
                change_password(db, admin, args.admin, password,
                                reason=tr("server init: the login of an account moved from an SQLite file"))
            except AccountError as exc:
                raise CommandError(tr("{error}; no login was created").format(error=exc)) from None
        else:
            try:
                add_user(db, admin, args.admin, Role.ADMIN, password, reason=tr("server init"))
            except AccountError as exc:
                raise CommandError(tr("{error}; no account was created").format(error=exc)) from None
    finally:
        db.dispose()
    print(tr("Clinic server {db} set up{created}: schema {schema}, roles poems_nurse, poems_physician, poems_admin, "
             "administrator {admin}.").format(db=db.describe(), created=tr(" (database created)") if created else "",
                                              schema=result.after, admin=args.admin))
    return EXIT_OK


def _unreachable_or_raise(exc: Exception, url: str) -> None:
    from poems_monitor.persistence.db import connection_problem

    problem = connection_problem(exc, url)
    if problem is not None:
        raise problem from None
    raise exc


def cmd_server_upgrade(args: argparse.Namespace) -> int:
    from poems_monitor.services import clinic_server

    db = _open(args.url)
    try:
        result = clinic_server.upgrade_server(db)
    except clinic_server.ServerRefused as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    if result.migrated:
        print(tr("Clinic server {db} upgraded from schema {before} to {after}; roles' rights re-applied.").format(
            db=db.describe(), before=result.before or tr("none"), after=result.after))
    else:
        print(tr("Clinic server {db} is at schema {after} already; roles' rights re-applied.").format(
            db=db.describe(), after=result.after))
    return EXIT_OK


def cmd_server_status(args: argparse.Namespace) -> int:
    from poems_monitor.services.clinic_server import server_status

    db = _open(args.url)
    try:
        status = server_status(db)
    finally:
        db.dispose()
    print(tr("server: PostgreSQL {version}, database {database}, signed in as {login}, TLS {tls}").format(
        version=status.server_version, database=status.database, login=status.login,
        tls=tr("on") if status.tls else tr("OFF")))
    print(tr("schema: {schema} (this version needs {head})").format(schema=status.schema or tr("none"), head=status.head))
    for group, exists in status.groups.items():
        print(tr("role {group}: {state}").format(
            group=group, state=counted(status.logins[group], "{n} active login", "{n} active logins") if exists
            else tr("missing")))
    if not status.current:
        print(tr("Not current: run `poems-monitor server upgrade {url}`.").format(url=_hide(args.url)))
        return EXIT_FAILED
    return EXIT_OK


def _hide(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

