"""Live updates on a clinic server: every write announces what it changed, every workstation hears it.

Announcing: every write appends its audit entries inside its own transaction (`services.audit`),
so the audit writer is the one place every write passes; it notes each entry here, and just
before the transaction commits the writes' `Changes` go out with
`pg_notify('poems_changes', payload)` in that same transaction. PostgreSQL delivers a
notification only when its transaction commits, so a rolled-back write announces nothing. Writes
that append no audit entry (the rules cache, derived data) announce nothing. On SQLite nothing
is announced (one file, one workstation at a time).

The payload (docs/clinic-server.md, an interface other programs may listen to) is the JSON of
`Changes.to_payload()` with two more keys: `origin`, the id of the writing `Database` handle (a
workstation ignores its own echo: it has published its own save already, and its open entry form
must not take its own save for someone else's), and `by`, the account that wrote.

Hearing: `ChangeListener` holds one autocommit psycopg connection with LISTEN poems_changes;
`wait(timeout)` yields what arrives within `timeout`; a dropped connection is reconnected with a
bounded backoff, and `reachable` says whether it is listening now.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import event, select, text
from sqlmodel import Session

from poems_monitor.models import Patient
from poems_monitor.persistence.db import Database
from poems_monitor.services.changes import NO_CHANGES, Changes

log = logging.getLogger(__name__)

CHANNEL = "poems_changes"
_NOTED = "live_updates_entries"  # session.info: (action, entity, patient_id, old MRN) of this transaction
ANNOUNCED_KEY = "live_updates_announced"  # session.info: this transaction sent a notification
ORIGIN_KEY = "poems_origin"  # session.info: the writing Database handle's id (set by Database.write)

# The audit entities whose writes put a visit on (or take it off) the physicians' list to sign off.
_VISIT_ENTITIES = frozenset({"visit", "observation", "feature_status", "exam"})


@dataclass(frozen=True)
class Announcement:
    """What one committed write changed, where it came from and who wrote it."""

    changes: Changes
    origin: str = ""
    by: str = ""

    def to_payload(self) -> str:
        data = json.loads(self.changes.to_payload())
        data.update(origin=self.origin, by=self.by)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_payload(cls, payload: str) -> Announcement:
        """Anything unreadable means "everything changed, from somewhere else" (safe)."""
        try:
            data = json.loads(payload)
        except ValueError:
            return cls(Changes.everything())
        if not isinstance(data, dict):
            return cls(Changes.everything())
        origin, by = data.pop("origin", ""), data.pop("by", "")
        return cls(Changes.from_payload(json.dumps(data)), str(origin or ""), str(by or ""))


def note_audit_entry(session: Session, user: str, action: str, entity: str, patient_id: int | None,
                     old: object) -> None:
    """Called by the audit writer for every entry: remember what it concerns, and on a clinic
    server announce the transaction's changes just before it commits (once per transaction)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    old_mrn = old.get("mrn") if entity == "patient" and isinstance(old, dict) else None
    noted = session.info.get(_NOTED)
    if noted is None:
        noted = session.info[_NOTED] = []
        event.listen(session, "before_commit", lambda s: _announce(s, user), once=True)
    noted.append((action, entity, patient_id, old_mrn))


def changes_of_entries(session: Session, entries: list[tuple[str, str, int | None, str | None]]) -> Changes:
    """What a transaction's audit entries say it changed: their patients (by MRN as stored now,
    and the old MRN of a corrected one), and the clinic-wide kinds of their entities. An entity
    this does not know, without a patient, means everything (announcing too much is safe)."""
    changes, patient_ids = NO_CHANGES, set()
    for action, entity, patient_id, old_mrn in entries:
        if patient_id is not None:
            patient_ids.add(patient_id)
        if old_mrn:
            changes |= Changes.of_patient(str(old_mrn))
        if entity in _VISIT_ENTITIES:
            changes |= Changes(visit_reviews=True)
        elif entity == "patient":
            changes |= Changes(patient_list=True)
        elif entity == "protocol":
            changes |= Changes(protocol=True)
        elif entity == "user":
            if action != "sign_in":  # a sign-in changes nothing a screen shows
                changes |= Changes(accounts=True)
        elif entity == "database":
            if action != "backup":  # a backup changes nothing; a restore, everything
                changes |= Changes.everything()
        elif patient_id is None and entity not in ("flag", "followup_waiver", "treatment", "event"):
            changes |= Changes.everything()
    if patient_ids:
        P = Patient.__table__
        mrns = session.execute(select(P.c.mrn).where(P.c.id.in_(sorted(patient_ids)))).scalars()
        changes |= Changes.of_patients(mrns)
    return changes


def _announce(session: Session, user: str) -> None:
    entries = session.info.pop(_NOTED, [])
    changes = changes_of_entries(session, entries)
    if changes:
        payload = Announcement(changes, str(session.info.get(ORIGIN_KEY, "")), user).to_payload()
        session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})
        session.info[ANNOUNCED_KEY] = True  # (the concurrency benchmark times these commits)


# Reconnecting after a dropped connection: wait 0.5 s, then twice as long each time, at most this.
MAX_BACKOFF_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.5


class ChangeListener:
    """LISTEN poems_changes on a connection of its own (autocommit: notifications arrive between
    transactions). `wait(timeout)` yields the announcements that arrive within `timeout` seconds
    (none when the connection is down); it reconnects by itself, no faster than the backoff.
    `reachable` is False from a failed connection until a reconnect succeeds. Not thread-safe:
    one thread waits; another may only call `close`.

    The connection is taken from the clinic's own engine and detached from its pool: it signs in
    as the workstation does (the typed password is only in the engine, never on disk), with the
    engine's connect timeout and TCP keepalives."""

    def __init__(self, db: Database):
        self._db = db
        self._conn = None
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._closed = False
        self.reachable = True
        self.last_error = ""

    def connect(self) -> bool:
        """Connect and LISTEN now (True), or note the failure and the next attempt's time (False)."""
        import psycopg
        from sqlalchemy.exc import DBAPIError

        try:
            pooled = self._db.engine.raw_connection()
            self._conn = pooled.driver_connection
            pooled.detach()  # ours now: never handed to a write, closed by us
            self._conn.rollback()
            self._conn.autocommit = True
            self._conn.execute(f"LISTEN {CHANNEL}")
        except (psycopg.Error, DBAPIError) as exc:
            self._failed(exc)  # (closes a connection that was made but could not listen)
            return False
        self.reachable, self.last_error, self._backoff = True, "", 0.0
        return True

    def _failed(self, exc: BaseException) -> None:
        self._drop()
        self.reachable = False
        self.last_error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self._backoff = min(MAX_BACKOFF_SECONDS, self._backoff * 2 or FIRST_BACKOFF_SECONDS)
        self._next_attempt = time.monotonic() + self._backoff
        log.info("clinic server listener: %s; next attempt in %.1f s", self.last_error, self._backoff)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 (a dead connection may fail to close; it is gone either way)
                log.debug("closing the listener's connection: %s", exc)

    def wait(self, timeout: float) -> Iterator[Announcement]:
        """The announcements that arrive within `timeout` seconds (blocks at most about that long)."""
        import psycopg

        deadline = time.monotonic() + timeout
        while not self._closed:
            left = deadline - time.monotonic()
            if self._conn is None:
                pause = min(left, self._next_attempt - time.monotonic())
                if pause > 0:
                    time.sleep(pause)
                if time.monotonic() >= deadline and self._next_attempt > time.monotonic():
                    return
                if not self.connect():
                    continue
                left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                for note in self._conn.notifies(timeout=left, stop_after=1):
                    yield Announcement.from_payload(note.payload)
                if self._conn is not None and self._conn.closed:  # the server went away while we waited
                    raise psycopg.OperationalError("the connection was closed")
            except psycopg.Error as exc:
                if self._closed:
                    return
                self._failed(exc)
                continue
            if time.monotonic() >= deadline:
                return

    def close(self) -> None:
        self._closed = True
        self._drop()
