"""The audit trail: append an entry inside the caller's transaction, and verify the chain.

Owns the hash chain. Each entry's hash covers its own content and the previous entry's hash,
so editing, deleting or inserting a row anywhere in the trail breaks every later link and
`poems-monitor check` finds it. Only services call `append`, always in the same transaction as
the change it describes (a rolled-back change leaves no entry, and no change goes unrecorded).

Just before a transaction commits, the last entry it wrote is given the digests of the record
scopes the transaction touched (`services.record_seal`), so the chain covers the record and not
only itself; and the chain's head is recorded in the database and, after the commit, in a small
file beside the database (`<name>.audit-head`), so that removing the newest entries together with
the head kept inside the database is still found.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlmodel import Session

from poems_monitor.models import AuditEntry, ClinicSetting
from poems_monitor.persistence.audit_chain import (  # noqa: F401  (re-exported: the services' one audit module)
    GENESIS_HASH, HEAD_SETTING_KEY, iso_utc, entry_hash, last_hash, to_json, utcnow,
)
from poems_monitor.i18n import tr
from poems_monitor.persistence import bulk_insert
from poems_monitor.persistence.repositories import audit as audit_trail
from poems_monitor.services import live_updates, record_seal


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
        return self.append_many([AuditItem(action, entity, entity_id, patient_id, old, new, reason, at)])[-1]

    def append_many(self, items: list[AuditItem]) -> list[str]:
        """Append several entries in order, one chain step each, in one executemany (a bulk
        import writes one entry per patient: one INSERT statement each cost seconds per
        thousand). Returns their hashes."""
        if not items:
            return []
        if self._head is None:  # the transaction's first entry
            _refuse_a_deactivated_account(self.session, self.user)
            self._head = last_hash(self.session)
        now = utcnow()
        rows, digests = [], []
        head, user = self._head, self.user
        for item in items:
            at = item.at or now
            old_json, new_json = to_json(item.old), to_json(item.new)
            digest = entry_hash(head, at, user, item.action, item.entity, item.entity_id, item.patient_id, old_json,
                                new_json, item.reason)
            rows.append(dict(at=at, user=user, action=item.action, entity=item.entity, entity_id=item.entity_id,
                             patient_id=item.patient_id, old=old_json, new=new_json, reason=item.reason, prev_hash=head,
                             hash=digest))
            digests.append(digest)
            head = digest
        table = AuditEntry.__table__
        if len(rows) == 1:
            ids = [self.session.execute(insert(table).values(**rows[0])).inserted_primary_key[0]]
        else:  # the driver's executemany on SQLite (the ids SQLite would pick), Core's RETURNING elsewhere
            ids = bulk_insert.insert_rows(self.session.connection(), table, rows, assign_ids=True)
        self._head = head
        self.session.info.setdefault("audit_entries", []).extend(
            (entry_id, item.patient_id) for entry_id, item in zip(ids, items))
        _seal_on_commit(self.session, self.user)
        for item in items:  # a clinic server announces what the transaction changed (services.live_updates)
            live_updates.note_audit_entry(self.session, self.user, item.action, item.entity, item.patient_id, item.old)
        return digests


@dataclass(frozen=True)
class AuditItem:
    """One entry for `AuditWriter.append_many` (the arguments of `append`)."""

    action: str
    entity: str
    entity_id: int | None = None
    patient_id: int | None = None
    old: Any = None
    new: Any = None
    reason: str | None = None
    at: datetime | None = None


def _refuse_a_deactivated_account(session: Session, user: str) -> None:
    """Every audited write passes here inside its own transaction, so a deactivated account acts
    no more, even from a desktop session that signed in before it was deactivated. A name with
    no account (the set-up administrator of a database without accounts, the demo, a failed
    sign-in) is not an account and is not refused here; roles are checked by the services."""
    from poems_monitor.models import User
    from poems_monitor.services.access import PermissionDenied

    U = User.__table__
    active = session.execute(select(U.c.active).where(U.c.name == user)).scalar()
    if active is not None and not active:
        raise PermissionDenied(tr("the account {user} is deactivated: nothing was saved; "
                                  "sign in with an active account").format(user=user))


def _seal_on_commit(session: Session, user: str) -> None:
    """Once per transaction, just before it commits: seal the record scopes it touched (each
    patient's digest on the transaction's last entry about that patient; the accounts and settings,
    and whatever the seal found changed outside the app since the last seal, on its last entry),
    and move the recorded chain head; after the commit, write the head file."""
    if session.info.get("audit_head_hook"):
        return
    session.info["audit_head_hook"] = True

    def record(sess: Session) -> None:
        sess.info.pop("audit_head_hook", None)
        entries = sess.info.pop("audit_entries", [])
        A = AuditEntry.__table__
        sealed = record_seal.has_seal_tables(sess)  # not on a schema older than 0007
        last = sess.execute(select(A.c.id, A.c.hash).order_by(A.c.id.desc()).limit(1)).mappings().first()
        if last is None:
            return
        head_id, digest = last["id"], last["hash"]
        if sealed and entries:
            digest = _seal_entries(sess, entries)
        settings, at, value = ClinicSetting.__table__, utcnow(), f"{head_id}:{digest}"
        moved = sess.execute(update(settings).where(settings.c.key == HEAD_SETTING_KEY).values(
            value=value, updated_at=at, updated_by=user))
        if moved.rowcount == 0:
            sess.execute(insert(settings).values(key=HEAD_SETTING_KEY, value=value, updated_at=at, updated_by=user))
        path = _database_file(sess)
        if path is not None:
            event.listen(sess, "after_commit", lambda _s: write_head_file(path, head_id, digest), once=True)

    event.listen(session, "before_commit", record, once=True)


_SEAL_ENTRIES_CHUNK = 500
# session.info key: a callable told (entries sealed, entries) as the commit seals and re-links a
# long transaction's entries (a lab file of a million rows writes hundreds of thousands); what it
# raises (services.progress.Cancelled) fails the commit, and the transaction rolls back.
SEAL_PROGRESS = "audit.seal_progress"


def _seal_entries(session: Session, entries: list[tuple[int, int | None]]) -> str:
    """Write the seal into this transaction's entries and re-link their hashes; returns the new
    hash of the last one."""
    A = AuditEntry.__table__
    first_seal = session.execute(select(A.c.id).where(A.c.state.is_not(None)).order_by(A.c.id.desc())
                                 .limit(1)).first() is None
    patients = {pid for _, pid in entries if pid is not None}
    # Before the seal moves on: does the committed record still match the chain? A change made
    # outside the app is recorded as found here, so that sealing over it never hides it.
    checked, found_checked = record_seal.checked_in_transaction(session)  # checked and sealed from one read
    found = [] if first_seal else [*record_seal.changed_since_sealed(session, patients - checked), *found_checked]
    digests = record_seal.seal(session, patients, everything=first_seal)
    last_of = {pid: entry_id for entry_id, pid in entries if pid is not None}  # ids grow: the last wins
    ids = sorted(entry_id for entry_id, _ in entries)
    # The entries before the first that takes a digest keep their link, no state and the hash
    # they were written with (`append_many` hashed the same fields): re-reading and rewriting
    # them changed nothing (a lab file of a million rows writes a few entries per patient, only
    # the last ones take a digest).
    first_changed = min([*last_of.values(), ids[-1]])
    ids = ids[bisect_left(ids, first_changed):]
    prev = digest = None
    # A chunk of entries at a time: a lab file's entries list every value it adds (a file of a
    # million rows holds hundreds of megabytes of them); the chain is re-linked in order across chunks.
    told = session.info.get(SEAL_PROGRESS)
    for start in range(0, len(ids), _SEAL_ENTRIES_CHUNK):
        if told is not None:
            told(start, len(ids))
        rows = session.execute(select(*audit_trail.HASHED_COLUMNS).where(
            A.c.id.in_(ids[start:start + _SEAL_ENTRIES_CHUNK])).order_by(A.c.id)).mappings().all()
        if prev is None:
            prev = digest = rows[0]["prev_hash"]
        changes = []
        for row in rows:
            state: dict[str, Any] = {}
            pid = row["patient_id"]
            if pid is not None and last_of.get(pid) == row["id"]:
                scope = record_seal.patient_scope(pid)
                state[scope] = digests.pop(scope)
            if row["id"] == ids[-1]:
                state.update(digests)  # the accounts, the settings (and on a first seal, every patient)
                if found:
                    state[record_seal.FOUND] = found
            state_json = to_json(state) if state else None
            digest = entry_hash(prev, row["at"], row["user"], row["action"], row["entity"], row["entity_id"], pid,
                                row["old"], row["new"], row["reason"], state_json)
            changes.append({"entry": row["id"], "new_prev": prev, "new_state": state_json, "new_hash": digest})
            prev = digest
        session.connection().execute(  # one executemany per chunk: a bulk import seals thousands of entries
            update(A).where(A.c.id == bindparam("entry")).values(
                prev_hash=bindparam("new_prev"), state=bindparam("new_state"), hash=bindparam("new_hash")), changes)
    if told is not None:
        told(len(ids), len(ids))
    return digest


# ---------------------------------------------------------------------------------------------
# The head kept beside the database
# ---------------------------------------------------------------------------------------------

HEAD_FILE_SUFFIX = ".audit-head"


def head_file(db_path: Path) -> Path:
    """The small file beside an SQLite database that records its chain head."""
    return Path(db_path).with_name(Path(db_path).name + HEAD_FILE_SUFFIX)


def _database_file(session: Session) -> Path | None:
    bind = session.get_bind()
    url = make_url(str(bind.engine.url)) if hasattr(bind, "engine") else None
    if url is None or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def read_head_file(db_path: Path) -> list[tuple[int, str]] | None:
    """The heads (entry id, hash) recorded beside the database: one, or two while a restore
    replaces the database (the one before and the one after); None when there is no such file.
    Raises ValueError when the file exists but does not hold a head."""
    try:
        text = head_file(db_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(str(exc)) from None
    data = json.loads(text)
    heads = []
    for item in (data, *(data.get("or", []) if isinstance(data, dict) else [])):
        if not isinstance(item, dict) or not isinstance(item.get("entry"), int) or not isinstance(item.get("hash"), str):
            raise ValueError("not a head record")
        heads.append((item["entry"], item["hash"]))
    return heads


def write_head_file(db_path: Path, entry_id: int, digest: str, *, force: bool = False,
                    alternative: tuple[int, str] | None = None) -> None:
    """Record the chain head beside the database. Never moves it backwards (a slower writer
    finishing after a faster one) unless `force` (a restore, which first records both heads as
    `alternative`s so that a kill in the middle leaves a record that fits either file). A failure
    to write only lowers the protection: the commit has happened."""
    target = head_file(db_path)
    try:
        if not force:
            try:
                recorded = read_head_file(db_path)
            except ValueError:
                recorded = None
            if recorded is not None and len(recorded) == 1 and recorded[0][0] > entry_id:
                return
        record: dict[str, Any] = {"entry": entry_id, "hash": digest, "at": iso_utc(utcnow())}
        if alternative is not None:
            record["or"] = [{"entry": alternative[0], "hash": alternative[1]}]
        tmp = target.with_name(f".{target.name}.pid{os.getpid()}.head.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, target)
    except (OSError, ValueError):
        pass




@dataclass(frozen=True)
class ChainProblem:
    entry_id: int
    message: str


def verify_chain(session: Session, states: dict[str, record_seal.SealedScope] | None = None) -> list[ChainProblem]:
    """Every broken link of the audit chain, oldest first; empty when the trail is intact.
    When `states` is given it is filled with the newest sealed digest of each record scope."""
    problems: list[ChainProblem] = []
    expected_prev = GENESIS_HASH
    rows = audit_trail.entries_in_chain_order(session, with_state=audit_trail.has_state_column(session))
    for row in rows:
        state = row.get("state")
        if row["prev_hash"] != expected_prev:
            problems.append(ChainProblem(row["id"], f"audit entry {row['id']} does not follow the entry before it (a row was removed or inserted)"))
        digest = entry_hash(
            row["prev_hash"], row["at"], row["user"], row["action"], row["entity"], row["entity_id"],
            row["patient_id"], row["old"], row["new"], row["reason"], state,
        )
        if state is not None and states is not None:
            try:
                for scope, value in json.loads(state).items():
                    if scope == record_seal.FOUND:  # changes made outside the app, found when sealing
                        problems.extend(ChainProblem(row["id"], f"when audit entry {row['id']} was written, the seal "
                                                                f"found: {sentence}") for sentence in value)
                    else:
                        states[scope] = record_seal.SealedScope(value, row["id"])
            except (ValueError, AttributeError, TypeError):
                problems.append(ChainProblem(row["id"], f"audit entry {row['id']} holds an unreadable record seal"))
        if digest != row["hash"]:
            problems.append(ChainProblem(row["id"], f"audit entry {row['id']} was changed after it was written"))
        expected_prev = row["hash"]
    return problems
