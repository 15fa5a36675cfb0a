"""SQLite file operations behind backup, restore and `check`: online copies with SQLite's backup
API, low-level file checks, and putting a verified copy in place of the live file.

Owns every direct use of the `sqlite3` module, so that services stay dialect-neutral. Nothing
here decides policy (where backups go, how many are kept, who may restore): `services.backup`
does. A copy is always written to a temporary name beside its destination, flushed to disk, and
renamed into place, so a crash leaves either the old file or the complete new one.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy import text

from poems_monitor.persistence.db import Database

SQLITE_HEADER = b"SQLite format 3\x00"
# SQLite's own side files, and the audit head that `services.audit` records beside a database.
_SIDE_FILES = ("-wal", "-shm", "-journal", ".audit-head")


class SqliteFileError(Exception):
    """A file operation that could not be done; the message is a plain sentence."""


def plain_error(exc: BaseException) -> str:
    """The first line of a database error without SQL or links: what went wrong, for a sentence."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    return lines[0] if lines else type(inner).__name__


def looks_like_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_HEADER
    except OSError:
        return False


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Temporary files carry the id of the process that writes them, so that the copies a killed
# process leaves behind can be recognised and removed by the next backup, restore or start.
_TEMPORARY = re.compile(r"^\..*\.pid(?P<pid>\d+)\.[^/]*\.tmp(-wal|-shm|-journal|\.audit-head)?$")


def temporary_path_beside(path: Path, tag: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{tag}.pid{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(name)  # sqlite3 creates it; an empty file would be taken for a database
    return Path(name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process
    return True


def sweep_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary copies (and their side files) that a killed backup, restore or
    write left in `folder`: those whose writing process is gone. Returns what was removed."""
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TEMPORARY.match(name)
        if m and not _alive(int(m["pid"])):
            try:
                (Path(folder) / name).unlink()
                removed.append(Path(folder) / name)
            except OSError:
                pass
    return removed


def regular_file_problem(path: Path) -> str | None:
    """Why `path` cannot be a database or backup file (a folder, a device, a pipe), or None when
    it is a regular file or does not exist yet."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    import stat

    if stat.S_ISDIR(mode):
        return "it is a folder"
    if not stat.S_ISREG(mode):
        return "it is not a regular file (a device or a pipe)"
    return None


def remove_with_side_files(path: Path) -> None:
    for candidate in (path, *(Path(f"{path}{s}") for s in _SIDE_FILES)):
        try:
            candidate.unlink()
        except FileNotFoundError:
            pass


def _copy_connection(source: sqlite3.Connection, dest_path: Path) -> None:
    """Copy `source` into a new single file at `dest_path` (rollback journal, not WAL)."""
    dest = sqlite3.connect(dest_path, isolation_level=None)
    try:
        source.backup(dest)  # pages=-1: one step, one consistent snapshot of the source
        dest.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file
        dest.execute("PRAGMA synchronous=FULL")
    finally:
        dest.close()
    _fsync_file(dest_path)


def online_copy(db: Database, dest: Path) -> None:
    """A consistent copy of the live SQLite database at `dest`, taken while others keep writing.

    Uses the backup API on the raw DB-API connection of the engine; under WAL, the copy is the
    snapshot of the last commit when it started and writers are not blocked. `dest` is replaced
    atomically only once the copy is complete and on disk.
    """
    if not db.is_sqlite or db.path is None:
        raise SqliteFileError("only an SQLite file database can be copied this way")
    dest = Path(dest)
    tmp = temporary_path_beside(dest, "copy")
    raw = db.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert source is not None  # an open pool connection always has its driver connection
        _copy_connection(source, tmp)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        remove_with_side_files(tmp)
        raise
    finally:
        raw.close()


def copy_file_database(source_path: Path, dest: Path) -> None:
    """Copy the SQLite file `source_path` (read-only; its WAL is honoured) into `dest` atomically.

    Raises SqliteFileError when the source is not an SQLite file that can be read at all.
    """
    source_path = Path(source_path)
    if not looks_like_sqlite(source_path):
        raise SqliteFileError(f"{source_path} is not an SQLite database file")
    tmp = temporary_path_beside(Path(dest), "copy")
    try:
        source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise SqliteFileError(f"{source_path} cannot be opened: {exc}") from None
    try:
        _copy_connection(source, tmp)
        os.replace(tmp, dest)
        _fsync_dir(Path(dest).parent)
    except sqlite3.Error as exc:
        remove_with_side_files(tmp)
        raise SqliteFileError(f"{source_path} cannot be read: {exc}") from None
    except BaseException:
        remove_with_side_files(tmp)
        raise
    finally:
        source.close()


def file_level_copy(source_path: Path, dest: Path) -> None:
    """Byte copy of a file that SQLite may not be able to read (a damaged database), with its WAL."""
    for suffix in ("", "-wal"):
        src = Path(f"{source_path}{suffix}")
        if src.exists():
            shutil.copy2(src, Path(f"{dest}{suffix}"))


def structural_problems(db: Database) -> list[str]:
    """SQLite's own checks: page structure and indexes (integrity_check), then foreign keys.

    Plain sentences; empty when the file is sound. A file too damaged to run the checks gives
    one sentence saying so.
    """
    problems: list[str] = []
    try:
        with db.engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check(20)")]
            if rows != ["ok"]:
                problems.extend(f"SQLite integrity check: {r}" for r in rows)
            for table, rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                problems.append(f"row {rowid} of table {table} refers to a row of {parent} that does not exist")
    except Exception as exc:  # noqa: BLE001 (a damaged file may fail in many ways)
        problems.append(f"the database file cannot be read through: {plain_error(exc)}")
    return problems


# SQLite's own bookkeeping tables (ANALYZE statistics, AUTOINCREMENT counters) are not data.
_SQLITE_INTERNAL = ("sqlite_stat", "sqlite_sequence")


def expected_schema() -> tuple[dict[str, set[str]], set[str]]:
    """The tables (with their columns) and indexes of the current schema, from the table models."""
    from sqlmodel import SQLModel

    import poems_monitor.models  # noqa: F401  (registers every table)

    tables = {t.name: {c.name for c in t.columns} for t in SQLModel.metadata.sorted_tables}
    tables["alembic_version"] = {"version_num"}
    indexes = {str(i.name) for t in SQLModel.metadata.sorted_tables for i in t.indexes if i.name}
    return tables, indexes


def schema_object_problems(run, *, exact: bool = True) -> list[str]:  # noqa: ANN001
    """What in the file's schema is not poems-monitor's plain data: triggers, views, tables,
    indexes or columns the app does not make. `run(sql)` returns the rows of a query (a sqlite3
    connection's `execute` or SQLAlchemy's `exec_driver_sql`). `exact`: the schema must be the
    current one; otherwise (an older schema, before its upgrade) tables and columns may be missing.
    Plain sentences; empty when the schema holds nothing else."""
    tables, indexes = expected_schema()
    problems = []
    found_tables = []
    for kind, name, tbl in run("SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name"):
        if kind == "trigger":
            problems.append(f"it holds a trigger ({name} on {tbl}), which could rewrite what is saved")
        elif kind == "view":
            problems.append(f"it holds a view ({name}), which poems-monitor never makes")
        elif kind == "table":
            if name in tables:
                found_tables.append(name)
            elif not name.startswith(_SQLITE_INTERNAL):
                problems.append(f"it holds a table poems-monitor does not make ({name})")
        elif kind == "index":
            autoindex = name.startswith(f"sqlite_autoindex_{tbl}_") and tbl in tables
            if name not in indexes and not autoindex:
                problems.append(f"it holds an index poems-monitor does not make ({name} on {tbl})")
        else:
            problems.append(f"it holds a schema object of kind {kind} ({name})")
    for name in found_tables:
        columns = {row[1] for row in run(f'PRAGMA table_xinfo("{name}")')}
        extra = sorted(columns - tables[name])
        if extra:
            problems.append(f"table {name} has columns poems-monitor does not make ({', '.join(extra)})")
        missing = sorted(tables[name] - columns)
        if missing and exact:
            problems.append(f"table {name} lacks columns of the current schema ({', '.join(missing)})")
    if exact:
        missing_tables = sorted(set(tables) - set(found_tables))
        if missing_tables:
            problems.append(f"tables are missing: {', '.join(missing_tables)}")
    return problems


def file_schema_problems(path: Path, *, exact: bool) -> list[str]:
    """`schema_object_problems` of a file that is not open, read-only."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return [f"the file cannot be opened: {exc}"]
    try:
        return schema_object_problems(conn.execute, exact=exact)
    except sqlite3.Error as exc:
        return [f"the schema cannot be read: {exc}"]
    finally:
        conn.close()


def file_revision(path: Path) -> str | None:
    """The schema revision a file claims (read-only); None when it records none."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _read_file(path: Path, sql: str, parameters: tuple = ()) -> tuple | None:
    """The first row `sql` reads from the SQLite file `path` opened read-only; None when it reads
    none or the file cannot be read."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, parameters).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def file_audit_head(path: Path) -> tuple[int, str] | None:
    """The newest audit entry's id and hash in the file `path` (read-only), or None when there is
    none or the file cannot be read."""
    row = _read_file(path, "SELECT id, hash FROM audit_entry ORDER BY id DESC LIMIT 1")
    return (row[0], row[1]) if row else None


def file_audit_hash(path: Path, entry_id: int) -> str | None:
    """The hash of audit entry `entry_id` in the file `path` (read-only), or None when the file
    holds no such entry or cannot be read."""
    row = _read_file(path, "SELECT hash FROM audit_entry WHERE id = ?", (entry_id,))
    return row[0] if row else None


def quick_check(db: Database) -> list[str]:
    """A faster page-level check for start-up (PRAGMA quick_check): empty when it passes."""
    try:
        with db.engine.connect() as conn:
            rows = [r[0] for r in conn.execute(text("PRAGMA quick_check(5)"))]
    except Exception as exc:  # noqa: BLE001
        return [f"the database file cannot be read: {plain_error(exc)}"]
    return [] if rows == ["ok"] else [f"SQLite quick check: {r}" for r in rows]


def _open_if_sound(path: Path) -> sqlite3.Connection | None:
    """A connection to `path` when SQLite can read it and its pages pass quick_check, else None."""
    if not looks_like_sqlite(path):
        return None
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        if [r[0] for r in conn.execute("PRAGMA quick_check(1)")] == ["ok"]:
            return conn
    except sqlite3.Error:
        pass
    conn.close()
    return None


def restore_into_live(verified_copy: Path, target: Path, keep_as: Path) -> str:
    """Put the verified copy in place of `target`, keeping the replaced database as `keep_as`.

    When the live file can be read, both steps use the backup API: the replaced database is
    copied to `keep_as` first, then the verified copy is written into the live file in one
    transaction, so other connections (a second window) see the restored data and never a
    half-replaced file. When the live file is too damaged for that, it is moved aside (with its
    WAL) and the copy renamed into place. Returns "online" or "file swap".
    """
    target, keep_as = Path(target), Path(keep_as)
    if not target.exists():
        os.replace(verified_copy, target)
        _fsync_dir(target.parent)
        return "file swap"
    live = _open_if_sound(target)
    if live is not None:
        keep_tmp = temporary_path_beside(keep_as, "keep")
        try:
            _copy_connection(live, keep_tmp)
            os.replace(keep_tmp, keep_as)
            source = sqlite3.connect(verified_copy, isolation_level=None)
            try:
                live_page = live.execute("PRAGMA page_size").fetchone()[0]
                if source.execute("PRAGMA page_size").fetchone()[0] != live_page:
                    # a WAL database only accepts a backup of its own page size
                    source.execute(f"PRAGMA page_size={int(live_page)}")
                    source.execute("VACUUM")
                source.backup(live)
            finally:
                source.close()
        except sqlite3.Error as exc:
            remove_with_side_files(keep_as)
            raise SqliteFileError(f"the backup could not be written into {target}: {exc}; nothing was changed") from None
        finally:
            remove_with_side_files(keep_tmp)
            live.close()
        remove_with_side_files(verified_copy)
        return "online"
    # Damaged beyond SQLite's reach: keep the file bytes as they are and swap.
    for suffix in ("", "-wal"):
        src = Path(f"{target}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{keep_as}{suffix}"))
    for suffix in ("-shm", "-journal"):
        try:
            Path(f"{target}{suffix}").unlink()
        except FileNotFoundError:
            pass
    os.replace(verified_copy, target)
    _fsync_dir(target.parent)
    return "file swap"
