"""The audit trail's hash chain at table level: how an entry's hash is made, and appending an
entry (with the recorded chain head) on any connection or session.

Lives in persistence so that schema migrations, which change records outside every service,
can audit what they change with the same chain; services use it through `services.audit`
(which adds the in-transaction writer and the verification). Never decides *what* to audit.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select, update

from poems_monitor.models import AuditEntry, ClinicSetting

GENESIS_HASH = "0" * 64
# The id and hash of the newest entry, kept in a clinic setting and moved with every append, so
# that removing the newest entries (which leaves a valid shorter chain) is detected by `check`.
HEAD_SETTING_KEY = "audit.head"

_A = AuditEntry.__table__
_S = ClinicSetting.__table__


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso_utc(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive datetimes: they were stored as UTC
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))


def entry_hash(
    prev_hash: str, at: datetime, user: str, action: str, entity: str, entity_id: int | None,
    patient_id: int | None, old: str | None, new: str | None, reason: str | None, state: str | None = None,
) -> str:
    fields = [prev_hash, iso_utc(at), user, action, entity, entity_id, patient_id, old, new, reason]
    if state is not None:  # entries written before the record was sealed keep their original hash
        fields.append(state)
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def last_hash(conn) -> str:  # noqa: ANN001 (a Session or a Connection)
    row = conn.execute(select(_A.c.hash).order_by(_A.c.id.desc()).limit(1)).first()
    return row[0] if row else GENESIS_HASH


def insert_entry(
    conn, prev_hash: str, *, user: str, action: str, entity: str, entity_id: int | None = None,  # noqa: ANN001
    patient_id: int | None = None, old: Any = None, new: Any = None, reason: str | None = None,
    at: datetime | None = None, state: dict[str, Any] | None = None,
) -> str:
    """Append one entry after `prev_hash`; returns its hash (the next entry's `prev_hash`).
    `state`: the record seal's digests this entry holds (services.record_seal), if any."""
    at = at or utcnow()
    old_json, new_json, state_json = to_json(old), to_json(new), to_json(state) if state else None
    digest = entry_hash(prev_hash, at, user, action, entity, entity_id, patient_id, old_json, new_json, reason,
                        state_json)
    # `state` only when there is one: the migrations before 0007 write entries into a table that
    # has no such column yet.
    held = {"state": state_json} if state_json is not None else {}
    conn.execute(insert(_A).values(
        at=at, user=user, action=action, entity=entity, entity_id=entity_id, patient_id=patient_id,
        old=old_json, new=new_json, reason=reason, prev_hash=prev_hash, hash=digest, **held,
    ))
    return digest


def record_head(conn, user: str) -> None:  # noqa: ANN001
    """Store the newest entry's id and hash as the recorded chain head."""
    last = conn.execute(select(_A.c.id, _A.c.hash).order_by(_A.c.id.desc()).limit(1)).first()
    if last is None:
        return
    at, value = utcnow(), f"{last[0]}:{last[1]}"
    moved = conn.execute(update(_S).where(_S.c.key == HEAD_SETTING_KEY).values(value=value, updated_at=at, updated_by=user))
    if moved.rowcount == 0:
        conn.execute(insert(_S).values(key=HEAD_SETTING_KEY, value=value, updated_at=at, updated_by=user))
