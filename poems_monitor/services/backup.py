"""Backups and restore of the clinic database.

Owns the policy: where automatic backups go (a configurable folder holding one backup set per
database, see `backup_set_folder`), how they are named and rotated (7 daily + 12 monthly by
default, and the `*.replaced-*` copies a restore keeps by the same rule), how old the last good
backup may be before the app warns, and the rule that a restore verifies the copy completely
before anything is replaced: plain data only (no trigger, view, extra table, index or column), a
schema this version knows (an older one is upgraded on the copy, never on the live file),
integrity, foreign keys, an intact audit chain and every row matching its seal; the rules cache
of the copy is dropped (derived data is rebuilt, never trusted); the restore is recorded in the
copy before it goes live, and the replaced file is kept beside it. Temporary copies left by a
killed backup or restore are removed by the next one. The SQLite file work itself is in
`persistence.sqlite_backup`.
A backup is "good" only once the copy has been written, flushed and checked.

The policy lives in `backup.toml` in the user's config folder:

    folder = "/srv/clinic-backups"   # default: the backups folder of app_paths()
    keep_daily = 7
    keep_monthly = 12
    warn_after_days = 3
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine

from poems_monitor.config import app_paths
from poems_monitor.i18n import tr
from poems_monitor.persistence import sqlite_backup
from poems_monitor.persistence.db import Database, open_database
from poems_monitor.persistence.sqlite_backup import SqliteFileError
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import Changes
from poems_monitor.services.integrity import check

POLICY_FILE = "backup.toml"
STATE_FILE = ".last-good-backup.json"
_AUTO_NAME = re.compile(r"^(?P<stem>.+)-(?P<day>\d{4}-\d{2}-\d{2})\.sqlite$")
_REPLACED_NAME = re.compile(r"^(?P<stem>.+)\.replaced-(?P<day>\d{8})-\d{6}\.[^.]+$")


class BackupRefused(Exception):
    """A backup or restore that was not done; the message says why and that nothing changed."""


@dataclass(frozen=True)
class BackupPolicy:
    folder: Path
    keep_daily: int = 7
    keep_monthly: int = 12
    warn_after_days: int = 3


@dataclass(frozen=True)
class BackupResult:
    path: Path
    at: datetime
    size: int


@dataclass(frozen=True)
class RestoreResult:
    restored_from: Path
    replaced_kept_as: Path | None  # None when there was no database to replace
    method: str  # "online" (backup API into the live file) or "file swap" (the live file was damaged)
    changes: Changes = field(default_factory=Changes.everything, compare=False, repr=False)  # the whole record


def load_policy() -> BackupPolicy:
    """The workstation's backup policy (`backup.toml` in the config folder), with defaults."""
    paths = app_paths()
    values: dict = {}
    policy_path = paths.config / POLICY_FILE
    if policy_path.exists():
        try:
            values = tomllib.loads(policy_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            values = {}  # an unreadable policy must not stop backups: the defaults apply
    folder = Path(str(values.get("folder") or paths.backups)).expanduser()

    def positive(key: str, default: int) -> int:
        value = values.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default

    return BackupPolicy(folder, positive("keep_daily", 7), positive("keep_monthly", 12), positive("warn_after_days", 3))


def save_policy(policy: BackupPolicy) -> Path:
    """Write the policy file (for the settings dialog)."""
    path = app_paths().config / POLICY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"folder = {json.dumps(str(policy.folder))}\nkeep_daily = {int(policy.keep_daily)}\n"
        f"keep_monthly = {int(policy.keep_monthly)}\nwarn_after_days = {int(policy.warn_after_days)}\n",
        encoding="utf-8",
    )
    return path


def backup_set_folder(db_path: Path, policy: BackupPolicy | None = None) -> Path:
    """The folder of one database's automatic backups: `<file stem>-<8 hex>` in the backup
    folder, the hex being the start of the SHA-256 of the database's absolute path. Two clinics'
    files of the same name (two `clinic.sqlite` in different folders) get separate sets and never
    rotate or overwrite each other's backups; the name still says whose backups they are. Found
    again from the path alone, so a database too damaged to open still finds its backups."""
    policy = policy or load_policy()
    path = Path(db_path).expanduser().resolve()
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:8]
    return policy.folder / f"{path.stem}-{digest}"


def _require_sqlite_file(db: Database, what: str) -> Path:
    if db.path is None:
        raise BackupRefused(tr(
            "{what} works on an SQLite database file; a shared server database is backed up and restored with "
            "the server's own tools (for PostgreSQL: pg_dump and pg_restore)").format(what=what))
    return db.path


# ---------------------------------------------------------------------------------------------
# Backup
# ---------------------------------------------------------------------------------------------

def _verified_copy(db: Database, dest: Path) -> BackupResult:
    """Copy the live database to `dest` and check the copy; a bad copy is deleted and refused."""
    dest = Path(dest).expanduser()
    if dest.resolve() == _require_sqlite_file(db, tr("Backup")).resolve():
        raise BackupRefused(tr("The backup file cannot be the database itself"))
    unfit = sqlite_backup.regular_file_problem(dest)
    if unfit is not None:
        raise BackupRefused(tr("{file} cannot hold a backup: {reason}; nothing was written").format(file=dest, reason=unfit))
    if not dest.parent.is_dir():
        raise BackupRefused(tr("The folder {folder} does not exist; nothing was written").format(folder=dest.parent))
    sqlite_backup.sweep_stale_temporaries(dest.parent)
    tmp = sqlite_backup.temporary_path_beside(dest, "verify")
    try:
        try:
            sqlite_backup.online_copy(db, tmp)
        except (OSError, SqliteFileError) as exc:
            raise BackupRefused(tr("The backup could not be written to {file}: {error}").format(
                file=dest, error=getattr(exc, "strerror", None) or exc)) from None
        problems = _problems_of_file(tmp)
        if problems:
            raise BackupRefused(tr("The copy failed its check, so no backup was made: {problems}").format(
                problems="; ".join(problems)))
        head = _head_of_file(tmp)
        os.replace(tmp, dest)
    finally:
        sqlite_backup.remove_with_side_files(tmp)
    at = utcnow()
    _remember_good_backup(db, dest, at, head)
    return BackupResult(dest, at, dest.stat().st_size)


def backup_to(db: Database, actor: Actor, dest: Path) -> BackupResult:
    """`poems-monitor backup FILE`: a consistent, checked copy of the live database (admin)."""
    require(actor, Permission.BACKUP)
    result = _verified_copy(db, dest)
    with db.write() as session:
        AuditWriter(session, actor.name).append("backup", "database", new={"file": result.path.name})
    return result


def automatic_backup(db: Database, policy: BackupPolicy | None = None, now: datetime | None = None,
                     *, force: bool = False) -> BackupResult | None:
    """The app's backup on close (and at most daily): into the policy folder, then rotation.

    Made for whoever is signed in (it is the system's duty, not a user's choice). Returns None
    when today's backup exists already (unless `force`) or the database is not an SQLite file.
    """
    if db.path is None:
        return None
    policy = policy or load_policy()
    now = now or utcnow()
    day = now.astimezone().date()
    folder = backup_set_folder(db.path, policy)
    dest = folder / f"{db.path.stem}-{day.isoformat()}.sqlite"
    if dest.exists() and not force:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    result = _verified_copy(db, dest)
    rotate(folder, db.path.stem, policy.keep_daily, policy.keep_monthly)
    return result


def automatic_backups(folder: Path, stem: str) -> list[tuple[date, Path]]:
    """The automatic backups of database `stem` in `folder`, newest first."""
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            m = _AUTO_NAME.match(path.name)
            if m and m["stem"] == stem:
                try:
                    found.append((date.fromisoformat(m["day"]), path))
                except ValueError:
                    continue
    return sorted(found, reverse=True)


def rotate(folder: Path, stem: str, keep_daily: int = 7, keep_monthly: int = 12) -> list[Path]:
    """Delete automatic backups beyond the newest `keep_daily` ones and the newest one of each of
    the last `keep_monthly` months that have a backup. Touches only files named like automatic
    backups of `stem`; a backup written with `backup FILE` elsewhere is never deleted.
    Returns the deleted files."""
    return _thin_out(automatic_backups(folder, stem), keep_daily, keep_monthly)


def replaced_copies(folder: Path, stem: str) -> list[tuple[date, Path]]:
    """The `<stem>.replaced-<time>` copies that restores kept in `folder`, newest first."""
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            m = _REPLACED_NAME.match(path.name)
            if m and m["stem"] == stem:
                try:
                    found.append((datetime.strptime(m["day"], "%Y%m%d").date(), path))
                except ValueError:
                    continue
    return sorted(found, key=lambda f: (f[0], f[1].name), reverse=True)


def _thin_out(backups: list[tuple[date, Path]], keep_daily: int, keep_monthly: int) -> list[Path]:
    keep = {path for _, path in backups[:keep_daily]}
    months_seen: list[tuple[int, int]] = []
    for day, path in backups:  # newest first: the first of each month seen is its newest
        month = (day.year, day.month)
        if month not in months_seen:
            months_seen.append(month)
            if len(months_seen) <= keep_monthly:
                keep.add(path)
    deleted = []
    for _, path in backups:
        if path not in keep:
            sqlite_backup.remove_with_side_files(path)
            deleted.append(path)
    return deleted


def _state_path(policy: BackupPolicy) -> Path:
    return policy.folder / STATE_FILE


def _head_of_file(path: Path) -> tuple[int, str] | None:
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT id, hash FROM audit_entry ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _remember_good_backup(db: Database, dest: Path, at: datetime, head: tuple[int, str] | None = None) -> None:
    policy = load_policy()
    try:
        policy.folder.mkdir(parents=True, exist_ok=True)
        state_path = _state_path(policy)
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            if not isinstance(state, dict):
                state = {}
        except (OSError, ValueError):
            state = {}
        state[str(db.path)] = {"at": at.isoformat(), "file": str(dest)}
        if head is not None:  # the copy's chain head: a later change to the file is seen at restore
            state[str(db.path)].update(entry=head[0], hash=head[1])
            heads = state.setdefault("heads", {})
            if isinstance(heads, dict):  # a second record of the live chain's head, away from the database
                heads[str(db.path)] = {"entry": head[0], "hash": head[1]}
            catalogue = state.setdefault("backups", {})
            if isinstance(catalogue, dict):
                for name in [n for n in catalogue if not Path(n).exists()]:
                    del catalogue[name]  # rotated away or deleted
                catalogue[str(dest.resolve())] = {"entry": head[0], "hash": head[1], "at": at.isoformat()}
        tmp = state_path.with_name(state_path.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, state_path)
    except OSError:
        pass  # the backup itself is good; only the reminder of it is lost


def catalogued_head(db_path: Path) -> tuple[int, str] | None:
    """The chain head the backup catalogue recorded for the database at `db_path` at its last
    backup or restore: the live chain must still hold it. None when there is none."""
    try:
        state = json.loads(_state_path(load_policy()).read_text(encoding="utf-8"))
        head = state["heads"][str(Path(db_path))]
        return int(head["entry"]), str(head["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _catalogue_head(db_path: Path, head: tuple[int, str]) -> None:
    """Record `head` as the database's head in the catalogue (after a restore moved it back)."""
    policy = load_policy()
    try:
        state = json.loads(_state_path(policy).read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            state = {}
    except (OSError, ValueError):
        state = {}
    if not isinstance(state.get("heads"), dict):
        state["heads"] = {}
    state["heads"][str(Path(db_path))] = {"entry": head[0], "hash": head[1]}
    try:
        policy.folder.mkdir(parents=True, exist_ok=True)
        tmp = _state_path(policy).with_name(_state_path(policy).name + ".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, _state_path(policy))
    except OSError:
        pass


def last_good_backup(db: Database, policy: BackupPolicy | None = None) -> tuple[datetime, Path] | None:
    """When and where the newest good backup of this database was made (automatic or manual)."""
    if db.path is None:
        return None
    policy = policy or load_policy()
    candidates: list[tuple[datetime, Path]] = []
    try:
        state = json.loads(_state_path(policy).read_text(encoding="utf-8"))
        entry = state.get(str(db.path)) if isinstance(state, dict) else None
        if entry and Path(entry["file"]).exists():
            candidates.append((datetime.fromisoformat(entry["at"]), Path(entry["file"])))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for _, path in automatic_backups(backup_set_folder(db.path, policy), db.path.stem)[:1]:
        candidates.append((datetime.fromtimestamp(path.stat().st_mtime, timezone.utc), path))
    return max(candidates, key=lambda c: c[0]) if candidates else None


def last_good_backup_age(db: Database, policy: BackupPolicy | None = None, now: datetime | None = None) -> timedelta | None:
    """How old the newest good backup is; None when there is none (the UI warns then, too)."""
    found = last_good_backup(db, policy)
    if found is None:
        return None
    return (now or utcnow()) - found[0]


def backup_warning(db: Database, policy: BackupPolicy | None = None, now: datetime | None = None) -> str | None:
    """The sentence the window shows when backups have stopped, or None when they are recent."""
    if db.path is None:
        return None
    policy = policy or load_policy()
    age = last_good_backup_age(db, policy, now)
    if age is None:
        return tr("This database has never been backed up. Make a backup now (File > Back up).")
    if age > timedelta(days=policy.warn_after_days):
        return tr("The last good backup is {days} days old. Check the backup folder {folder}.").format(
            days=age.days, folder=backup_set_folder(db.path, policy))
    return None


def newest_good_backup(db_path: Path, policy: BackupPolicy | None = None) -> Path | None:
    """The newest backup of the database at `db_path` that passes every check: what the app offers
    when the database is found damaged at start."""
    policy = policy or load_policy()
    for _, path in automatic_backups(backup_set_folder(db_path, policy), Path(db_path).stem):
        if not _problems_of_file(path):
            return path
    return None


# ---------------------------------------------------------------------------------------------
# Checks of a file that is not open
# ---------------------------------------------------------------------------------------------

def _problems_of_file(path: Path) -> list[str]:
    """Every reason `path` is not a sound poems-monitor database this version can open.

    The file is opened read-only (SQLite URI mode=ro), so checking a backup never changes it."""
    path = Path(path)
    if not sqlite_backup.looks_like_sqlite(path):
        return [tr("{file} is not an SQLite database file").format(file=path.name)]
    url = f"sqlite:///{path.resolve().as_uri()}?mode=ro&uri=true"
    engine = create_engine(url)
    try:
        return check(Database(engine=engine, url=url))
    except Exception as exc:  # noqa: BLE001 (a damaged file fails in many ways)
        return [tr("{file} cannot be read: {error}").format(file=path.name, error=sqlite_backup.plain_error(exc))]
    finally:
        engine.dispose()


def problems_of_backup_file(path: Path) -> list[str]:
    """What is wrong with a backup file, as sentences (empty: it can be restored)."""
    return _problems_of_file(path)


# ---------------------------------------------------------------------------------------------
# Restore
# ---------------------------------------------------------------------------------------------

def _refuse(source: Path, problems: list[str]) -> BackupRefused:
    return BackupRefused(tr("{file} was not restored, because the copy failed its check: {problems}. "
                            "Nothing was changed.").format(file=source.name, problems="; ".join(problems)))


def _catalogued_head_problem(source: Path) -> str | None:
    """A backup this workstation made must still end where it ended when it was made."""
    try:
        state = json.loads(_state_path(load_policy()).read_text(encoding="utf-8"))
        known = state["backups"][str(source.resolve())]
        entry, digest = int(known["entry"]), str(known["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    head = _head_of_file(source)
    if head is not None and head[0] >= entry:
        conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT hash FROM audit_entry WHERE id = ?", (entry,)).fetchone()
        except sqlite3.Error:
            row = None
        finally:
            conn.close()
        if row is not None and row[0] == digest:
            return None
    return tr("its audit trail no longer ends at entry {entry}, where it ended when this workstation made it: the "
              "file was changed after the backup").format(entry=entry)


def _prepare_copy(source: Path, staged: Path, actor: Actor, record: dict) -> tuple[int, str]:
    """Check the staged copy before and after bringing its schema up to date, drop its derived
    data and record the restore in it. Raises BackupRefused naming every problem."""
    from sqlalchemy import delete

    from poems_monitor.models import RulesCache
    from poems_monitor.persistence.db import DatabaseError, known_revisions

    require(actor, Permission.RESTORE)
    # Before anything runs on the copy (a migration would fire its triggers): plain data only,
    # and a schema revision this version knows.
    problems = sqlite_backup.file_schema_problems(staged, exact=False)
    revisions, head = known_revisions()
    revision = sqlite_backup.file_revision(staged)
    if not problems and revision is None:
        problems = [tr("the schema revision is not recorded")]
    elif not problems and revision not in revisions:
        problems = [tr("the schema revision {found} is not one this poems-monitor knows (up to {head})").format(
            found=revision, head=head)]
    if problems:
        raise _refuse(source, problems)
    if revision != head:
        try:
            upgraded = open_database(staged)  # the copy, never the live file
            upgraded.dispose()
        except (DatabaseError, Exception) as exc:  # noqa: BLE001 (a file lying about its schema fails anywhere)
            raise _refuse(source, [tr("its schema {found} could not be brought up to date: {error}").format(
                found=revision, error=sqlite_backup.plain_error(exc))]) from None
    problems = _problems_of_file(staged)
    if problems:
        raise _refuse(source, problems)
    copy = open_database(staged, migrate=False)
    try:
        with copy.write() as session:
            session.execute(delete(RulesCache.__table__))  # derived data: rebuilt, never trusted
            AuditWriter(session, actor.name).append("restore", "database", reason=tr("restore of a backup"), new=record)
        head_entry = _head_of_database(copy)
    finally:
        copy.dispose()
    return head_entry


def _head_of_database(db: Database) -> tuple[int, str]:
    from sqlalchemy import select

    from poems_monitor.models import AuditEntry

    with db.read() as session:
        row = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).one()
    return row[0], row[1]


def restore_from(target_path: Path, actor: Actor, source: Path, now: datetime | None = None) -> RestoreResult:
    """Replace the database at `target_path` by the backup `source` (admin only).

    The backup is copied beside the target and the copy is checked (and, if its schema is older,
    upgraded and checked again) first; if anything is wrong nothing is replaced and
    BackupRefused says why. Otherwise the restore is recorded in the copy's audit trail, the
    current database is kept as `<name>.replaced-<time>.sqlite` beside it (these copies are
    rotated like the automatic backups), and the copy takes its place.
    """
    from poems_monitor.services.audit import read_head_file, write_head_file

    require(actor, Permission.RESTORE)
    target_path, source = Path(target_path).expanduser().resolve(), Path(source).expanduser()
    if not source.exists():
        raise BackupRefused(tr("{file} does not exist; nothing was changed").format(file=source))
    unfit = sqlite_backup.regular_file_problem(source)
    if unfit is not None:
        raise BackupRefused(tr("{file} cannot be restored: {reason}; nothing was changed").format(file=source, reason=unfit))
    if source.resolve() == target_path:
        raise BackupRefused(tr("{file} is the database itself; nothing was changed").format(file=source))
    unfit = sqlite_backup.regular_file_problem(target_path)
    if unfit is not None:
        raise BackupRefused(tr("{file} cannot be replaced: {reason}; nothing was changed").format(
            file=target_path, reason=unfit))
    sqlite_backup.sweep_stale_temporaries(target_path.parent)
    forged = _catalogued_head_problem(source) if sqlite_backup.looks_like_sqlite(source) else None
    if forged:
        raise _refuse(source, [forged])
    stamp = (now or utcnow()).astimezone().strftime("%Y%m%d-%H%M%S")
    keep = target_path.with_name(f"{target_path.stem}.replaced-{stamp}{target_path.suffix or '.sqlite'}")
    existed = target_path.exists()
    staged = sqlite_backup.temporary_path_beside(target_path, "restore")
    try:
        try:
            sqlite_backup.copy_file_database(source, staged)
        except SqliteFileError:
            raise BackupRefused(tr("{file} is not a readable poems-monitor backup; nothing was changed").format(
                file=source.name)) from None
        except OSError as exc:
            raise BackupRefused(tr("{file} cannot be copied: {error}; nothing was changed").format(
                file=source.name, error=exc.strerror or exc)) from None
        method_hint = {"from": source.name, "replaced_file_kept_as": keep.name if existed else None}
        new_head = _prepare_copy(source, staged, actor, method_hint)
        try:
            old_heads = read_head_file(target_path) or []
        except ValueError:
            old_heads = []
        # A kill between here and the head's final write leaves a record that fits either file.
        write_head_file(target_path, *new_head, force=True, alternative=old_heads[0] if old_heads else None)
        try:
            method = sqlite_backup.restore_into_live(staged, target_path, keep)
        except SqliteFileError as exc:
            if old_heads:
                write_head_file(target_path, *old_heads[0], force=True)
            raise BackupRefused(str(exc)) from None
    finally:
        sqlite_backup.remove_with_side_files(staged)
    write_head_file(target_path, *new_head, force=True)
    _catalogue_head(target_path, new_head)
    policy = load_policy()
    rotate_replaced(target_path, policy)
    return RestoreResult(source, keep if existed else None, method)


def rotate_replaced(target_path: Path, policy: BackupPolicy | None = None) -> list[Path]:
    """Thin out the `*.replaced-*` copies beside the database by the backup policy's rule."""
    policy = policy or load_policy()
    return _thin_out(replaced_copies(Path(target_path).parent, Path(target_path).stem),
                     policy.keep_daily, policy.keep_monthly)
