"""`poems-monitor check`: is this clinic database sound?

Owns the list of checks and their sentences: the file's own structure and foreign keys (SQLite
integrity_check and foreign_key_check; on PostgreSQL the server guarantees these, and only the
foreign keys are re-checked by query), the schema revision, and the audit trail's hash chain and
its recorded head (so that removing the newest entries is noticed too). Returns plain sentences
for the person at the desk; an empty list means sound. Reads only, never repairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, inspect, select

from poems_monitor.i18n import ntr, tr
from poems_monitor.models import AuditEntry, ClinicSetting
from poems_monitor.persistence import sqlite_backup
from poems_monitor.persistence.db import Database, current_revision, known_revisions
from poems_monitor.services.audit import HEAD_SETTING_KEY, verify_chain

A, S = AuditEntry.__table__, ClinicSetting.__table__
EXPECTED_TABLES = ("patient", "visit", "observation", "feature_status", "exam", "treatment", "event", "app_user",
                   "audit_entry", "clinic_setting", "alembic_version")


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)  # each a sentence; empty: sound
    notes: list[str] = field(default_factory=list)  # what was checked, for the person who asked

    @property
    def sound(self) -> bool:
        return not self.problems


def check(db: Database) -> list[str]:
    """Every problem found in the database, as plain sentences; an empty list means sound."""
    return check_report(db).problems


def check_report(db: Database) -> CheckReport:
    report = CheckReport()
    if db.is_sqlite:
        structure = sqlite_backup.structural_problems(db)
        report.problems.extend(structure)
        if any("cannot be read" in p for p in structure):
            return report  # the file is unreadable: the other checks would only repeat it
        report.notes.append(tr("file structure and foreign keys checked"))
    else:
        report.problems.extend(_foreign_key_orphans(db))
        report.notes.append(tr("foreign keys checked (the server guarantees the file structure)"))

    try:
        schema_ok = _check_schema(db, report)
    except Exception as exc:  # noqa: BLE001 (a damaged file fails in many ways)
        report.problems.append(tr("the schema cannot be read: {error}").format(error=sqlite_backup.plain_error(exc)))
        return report
    if not schema_ok:
        return report
    try:
        _check_audit(db, report)
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
    if current != head:
        report.notes.append(tr("schema {found} is older than {head}; it is upgraded when the app opens it").format(
            found=current, head=head))
    else:
        report.notes.append(tr("schema revision {head} is current").format(head=head))
    return True


def _check_audit(db: Database, report: CheckReport) -> None:
    with db.read() as session:
        chain = verify_chain(session)
        report.problems.extend(p.message for p in chain)
        count = session.execute(select(func.count()).select_from(A)).scalar_one()
        last = session.execute(select(A.c.id, A.c.hash).order_by(A.c.id.desc()).limit(1)).first()
        anchor = session.execute(select(S.c.value).where(S.c.key == HEAD_SETTING_KEY)).scalar_one_or_none()
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
