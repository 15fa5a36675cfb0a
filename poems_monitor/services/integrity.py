"""`poems-monitor check`: is this clinic database sound?

Owns the list of checks and their sentences: the file's own structure and foreign keys (SQLite
integrity_check and foreign_key_check; on PostgreSQL the server guarantees these, and only the
foreign keys are re-checked by query); the schema (its revision, and on SQLite that it holds
nothing but poems-monitor's tables, columns and indexes: no trigger, view or extra table); the
audit trail's hash chain and its recorded head, in the database and in the file beside it (so
that removing the newest entries is noticed too); every row of the record against the digests
the chain sealed (`services.record_seal`), naming table, row and field; and the rules cache,
recomputed from the record (derived data is verified, never trusted). A backup's own check
leaves the rules cache out (`rules_cache=False`): a restore drops the copy's cache, so it could
not harm a restored clinic, and recomputing it costs as much as the rules from cold (half the
time of the daily backup on close of a 10,000-patient clinic). Returns plain sentences for the
person at the desk; an empty list means sound. Reads only, never repairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, inspect, select

from poems_monitor.i18n import ntr, tr
from poems_monitor.persistence import sqlite_backup
from poems_monitor.persistence.db import Database, current_revision, known_revisions
from poems_monitor.persistence.repositories import audit as audit_trail
from poems_monitor.persistence.repositories import clinic_settings
from poems_monitor.services import record_seal
from poems_monitor.services.audit import HEAD_SETTING_KEY, head_file, read_head_file, verify_chain
from poems_monitor.services.progress import Cancelled, Progress

EXPECTED_TABLES = ("patient", "visit", "observation", "feature_status", "exam", "treatment", "event", "app_user",
                   "audit_entry", "clinic_setting", "alembic_version")


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)  # each a sentence; empty: sound
    notes: list[str] = field(default_factory=list)  # what was checked, for the person who asked

    @property
    def sound(self) -> bool:
        return not self.problems


def check(db: Database, *, against_catalogue: bool = True, rules_cache: bool = True,
          progress: Progress | None = None) -> list[str]:
    """Every problem found in the database, as plain sentences; an empty list means sound.
    `against_catalogue=False`: a database being restored from an older backup, whose chain
    rightly lacks the head the catalogue recorded for the database it replaces.
    `rules_cache=False`: a backup copy, whose rules cache a restore drops unread.
    `progress`: told each step, and how many patients' records have been compared with their seal."""
    return check_report(db, against_catalogue=against_catalogue, rules_cache=rules_cache, progress=progress).problems


def check_report(db: Database, *, against_catalogue: bool = True, rules_cache: bool = True,
                 progress: Progress | None = None) -> CheckReport:
    report = CheckReport()
    step = progress or _silent
    if db.is_sqlite:
        step(tr("Checking the file structure…"), 0, 0)
        structure = sqlite_backup.structural_problems(db)
        report.problems.extend(structure)
        if any("cannot be read" in p for p in structure):
            return report  # the file is unreadable: the other checks would only repeat it
        report.notes.append(tr("file structure and foreign keys checked"))
    else:
        report.problems.extend(_foreign_key_orphans(db))
        report.notes.append(tr("foreign keys checked (the server guarantees the file structure)"))
        from poems_monitor.services.clinic_server import server_problems

        try:
            problems, notes = server_problems(db)
        except Exception as exc:  # noqa: BLE001 (a schema older than 0008 has no db_user: upgrade first)
            problems, notes = [], [tr("the server's guards were not checked: {error}").format(
                error=sqlite_backup.plain_error(exc))]
        report.problems.extend(problems)
        report.notes.extend(notes)

    try:
        schema_ok = _check_schema(db, report)
    except Exception as exc:  # noqa: BLE001 (a damaged file fails in many ways)
        report.problems.append(tr("the schema cannot be read: {error}").format(error=sqlite_backup.plain_error(exc)))
        return report
    if not schema_ok:
        return report
    try:
        _check_audit(db, report, against_catalogue, rules_cache, step)
    except Cancelled:
        raise  # the person asked to stop: not a finding about the file
    except Exception as exc:  # noqa: BLE001
        report.problems.append(tr("the audit trail cannot be read: {error}").format(error=sqlite_backup.plain_error(exc)))
    return report


def _check_schema(db: Database, report: CheckReport) -> bool:
    revisions, head = known_revisions()
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    missing = [t for t in EXPECTED_TABLES if t not in tables]
    if missing:
        report.problems.append(tr("tables are missing: {tables} (this is not a complete poems-monitor database)").format(
            tables=", ".join(missing)))
        return False
    current = current_revision(db.engine)
    if current is None:
        report.problems.append(tr("the schema revision is not recorded"))
        return False
    if current not in revisions:
        report.problems.append(tr("the schema revision {found} is newer than this poems-monitor knows (up to {head})").format(
            found=current, head=head))
        return False
    if db.is_sqlite:
        with db.engine.connect() as conn:
            objects = sqlite_backup.schema_object_problems(conn.exec_driver_sql, exact=current == head)
        # Named, and the other checks still run: a trigger does not hide what it has rewritten.
        report.problems.extend(tr("the schema is not poems-monitor's: {problem}").format(problem=p) for p in objects)
    if current != head:
        report.notes.append(tr("schema {found} is older than {head}; it is upgraded when the app opens it").format(
            found=current, head=head))
    else:
        report.notes.append(tr("schema revision {head} is current").format(head=head))
    return True


def _silent(what: str, done: int, total: int) -> None:
    """The progress of a check nobody watches."""


def _check_audit(db: Database, report: CheckReport, against_catalogue: bool, rules_cache: bool, step: Progress) -> None:
    states: dict[str, record_seal.SealedScope] = {}
    with db.read() as session:
        step(tr("Checking the audit trail…"), 0, 0)
        chain = verify_chain(session, states)
        report.problems.extend(p.message for p in chain)
        count = audit_trail.entry_count(session)
        last = audit_trail.newest_entry(session)
        recorded_head = clinic_settings.find_setting(session, HEAD_SETTING_KEY)
        anchor = recorded_head.value if recorded_head is not None else None
        if db.path is not None:
            _check_head_file(session, db.path, report)
            _check_catalogued_head(session, db.path, report)
        elif against_catalogue:  # a server database: its backups' catalogue still records where its chain was
            from poems_monitor.services.backup import database_key

            _check_catalogued_head(session, database_key(db), report)
        if states:
            compared = tr("Comparing each patient's record with its seal")
            differences = record_seal.verify(session, states, progress=lambda done, total: step(compared, done, total))
            report.problems.extend(differences)
            if not differences:
                report.notes.append(tr("every row of the record matches the audit trail ({n} scopes)").format(n=len(states)))
            cache_problems, verified = _check_rules_cache(session, step) if rules_cache else ([], 0)
            report.problems.extend(cache_problems)
            if verified and not cache_problems:
                report.notes.append(tr("{n} rules cache rows recomputed and equal").format(n=verified))
        elif count and record_seal.has_seal_tables(session):
            report.notes.append(tr("the record is not sealed yet (written by an older version): its rows are "
                                   "covered from the next change on"))
    if anchor is not None:
        anchor_id, _, anchor_hash = anchor.partition(":")
        if last is None or f"{last.id}:{last.hash}" != anchor:
            newest = tr("none") if last is None else str(last.id)
            report.problems.append(tr(
                "the audit trail ends at entry {newest} but its recorded head is entry {anchor}: "
                "the newest audit entries were removed or altered").format(newest=newest, anchor=anchor_id))
    elif count:
        report.notes.append(tr("the audit trail has no recorded head (written by an older version)"))
    report.notes.append(tr("{n} audit entries verified").format(n=count))


def _check_head_file(session, db_path, report: CheckReport) -> None:  # noqa: ANN001
    """The head recorded beside the database must be an entry of the chain, with the same hash."""
    name = head_file(db_path).name
    try:
        recorded = read_head_file(db_path)
    except ValueError:
        report.problems.append(tr("the audit head recorded beside the database ({file}) cannot be read").format(file=name))
        return
    if recorded is None:
        report.notes.append(tr("no audit head is recorded beside the database ({file})").format(file=name))
        return
    for entry_id, digest in recorded:  # a restore in progress records the head before and after it
        found = audit_trail.hash_of_entry(session, entry_id)
        if found == digest:
            break
    if found is None:
        newest = audit_trail.newest_entry(session)
        report.problems.append(tr(
            "the audit trail ends at entry {newest}, but the head recorded beside the database ({file}) is entry "
            "{entry}: the newest audit entries were removed").format(newest=newest.id if newest else 0, file=name,
                                                                     entry=entry_id))
    elif found != digest:
        report.problems.append(tr(
            "audit entry {entry} is not the one recorded beside the database ({file}): the audit trail was "
            "rewritten").format(entry=entry_id, file=name))
    else:
        report.notes.append(tr("audit head beside the database matches (entry {entry})").format(entry=entry_id))


def _check_catalogued_head(session, db_path, report: CheckReport) -> None:  # noqa: ANN001
    """The head the backup catalogue recorded at the last backup or restore must be in the chain."""
    from poems_monitor.services.backup import catalogued_head

    recorded = catalogued_head(db_path)
    if recorded is None:
        return
    entry_id, digest = recorded
    found = audit_trail.hash_of_entry(session, entry_id)
    if found is None:
        report.problems.append(tr("the audit trail lacks entry {entry}, which it held at its last backup: audit "
                                  "entries were removed").format(entry=entry_id))
    elif found != digest:
        report.problems.append(tr("audit entry {entry} differs from the one recorded at the last backup: the audit "
                                  "trail was rewritten").format(entry=entry_id))
    else:
        report.notes.append(tr("the head recorded at the last backup is in the chain (entry {entry})").format(entry=entry_id))


_CACHE_BATCH = 200  # patients whose rules are recomputed at a time


def _check_rules_cache(session, step: Progress) -> tuple[list[str], int]:  # noqa: ANN001
    """Every cache row that would be used (its stamps are current) must equal what the rules
    compute from the record now; stale rows are recomputed before use and need no check."""
    from poems_monitor.models import Patient, RulesCache
    from poems_monitor.persistence.repositories.timelines import load_timelines
    from poems_monitor.services import rules_cache
    from poems_monitor.services.protocol_store import status_in

    RC, P = RulesCache.__table__, Patient.__table__
    stamped = session.execute(select(RC.c.patient_id, RC.c.audit_id, RC.c.protocol_sha, RC.c.rules_version)
                              .outerjoin(P, P.c.id == RC.c.patient_id).order_by(P.c.mrn)).all()  # sentences by MRN
    if not stamped:
        return [], 0
    status, version = status_in(session), rules_cache.cache_version()
    stamps = audit_trail.newest_entry_of_each_patient(session)
    current = [pid for pid, audit_id, sha, rules in stamped
               if (audit_id, sha, rules) == (stamps.get(pid, 0), status.digest, version)]
    problems = []
    recomputing = tr("Recomputing the rules cache")
    for start in range(0, len(current), _CACHE_BATCH):  # a batch of patients at a time: bounded memory
        batch = current[start:start + _CACHE_BATCH]
        rows = {r.patient_id: r for r in session.execute(select(RC).where(RC.c.patient_id.in_(batch)))}
        problems.extend(_cache_differences(load_timelines(session, patient_ids=batch), rows, status.protocol))
        step(recomputing, start + len(batch), len(current))
    return problems, len(current)


def _cache_differences(records, rows, protocol) -> list[str]:  # noqa: ANN001
    """Sentences for the cache rows of `records` that differ from what the rules compute now."""
    from poems_monitor.domain.flags import compute_flags
    from poems_monitor.domain.followup import followup_plan
    from poems_monitor.services import rules_cache

    problems = []
    for record in records:
        row = rows[record.patient_id]
        latest = rules_cache.latest_date(record)
        parts = []
        if row.facts != rules_cache.facts_to_json(rules_cache.reduce_for_schedule(record, protocol)):
            parts.append("facts")
        if row.flags != rules_cache.flags_to_text(compute_flags(record, protocol, latest or row.computed_at.date())):
            parts.append("flags")
        if row.plan is not None and row.plan_as_of is not None and row.plan != rules_cache.plan_to_text(tuple(
                i for i in followup_plan(record, protocol, row.plan_as_of) if i.status is not None)):
            parts.append("plan")
        if parts:
            problems.append(tr("table rules_cache, row {pid} (patient {pid}): {parts} differ from what the rules "
                               "compute from the record (derived data: delete the row and it is rebuilt)").format(
                pid=record.patient_id, parts=", ".join(parts)))
    return problems


def _foreign_key_orphans(db: Database) -> list[str]:
    """Rows whose foreign key points nowhere, found by query (for servers where the check is not
    a pragma). A sound server with enforced constraints returns none."""
    from poems_monitor.models import Event, Exam, FeatureStatus, Observation, Patient, Treatment, Visit

    P, V = Patient.__table__, Visit.__table__
    pairs = [(V, V.c.patient_id, P), (Treatment.__table__, Treatment.__table__.c.patient_id, P),
             (Event.__table__, Event.__table__.c.patient_id, P)]
    pairs += [(t.__table__, t.__table__.c.visit_id, V) for t in (Observation, FeatureStatus, Exam)]
    problems = []
    with db.read() as session:
        for table, column, parent in pairs:
            orphans = session.execute(
                select(func.count()).select_from(table).where(~column.in_(select(parent.c.id)))).scalar_one()
            if orphans:
                problems.append(ntr("{n} row of table {table} refers to a {parent} that does not exist",
                                    "{n} rows of table {table} refer to a {parent} that does not exist", orphans).format(
                    n=orphans, table=table.name, parent=parent.name))
    return problems
