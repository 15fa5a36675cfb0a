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
`persistence.sqlite_backup`. A database on a PostgreSQL server gets the same policy (its own
backup set named by `database_key`, rotation, catalogue with the chain head) for checked pg_dump
files, and is restored into an empty database only: `services.server_backup` does that work.
A backup is "good" only once the copy has been written, flushed and checked.

The policy lives in `backup.toml` in the user's config folder:

    folder = "/srv/clinic-backups"   # default: the backups folder of app_paths()
    keep_daily = 7
    keep_monthly = 12
    warn_after_days = 3
    server_backups = false           # this workstation makes the daily backup of a server database

A server database is shared by every workstation of the clinic, so its daily backup on close is
made only by a workstation whose policy says `server_backups = true`, and only when an
administrator closes it (see `makes_daily_backup`); five workstations do not dump it five times.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
from poems_monitor.services.progress import Cancelled, Progress

POLICY_FILE = "backup.toml"
STATE_FILE = ".last-good-backup.json"
_AUTO_NAME = re.compile(r"^(?P<stem>.+)-(?P<day>\d{4}-\d{2}-\d{2})\.(?:sqlite|pgdump)$")
SERVER_DUMP_SUFFIX = ".pgdump"  # a server database's backups: pg_dump's custom format
_REPLACED_NAME = re.compile(r"^(?P<stem>.+)\.replaced-(?P<day>\d{8})-\d{6}\.[^.]+$")


class BackupRefused(Exception):
    """A backup or restore that was not done; the message says why and that nothing changed."""


@dataclass(frozen=True)
class BackupPolicy:
    folder: Path
    keep_daily: int = 7
    keep_monthly: int = 12
    warn_after_days: int = 3
    server_backups: bool = False  # this workstation makes the daily backup of a server database


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

    return BackupPolicy(folder, positive("keep_daily", 7), positive("keep_monthly", 12), positive("warn_after_days", 3),
                        values.get("server_backups") is True)


def save_policy(policy: BackupPolicy) -> Path:
    """Write the policy file (for the settings dialog)."""
    path = app_paths().config / POLICY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"folder = {json.dumps(str(policy.folder))}\nkeep_daily = {int(policy.keep_daily)}\n"
        f"keep_monthly = {int(policy.keep_monthly)}\nwarn_after_days = {int(policy.warn_after_days)}\n"
        f"server_backups = {'true' if policy.server_backups else 'false'}\n",
        encoding="utf-8",
    )
    return path


def database_key(db: Database) -> str:
    """What names a database in the backup catalogue: an SQLite file's path, or a server
    database's `postgresql://host:port/name` (no login, no password: every workstation and every
    login of one clinic database share its backups)."""
    if db.path is not None:
        return str(db.path)
    url = db.engine.url
    return f"{url.get_backend_name()}://{url.host or 'localhost'}:{url.port or 5432}/{url.database}"


def _stem_of(key: str | Path) -> str:
    text_key = str(key)
    return text_key.rsplit("/", 1)[-1] if "://" in text_key else Path(text_key).stem


def backup_set_folder(db_path: Path | str, policy: BackupPolicy | None = None) -> Path:
    """The folder of one database's automatic backups: `<file stem>-<8 hex>` in the backup
    folder, the hex being the start of the SHA-256 of the database's absolute path. Two clinics'
    files of the same name (two `clinic.sqlite` in different folders) get separate sets and never
    rotate or overwrite each other's backups; the name still says whose backups they are. Found
    again from the path alone, so a database too damaged to open still finds its backups."""
    policy = policy or load_policy()
    if "://" in str(db_path):  # a server database (database_key): its name and the server's address
        digest = hashlib.sha256(str(db_path).encode("utf-8")).hexdigest()[:8]
        return policy.folder / f"{_stem_of(db_path)}-{digest}"
    path = Path(db_path).expanduser().resolve()
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:8]
    return policy.folder / f"{path.stem}-{digest}"


def _require_sqlite_file(db: Database, what: str) -> Path:
    if db.path is None:
        raise BackupRefused(tr(
            "{what} works on an SQLite database file or a PostgreSQL server database; an in-memory database "
            "has no file to copy").format(what=what))
    return db.path


# ---------------------------------------------------------------------------------------------
# Backup
# ---------------------------------------------------------------------------------------------

def temporary_beside_destination(dest: Path, tag: str) -> Path:
    """A new temporary file beside `dest`, where a backup is written and checked before it is
    renamed to `dest`; BackupRefused when `dest` cannot be a file (a folder, a device, a pipe) or
    its folder does not exist. Temporaries that killed backups left there are swept first."""
    unfit = sqlite_backup.regular_file_problem(dest)
    if unfit is not None:
        raise BackupRefused(tr("{file} cannot hold a backup: {reason}; nothing was written").format(file=dest, reason=unfit))
    if not dest.parent.is_dir():
        raise BackupRefused(tr("The folder {folder} does not exist; nothing was written").format(folder=dest.parent))
    sqlite_backup.sweep_stale_temporaries(dest.parent)
    return sqlite_backup.temporary_path_beside(dest, tag)


def _verified_copy(db: Database, dest: Path, progress: Progress | None = None) -> BackupResult:
    """Copy the live database to `dest` and check the copy; a bad copy is deleted and refused.
    `progress` is told the copy, then the check's steps (an SQLite file; a server dump reports none)."""
    dest = Path(dest).expanduser()
    if not db.is_sqlite:
        return _verified_server_dump(db, dest)
    if dest.resolve() == _require_sqlite_file(db, tr("Backup")).resolve():
        raise BackupRefused(tr("The backup file cannot be the database itself"))
    tmp = temporary_beside_destination(dest, "verify")
    try:
        try:
            if progress is not None:
                progress(tr("Copying the clinic database…"), 0, 0)
            sqlite_backup.online_copy(db, tmp)
        except (OSError, SqliteFileError) as exc:
            raise BackupRefused(tr("The backup could not be written to {file}: {error}").format(
                file=dest, error=getattr(exc, "strerror", None) or exc)) from None
        problems = _problems_of_file(tmp, progress)
        if problems:
            raise BackupRefused(tr("The copy failed its check, so no backup was made: {problems}").format(
                problems="; ".join(problems)))
        head = sqlite_backup.file_audit_head(tmp)
        os.replace(tmp, dest)
    finally:
        sqlite_backup.remove_with_side_files(tmp)
    at = utcnow()
    _remember_good_backup(db, dest, at, head)
    return BackupResult(dest, at, dest.stat().st_size)


def _verified_server_dump(db: Database, dest: Path) -> BackupResult:
    """A server database's backup: a checked pg_dump (`services.server_backup`), catalogued."""
    from poems_monitor.services import server_backup

    head = server_backup.dump_verified(db, dest)
    at = utcnow()
    _remember_good_backup(db, dest, at, head)
    return BackupResult(dest, at, dest.stat().st_size)


def backup_to(db: Database, actor: Actor, dest: Path, progress: Progress | None = None) -> BackupResult:
    """`poems-monitor backup FILE`: a consistent, checked copy of the live database (admin)."""
    require(actor, Permission.BACKUP)
    result = _verified_copy(db, dest, progress)
    with db.write() as session:
        AuditWriter(session, actor.name).append("backup", "database", new={"file": result.path.name})
    return result


def automatic_backup(db: Database, policy: BackupPolicy | None = None, now: datetime | None = None,
                     *, force: bool = False, progress: Progress | None = None) -> BackupResult | None:
    """The app's backup on close (and at most daily): into the policy folder, then rotation.

    Made for whoever is signed in (it is the system's duty, not a user's choice). Returns None
    when today's backup exists already (unless `force`). A server database gets a pg_dump file
    (`<database>-<day>.pgdump`) in its own set, rotated by the same rule.
    """
    if db.is_sqlite and db.path is None:
        return None  # an in-memory database: nothing to keep
    policy = policy or load_policy()
    folder, stem, dest = _daily_target(db, policy, now)
    if dest.exists() and not force:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    result = _verified_copy(db, dest, progress)
    rotate(folder, stem, policy.keep_daily, policy.keep_monthly)
    return result


def _daily_target(db: Database, policy: BackupPolicy, now: datetime | None = None) -> tuple[Path, str, Path]:
    """The backup set's folder, the database's stem and today's automatic backup file."""
    day = (now or utcnow()).astimezone().date()
    key = database_key(db)
    stem = _stem_of(key)
    folder = backup_set_folder(key, policy)
    return folder, stem, folder / f"{stem}-{day.isoformat()}{'.sqlite' if db.is_sqlite else SERVER_DUMP_SUFFIX}"


def daily_backup_due(db: Database, policy: BackupPolicy | None = None, now: datetime | None = None) -> bool:
    """Whether `automatic_backup` would write today's backup now (none made yet today): a
    window closes at once when it would not."""
    if db.is_sqlite and db.path is None:
        return False
    return not _daily_target(db, policy or load_policy(), now)[2].exists()


def makes_daily_backup(db: Database, actor: Actor, policy: BackupPolicy | None = None) -> bool:
    """Whether the app makes `automatic_backup` of `db` when this workstation's window closes.

    Always for an SQLite file (whoever is signed in). For a server database, which every
    workstation shares, only where this workstation's policy says `server_backups = true` and the
    signed-in login may back up (an administrator's): the dump is checked by restoring it into a
    scratch database, which only an administrator login may create, and one workstation looking
    after the server is enough. An in-memory database: never."""
    if db.is_sqlite:
        return db.path is not None
    return (policy or load_policy()).server_backups and actor.may(Permission.BACKUP)


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
        key = database_key(db)
        state[key] = {"at": at.isoformat(), "file": str(dest)}
        if head is not None:  # the copy's chain head: a later change to the file is seen at restore
            state[key].update(entry=head[0], hash=head[1])
            heads = state.setdefault("heads", {})
            if isinstance(heads, dict):  # a second record of the live chain's head, away from the database
                heads[key] = {"entry": head[0], "hash": head[1]}
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


def catalogued_head(db_path: Path | str) -> tuple[int, str] | None:
    """The chain head the backup catalogue recorded for the database at `db_path` (or the server
    database `database_key` names) at its last backup or restore: the live chain must still hold
    it. None when there is none."""
    try:
        state = json.loads(_state_path(load_policy()).read_text(encoding="utf-8"))
        head = state["heads"][str(db_path) if "://" in str(db_path) else str(Path(db_path))]
        return int(head["entry"]), str(head["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _catalogue_head(db_path: Path | str, head: tuple[int, str]) -> None:
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
    key = str(db_path) if "://" in str(db_path) else str(Path(db_path))
    state["heads"][key] = {"entry": head[0], "hash": head[1]}
    try:
        policy.folder.mkdir(parents=True, exist_ok=True)
        tmp = _state_path(policy).with_name(_state_path(policy).name + ".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, _state_path(policy))
    except OSError:
        pass


def last_good_backup(db: Database, policy: BackupPolicy | None = None) -> tuple[datetime, Path] | None:
    """When and where the newest good backup of this database was made (automatic or manual)."""
    policy = policy or load_policy()
    key = database_key(db)
    candidates: list[tuple[datetime, Path]] = []
    try:
        state = json.loads(_state_path(policy).read_text(encoding="utf-8"))
        entry = state.get(key) if isinstance(state, dict) else None
        if entry and Path(entry["file"]).exists():
            candidates.append((datetime.fromisoformat(entry["at"]), Path(entry["file"])))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for _, path in automatic_backups(backup_set_folder(key, policy), _stem_of(key))[:1]:
        candidates.append((datetime.fromtimestamp(path.stat().st_mtime, timezone.utc), path))
    return max(candidates, key=lambda c: c[0]) if candidates else None


def last_good_backup_age(db: Database, policy: BackupPolicy | None = None, now: datetime | None = None) -> timedelta | None:
    """How old the newest good backup is; None when there is none (the UI warns then, too)."""
    found = last_good_backup(db, policy)
    if found is None:
        return None
    return (now or utcnow()) - found[0]


def backup_warning(db: Database, policy: BackupPolicy | None = None, now: datetime | None = None) -> str | None:
    """The sentence the window shows when backups have stopped, or None when they are recent (a
    server database's backups are found in the catalogue by `database_key`). None for an
    in-memory database."""
    if db.is_sqlite and db.path is None:
        return None
    policy = policy or load_policy()
    age = last_good_backup_age(db, policy, now)
    if age is None:
        return tr("This database has never been backed up. Make a backup now (File > Back up).")
    if age > timedelta(days=policy.warn_after_days):
        return tr("The last good backup is {days} days old. Check the backup folder {folder}.").format(
            days=age.days, folder=backup_set_folder(database_key(db), policy))
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

def _problems_of_file(path: Path, progress: Progress | None = None) -> list[str]:
    """Every reason `path` is not a sound poems-monitor database this version can open.

    The file is opened read-only (SQLite URI mode=ro), so checking a backup never changes it."""
    path = Path(path)
    if not sqlite_backup.looks_like_sqlite(path):
        if _is_server_dump(path):
            return [tr("{file} is a PostgreSQL dump (pg_dump), not an SQLite database file: restore it into an empty "
                       "server database (--db postgresql+psycopg://USER@HOST/DATABASE)").format(file=path.name)]
        return [tr("{file} is not an SQLite database file").format(file=path.name)]
    url = f"sqlite:///{path.resolve().as_uri()}?mode=ro&uri=true"
    engine = create_engine(url)
    try:
        # The copy's rules cache is not checked: a restore drops it (derived data, rebuilt), and
        # `check` of the live database is what finds an edited cache.
        return check(Database(engine=engine, url=url), rules_cache=False, progress=progress)
    except Cancelled:
        raise  # the person asked to stop: not a finding about the file
    except Exception as exc:  # noqa: BLE001 (a damaged file fails in many ways)
        return [tr("{file} cannot be read: {error}").format(file=path.name, error=sqlite_backup.plain_error(exc))]
    finally:
        engine.dispose()


def _is_server_dump(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(5) == b"PGDMP"  # pg_dump's custom format
    except OSError:
        return False


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
    head = sqlite_backup.file_audit_head(source)
    if head is not None and head[0] >= entry and sqlite_backup.file_audit_hash(source, entry) == digest:
        return None
    return tr("its audit trail no longer ends at entry {entry}, where it ended when this workstation made it: the "
              "file was changed after the backup").format(entry=entry)


def _prepare_copy(source: Path, staged: Path, actor: Actor, record: dict,
                  progress: Progress | None = None) -> tuple[int, str]:
    """Check the staged copy before and after bringing its schema up to date, drop its derived
    data and record the restore in it. Raises BackupRefused naming every problem; `progress` is
    told the check's steps (a Cancelled it raises propagates: only the staged copy was touched)."""
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
    problems = _problems_of_file(staged, progress)
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
    """The chain head (id, hash) of a database that has just recorded an entry."""
    from poems_monitor.persistence.repositories import audit as audit_trail

    with db.read() as session:
        head = audit_trail.newest_entry(session)
    return head.id, head.hash


def restore_from(target_path: Path, actor: Actor, source: Path, now: datetime | None = None,
                 progress: Progress | None = None) -> RestoreResult:
    """Replace the database at `target_path` by the backup `source` (admin only).

    The backup is copied beside the target and the copy is checked (and, if its schema is older,
    upgraded and checked again) first; if anything is wrong nothing is replaced and
    BackupRefused says why. Otherwise the restore is recorded in the copy's audit trail, the
    current database is kept as `<name>.replaced-<time>.sqlite` beside it (these copies are
    rotated like the automatic backups), and the copy takes its place.

    `progress` is told the copy, the check's steps, then the replacement. Until the check has
    passed, a `Cancelled` it raises stops the restore with nothing changed (the staged copy is
    removed); once the live file is being replaced a cancel is ignored (never half a restore).
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
        if progress is not None:
            progress(tr("Copying the backup…"), 0, 0)
        try:
            sqlite_backup.copy_file_database(source, staged)
        except SqliteFileError:
            raise BackupRefused(tr("{file} is not a readable poems-monitor backup; nothing was changed").format(
                file=source.name)) from None
        except OSError as exc:
            raise BackupRefused(tr("{file} cannot be copied: {error}; nothing was changed").format(
                file=source.name, error=exc.strerror or exc)) from None
        method_hint = {"from": source.name, "replaced_file_kept_as": keep.name if existed else None}
        new_head = _prepare_copy(source, staged, actor, method_hint, progress)
        if progress is not None:
            try:  # from here on the live file changes: a cancel asked now is too late
                progress(tr("Replacing the database by the checked copy…"), 0, 0)
            except Cancelled:
                pass
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


def _catalogued_backup(source: Path) -> tuple[int, str] | None:
    """The chain head the catalogue recorded for the backup file `source` when this workstation
    made it, or None when it did not make it."""
    try:
        state = json.loads(_state_path(load_policy()).read_text(encoding="utf-8"))
        known = state["backups"][str(Path(source).resolve())]
        return int(known["entry"]), str(known["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def restore_server_database(db: Database, actor: Actor, source: Path) -> RestoreResult:
    """Restore the pg_dump file `source` into the EMPTY server database `db` (admin only): the
    dump is read and refused before any of it runs when it holds anything but poems-monitor's
    schema, and checked after; a refused restore leaves the database empty
    (`services.server_backup`). A server database with tables is never overwritten."""
    from poems_monitor.services import server_backup

    require(actor, Permission.RESTORE)
    source = Path(source).expanduser()
    if not source.exists():
        raise BackupRefused(tr("{file} does not exist; nothing was changed").format(file=source))
    unfit = sqlite_backup.regular_file_problem(source)
    if unfit is not None:
        raise BackupRefused(tr("{file} cannot be restored: {reason}; nothing was changed").format(file=source, reason=unfit))
    if sqlite_backup.looks_like_sqlite(source):
        raise BackupRefused(tr("{file} is an SQLite backup; to move an SQLite clinic to a server, restore it into a "
                               "file and use `poems-monitor migrate --to URL`; nothing was changed").format(file=source.name))
    head = server_backup.restore_into_empty(db, actor.name, source, _catalogued_backup(source), {"from": source.name})
    _catalogue_head(database_key(db), head)
    return RestoreResult(source, None, "pg_restore")


def rotate_replaced(target_path: Path, policy: BackupPolicy | None = None) -> list[Path]:
    """Thin out the `*.replaced-*` copies beside the database by the backup policy's rule."""
    policy = policy or load_policy()
    return _thin_out(replaced_copies(Path(target_path).parent, Path(target_path).stem),
                     policy.keep_daily, policy.keep_monthly)
