"""What every command needs: the database named by --db, and the acting user."""

from __future__ import annotations

import argparse

from poems_monitor.cli import default_user
from poems_monitor.config import app_paths
from poems_monitor.persistence.db import Database, open_database
from poems_monitor.services.access import Actor
from poems_monitor.services.users import resolve_actor


def open_db(args: argparse.Namespace) -> Database:
    return open_database(args.db or app_paths().default_database)


def actor(db: Database, args: argparse.Namespace) -> Actor:
    return resolve_actor(db, args.user or default_user())
