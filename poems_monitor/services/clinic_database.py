"""Opening the clinic database for the desktop app: the handle, the refusal, the start-up check.

The UI may not import persistence (the import contract "The UI reaches data only through
services" in pyproject.toml); this module is its one door to the database itself. It opens the
clinic (migrated, or read-only for a damaged file or a backup), runs the quick page check made on
every start, and names the two things the UI holds or catches without looking inside: the
`Database` handle it passes to every other service, and `DatabaseError` ("cannot be opened as
it is", its str() the sentence). What the UI reads and writes goes through the other services.
"""

from __future__ import annotations

from pathlib import Path

from poems_monitor.persistence import sqlite_backup
from poems_monitor.persistence.db import (
    Database,
    DatabaseError,
    ServerSchemaNotCurrent,
    ServerSignInRefused,
    ServerUnreachable,
    create_database_engine,
    database_url,
    open_database,
)
from poems_monitor.persistence.repositories.patients import patient_count

__all__ = ["Database", "DatabaseError", "ServerSchemaNotCurrent", "ServerSignInRefused", "ServerUnreachable",
           "open_clinic_database", "open_read_only", "quick_check_problems", "readable_clinic_file", "sqlite_file"]


def open_clinic_database(target: str | Path, *, password: str | None = None) -> Database:
    """Open the clinic database at `target` (a file path or a database URL): a SQLite file is
    brought up to this version's schema; a clinic server is not (its administrator runs `server
    upgrade`): `ServerSchemaNotCurrent`, `ServerUnreachable`, or another `DatabaseError` when it
    cannot be opened as it is. `password`: a clinic server login's, never stored."""
    return open_database(target, password=password)


def sqlite_file(target: str | Path) -> Path | None:
    """The SQLite file `target` names when that file exists (it can be checked before it is
    opened, and backed up); None for a server database or a file not made yet."""
    url = database_url(target)
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = Path(url[len(prefix):])
    return path if path.exists() else None


def open_read_only(path: Path) -> Database:
    """The SQLite file `path` opened read-only (SQLite URI mode=ro, no WAL switch), for looking at
    a damaged clinic or a backup without changing a byte of it."""
    url = f"sqlite:///{Path(path).resolve().as_uri()}?mode=ro&uri=true"
    return Database(engine=create_database_engine(url, wal=False), url=url)


def quick_check_problems(db: Database) -> list[str]:
    """What the quick page check made on every start finds wrong, as sentences (empty: sound).
    The full check is `services.integrity.check`."""
    return sqlite_backup.quick_check(db)


def readable_clinic_file(path: Path) -> bool:
    """Whether the SQLite file `path` can still be opened read-only and its patient table read,
    so a damaged clinic can be offered "open anyway, read-only"."""
    try:
        db = open_read_only(path)
    except Exception:  # noqa: BLE001 (a damaged file fails in many ways)
        return False
    try:
        with db.read() as session:
            patient_count(session)
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        db.dispose()
