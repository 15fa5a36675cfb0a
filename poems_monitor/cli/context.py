"""What every command needs: the database named by --db, and the acting user (signed in with
the account's password once the database has accounts: INTERFACES.md section 1).

The database layers are imported when a command runs, not when the parser is built: the
desktop app starts through this command line and shows its window sooner without them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from poems_monitor.cli import CommandError
from poems_monitor.i18n import tr
from poems_monitor.workstation import login_name

if TYPE_CHECKING:
    from poems_monitor.persistence.db import Database
    from poems_monitor.services.access import Actor


def database_target(args: argparse.Namespace) -> str:
    """The database --db names (a path or URL), or the user's default database."""
    from poems_monitor.config import app_paths

    return str(args.db or app_paths().default_database)


def _with_stored_mrn(db: Database, args: argparse.Namespace) -> Database:
    """A --mrn given is taken as the stored MRN it names without regard to case (h-000123 is
    patient H-000123), as imports and entries compare MRNs."""
    if isinstance(getattr(args, "mrn", None), str):
        from poems_monitor.services.patients import stored_mrn

        args.mrn = stored_mrn(db, args.mrn)
    return db


def is_server(target: str) -> bool:
    return "://" in target and not target.startswith("sqlite")


def server_password(args: argparse.Namespace, target: str) -> str | None:
    """On a clinic server the account's password is its login's: the first line of
    --password-file, or asked on a terminal; None leaves it to the URL or libpq's own
    PGPASSWORD and password file."""
    import os

    from sqlalchemy.engine import make_url

    if not is_server(target) or make_url(target).password:
        return None
    login = make_url(target).username or ""
    if getattr(args, "password_file", None):
        return acting_password(args, login)
    if sys.stdin is not None and sys.stdin.isatty() and not os.environ.get("PGPASSWORD"):
        return acting_password(args, login) or None
    return None


def open_db(args: argparse.Namespace) -> Database:
    """The database of a command that writes: created on first use."""
    from poems_monitor.persistence.db import open_database

    target = database_target(args)
    return _with_stored_mrn(open_database(target, password=server_password(args, target)), args)


def open_existing_db(args: argparse.Namespace) -> Database:
    """The database of a command that only reads: a file that does not exist (a mistyped --db)
    is refused by name, never created empty."""
    from poems_monitor.persistence.db import open_database

    target = database_target(args)
    if "://" not in target and not Path(target).expanduser().exists():
        raise CommandError(tr("{db} does not exist: check the path given with --db (nothing was created)").format(
            db=Path(target).expanduser()))
    return _with_stored_mrn(open_database(target, password=server_password(args, target)), args)


def actor(db: Database, args: argparse.Namespace) -> Actor:
    """The account acting for a command that writes: its password checked (failures count
    towards the lock-out), or the set-up administrator while the database has no account."""
    from poems_monitor.services.users import count_users, resolve_actor

    if not db.is_sqlite:  # the server checked the login's password; --user may only name that login
        return resolve_actor(db, getattr(args, "user", None), None)
    name = acting_name(args)
    if count_users(db) == 0:
        return resolve_actor(db, name, None)
    return resolve_actor(db, name, acting_password(args, name))


def acting_name(args: argparse.Namespace) -> str:
    return getattr(args, "user", None) or login_name()


def read_password_file(source: str | Path) -> str:
    """The first line of a password file (`--password-file`, `--target-password-file`), refused
    with a sentence naming the file when it cannot be read."""
    path = Path(source)
    try:
        with open(path, encoding="utf-8") as fh:
            line = fh.readline(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(tr("The password file {file} cannot be read ({error}); nothing was changed").format(
            file=path, error=getattr(exc, "strerror", None) or tr("not UTF-8 text"))) from None
    return line.rstrip("\r\n")


def acting_password(args: argparse.Namespace, name: str) -> str:
    """The first line of --password-file, or asked on a terminal; refused with a sentence saying
    how to give it when neither is there."""
    source = getattr(args, "password_file", None)
    if source:
        password = read_password_file(source)
    elif sys.stdin is not None and sys.stdin.isatty():
        try:
            password = getpass.getpass(tr("Password for {name}: ").format(name=name))
        except EOFError:
            password = ""
    else:
        password = ""
    if not password:
        raise CommandError(tr("{name} may act only with the account's password: run the command on a terminal to be "
                              "asked, or give --password-file FILE; nothing was changed").format(name=name))
    return password
