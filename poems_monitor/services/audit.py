"""The audit trail: append an entry inside the caller's transaction, and verify the chain.

Owns the hash chain. Each entry's hash covers its own content and the previous entry's hash,
so editing, deleting or inserting a row anywhere in the trail breaks every later link and
`poems-monitor check` finds it. Only services call `append`, always in the same transaction as
the change it describes (a rolled-back change leaves no entry, and no change goes unrecorded).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlmodel import Session

from poems_monitor.models import AuditEntry, ClinicSetting

GENESIS_HASH = "0" * 64
# The id and hash of the newest entry, kept in a clinic setting and moved with every append, so
# that removing the newest entries (which leaves a valid shorter chain) is detected by `check`.
HEAD_SETTING_KEY = "audit.head"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive datetimes: they were stored as UTC
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))


def entry_hash(
    prev_hash: str, at: datetime, user: str, action: str, entity: str, entity_id: int | None,
    patient_id: int | None, old: str | None, new: str | None, reason: str | None,
) -> str:
    payload = json.dumps(
        [prev_hash, _iso(at), user, action, entity, entity_id, patient_id, old, new, reason],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def last_hash(session: Session) -> str:
    row = session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    return row[0] if row else GENESIS_HASH


@dataclass
class AuditWriter:
    """Appends entries within one write transaction, keeping the chain head in memory so a bulk
    import does not re-read it for every entry."""

    session: Session
    user: str
    _head: str | None = None

    def append(
        self, action: str, entity: str, *, entity_id: int | None = None, patient_id: int | None = None,
        old: Any = None, new: Any = None, reason: str | None = None, at: datetime | None = None,
    ) -> str:
        if self._head is None:
            self._head = last_hash(self.session)
        at = at or utcnow()
        old_json, new_json = to_json(old), to_json(new)
        digest = entry_hash(self._head, at, self.user, action, entity, entity_id, patient_id, old_json, new_json, reason)
        self.session.execute(
            insert(AuditEntry.__table__).values(
                at=at, user=self.user, action=action, entity=entity, entity_id=entity_id, patient_id=patient_id,
                old=old_json, new=new_json, reason=reason, prev_hash=self._head, hash=digest,
            )
        )
        self._head = digest
        _record_head_on_commit(self.session, self.user)
        return digest


def _record_head_on_commit(session: Session, user: str) -> None:
    """Move the recorded chain head once per transaction, just before it commits."""
    if session.info.get("audit_head_hook"):
        return
    session.info["audit_head_hook"] = True

    def record(sess: Session) -> None:
        sess.info.pop("audit_head_hook", None)
        last = sess.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
        if last is None:
            return
        settings, at, value = ClinicSetting.__table__, utcnow(), f"{last[0]}:{last[1]}"
        moved = sess.execute(update(settings).where(settings.c.key == HEAD_SETTING_KEY).values(
            value=value, updated_at=at, updated_by=user))
        if moved.rowcount == 0:
            sess.execute(insert(settings).values(key=HEAD_SETTING_KEY, value=value, updated_at=at, updated_by=user))

    event.listen(session, "before_commit", record, once=True)


@dataclass(frozen=True)
class ChainProblem:
    entry_id: int
    message: str


def verify_chain(session: Session) -> list[ChainProblem]:
    """Every broken link of the audit chain, oldest first; empty when the trail is intact."""
    problems: list[ChainProblem] = []
    expected_prev = GENESIS_HASH
    rows = session.execute(select(AuditEntry.__table__).order_by(AuditEntry.id)).mappings()
    for row in rows:
        if row["prev_hash"] != expected_prev:
            problems.append(ChainProblem(row["id"], f"audit entry {row['id']} does not follow the entry before it (a row was removed or inserted)"))
        digest = entry_hash(
            row["prev_hash"], row["at"], row["user"], row["action"], row["entity"], row["entity_id"],
            row["patient_id"], row["old"], row["new"], row["reason"],
        )
        if digest != row["hash"]:
            problems.append(ChainProblem(row["id"], f"audit entry {row['id']} was changed after it was written"))
        expected_prev = row["hash"]
    return problems
