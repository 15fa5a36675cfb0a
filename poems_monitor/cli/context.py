"""What every command needs: the database named by --db, and the acting user.

The database layers are imported when a command runs, not when the parser is built: the
desktop app starts through this command line and shows its window sooner without them.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from poems_monitor.cli import default_user

if TYPE_CHECKING:
    from poems_monitor.persistence.db import Database
    from poems_monitor.services.access import Actor


def open_db(args: argparse.Namespace) -> Database:
    from poems_monitor.config import app_paths
    from poems_monitor.persistence.db import open_database

    return open_database(args.db or app_paths().default_database)


def actor(db: Database, args: argparse.Namespace) -> Actor:
    from poems_monitor.services.users import resolve_actor

    return resolve_actor(db, args.user or default_user())
