"""The audit trail: append an entry inside the caller's transaction, and verify the chain.

Owns the hash chain. Each entry's hash covers its own content and the previous entry's hash,
so editing, deleting or inserting a row anywhere in the trail breaks every later link and
`poems-monitor check` finds it. Only services call `append`, always in the same transaction as
the change it describes (a rolled-back change leaves no entry, and no change goes unrecorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlmodel import Session

from poems_monitor.models import AuditEntry
from poems_monitor.persistence.audit_chain import (  # noqa: F401  (re-exported: the services' one audit module)
    GENESIS_HASH, HEAD_SETTING_KEY, entry_hash, insert_entry, last_hash, record_head, to_json, utcnow,
)


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
        digest = insert_entry(self.session, self._head, user=self.user, action=action, entity=entity,
                              entity_id=entity_id, patient_id=patient_id, old=old, new=new, reason=reason, at=at)
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
        record_head(sess, user)

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
