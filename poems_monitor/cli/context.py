"""What every command needs: the database named by --db, and the acting user.

The database layers are imported when a command runs, not when the parser is built: the
desktop app starts through this command line and shows its window sooner without them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from poems_monitor.cli import default_user

if TYPE_CHECKING:
    from poems_monitor.persistence.db import Database
    from poems_monitor.services.access import Actor


def database_target(args: argparse.Namespace) -> str:
    """The database --db names (a path or URL), or the user's default database."""
    from poems_monitor.config import app_paths

    return str(args.db or app_paths().default_database)


def open_db(args: argparse.Namespace) -> Database:
    """The database of a command that writes: created on first use."""
    from poems_monitor.persistence.db import open_database

    return open_database(database_target(args))


def open_existing_db(args: argparse.Namespace) -> Database:
    """The database of a command that only reads: a file that does not exist (a mistyped --db)
    is refused by name, never created empty."""
    from poems_monitor.cli import CommandError
    from poems_monitor.i18n import tr
    from poems_monitor.persistence.db import open_database

    target = database_target(args)
    if "://" not in target and not Path(target).expanduser().exists():
        raise CommandError(tr("{db} does not exist: check the path given with --db (nothing was created)").format(
            db=Path(target).expanduser()))
    return open_database(target)


def actor(db: Database, args: argparse.Namespace) -> Actor:
    from poems_monitor.services.users import resolve_actor

    return resolve_actor(db, args.user or default_user())
