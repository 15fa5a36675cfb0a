"""Reading the audit trail: the one place that spells queries on `audit_entry` for reading.

Services ask for what they mean (a patient's entries, the clinic-wide ones, the newest entry,
the hash of an entry, the chain in order for its check, the newest seal of a record scope) and
get rows with the table's columns. Appending is not here: `services.audit.AuditWriter` (and
`persistence.audit_chain` for migrations) own the chain's writes.

Entries are only ever appended, so ids grow with time: "newest" means the highest id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Row, RowMapping
from sqlmodel import Session

from poems_monitor.models import AuditEntry

audit_table = AuditEntry.__table__

# SQLite allows 32k bound parameters; stay well under it for IN lists.
_CHUNK = 900


def entries_of_patient(session: Session, patient_id: int, *, after: int = 0) -> Sequence[Row]:
    """Every entry about the patient `patient_id` (newer than the entry `after`), oldest first."""
    return session.execute(
        select(audit_table).where(audit_table.c.patient_id == patient_id, audit_table.c.id > after)
        .order_by(audit_table.c.id)).all()


def clinic_wide_entries(session: Session, entity: str | None = None, limit: int = 1000) -> Sequence[Row]:
    """The newest `limit` entries about no patient (protocol, accounts, backups, restores),
    newest first; only those about `entity` when given."""
    query = select(audit_table).where(audit_table.c.patient_id.is_(None))
    if entity is not None:
        query = query.where(audit_table.c.entity == entity)
    return session.execute(query.order_by(audit_table.c.id.desc()).limit(limit)).all()


def entry_count(session: Session) -> int:
    """How many entries the trail holds."""
    return session.execute(select(func.count()).select_from(audit_table)).scalar_one()


def newest_entry(session: Session) -> Row | None:
    """The newest entry's `id` and `hash` (the chain's head), or None for an empty trail."""
    return session.execute(
        select(audit_table.c.id, audit_table.c.hash).order_by(audit_table.c.id.desc()).limit(1)).first()


def hash_of_entry(session: Session, entry_id: int) -> str | None:
    """The hash of entry `entry_id`, or None when the trail holds no such entry."""
    return session.execute(
        select(audit_table.c.hash).where(audit_table.c.id == entry_id)).scalar_one_or_none()


def newest_entry_of_each_patient(session: Session, patient_ids: Iterable[int] | None = None) -> dict[int, int]:
    """The id of the newest entry about each patient (of `patient_ids`, or of every patient
    with one): it changes with every write to that patient's record, so it stamps derived data."""
    query = (select(audit_table.c.patient_id, func.max(audit_table.c.id))
             .where(audit_table.c.patient_id.is_not(None)).group_by(audit_table.c.patient_id))
    if patient_ids is None:
        return dict(session.execute(query).all())
    ids = sorted(set(patient_ids))
    found: dict[int, int] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update(session.execute(query.where(audit_table.c.patient_id.in_(ids[start:start + _CHUNK]))).all())
    return found


def has_state_column(session: Session) -> bool:
    """Whether the trail has the `state` column of sealed entries (schema 0007 on)."""
    return "state" in {c["name"] for c in inspect(session.connection()).get_columns(audit_table.name)}


# What an entry's hash covers (with `state` since schema 0007). Not `db_user`: the server fills
# it after the client has computed the hash, entries written before 0008 have none, and SQLite
# has no logins. The server guards it instead: its trigger sets it on every insert and refuses
# an entry naming another account than the login, and no clinic role may update it.
HASHED_COLUMNS = [audit_table.c[name] for name in (
    "id", "at", "user", "action", "entity", "entity_id", "patient_id", "old", "new", "reason", "prev_hash", "hash",
    "state")]


def entries_in_chain_order(session: Session, *, with_state: bool = True) -> Iterator[RowMapping]:
    """Every entry, oldest first, as mappings of the columns its hash covers (without `state` on
    a schema older than 0007: see `has_state_column`), streamed for walking the whole chain."""
    columns = [c for c in HASHED_COLUMNS if with_state or c.name != "state"]
    return iter(session.execute(select(*columns).order_by(audit_table.c.id)).mappings())


def newest_sealed_entry(session: Session, *, patient_id: int | None = None,
                        mentioning: str | None = None) -> Row | None:
    """The newest entry holding a record seal (`id`, `state`): of any kind, about the patient
    `patient_id`, or whose seal text contains `mentioning` (a scope name sealed on an entry about
    something else, as on the first seal of the whole record)."""
    query = select(audit_table.c.id, audit_table.c.state).where(audit_table.c.state.is_not(None))
    if patient_id is not None:
        query = query.where(audit_table.c.patient_id == patient_id)
    if mentioning is not None:
        query = query.where(audit_table.c.state.contains(mentioning))
    return session.execute(query.order_by(audit_table.c.id.desc()).limit(1)).first()


def newest_sealed_entries(session: Session, patient_ids: Sequence[int]) -> dict[int, Row]:
    """`newest_sealed_entry(session, patient_id=...)` of each of these patients that has one, with
    two queries for them all (the lab import seals thousands of patients)."""
    newest = select(func.max(audit_table.c.id)).where(
        audit_table.c.state.is_not(None), audit_table.c.patient_id.in_(list(patient_ids))
    ).group_by(audit_table.c.patient_id)
    query = select(audit_table.c.id, audit_table.c.state, audit_table.c.patient_id).where(audit_table.c.id.in_(newest))
    return {row.patient_id: row for row in session.execute(query)}
