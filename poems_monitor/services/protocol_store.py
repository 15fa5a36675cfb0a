"""The clinic's protocol: stored in the database, shared by every workstation of the clinic.

Owns where the protocol lives and how it changes. The protocol file's TOML text is kept in the
clinic setting "protocol" (one row of `clinic_setting`), so every workstation that opens the
clinic database applies the same thresholds and intervals. Without a stored protocol the shipped
default (`resources/protocol.default.toml`, REFERENCE.md defaults) applies.

Saving: the text is checked by the domain loader first (a refused file names its line and key
and nothing is stored); only a role with EDIT_PROTOCOL may save; a reason is required; the old
and the new text are written to the audit trail in the same transaction (with no patient: the
change is clinic-wide). A stored text that can no longer be read (a database written by another
version) is never silently replaced: `protocol_status` reports it, and the rules fall back to
the shipped default meanwhile so that the worklist keeps working. No Qt.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from poems_monitor.domain.display_units import DisplayUnits, with_units
from poems_monitor.domain.protocol import Protocol, ProtocolError, default_protocol, default_protocol_text, load_protocol
from poems_monitor.i18n import tr
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import clinic_settings
from poems_monitor.persistence.repositories.timelines import WriteStamp
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services.audit import AuditWriter, utcnow
from poems_monitor.services.changes import Changes
from poems_monitor.services.errors import FieldProblem, InputRefused

log = logging.getLogger(__name__)

PROTOCOL_SETTING_KEY = "protocol"
MAX_REASON = 2000


@dataclass(frozen=True)
class ProtocolStatus:
    """What `protocol show` and the settings screen report."""

    protocol: Protocol  # the protocol the rules apply now
    text: str  # its TOML text
    stored: bool  # True: the clinic's own protocol; False: the shipped default
    updated_at: datetime | None
    updated_by: str | None
    problem: str | None = None  # a stored text that cannot be read (the default applies meanwhile)
    digest: str = ""  # sha256 of the text the rules apply (cache key of the worklist)

    def sentence(self) -> str:
        if self.problem:
            return tr("The stored clinic protocol cannot be used ({problem}); the shipped default applies until "
                      "a valid protocol is saved.").format(problem=self.problem)
        if self.stored:
            return tr("Clinic protocol saved by {who} on {when}.").format(
                who=self.updated_by, when=f"{self.updated_at:%Y-%m-%d %H:%M}" if self.updated_at else "?")
        return tr("The shipped default protocol applies (no clinic protocol saved).")


@dataclass(frozen=True)
class SavedProtocol:
    """The protocol now in force, and what saving it changed (every patient's flags and schedule)."""

    protocol: Protocol
    changes: Changes = field(default=Changes(protocol=True), compare=False, repr=False)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored_row(session: Session):  # noqa: ANN202
    return clinic_settings.find_setting(session, PROTOCOL_SETTING_KEY)


def status_in(session: Session) -> ProtocolStatus:
    """The protocol in force, read inside the caller's session (one snapshot with its data)."""
    row = _stored_row(session)
    if row is not None and row.value:
        try:
            protocol = load_protocol(row.value, origin=tr("clinic protocol"))
        except ProtocolError as exc:
            log.warning("stored clinic protocol refused, the shipped default applies: %s", exc)
            text = default_protocol_text()
            return ProtocolStatus(default_protocol(), text, False, row.updated_at, row.updated_by, str(exc),
                                  text_digest(text))
        return ProtocolStatus(protocol, row.value, True, row.updated_at, row.updated_by, None, text_digest(row.value))
    text = default_protocol_text()
    return ProtocolStatus(default_protocol(), text, False, None, None, None, text_digest(text))


def protocol_in(session: Session) -> Protocol:
    return status_in(session).protocol


def protocol_status(db: Database) -> ProtocolStatus:
    with db.read() as session:
        return status_in(session)


def current_protocol(db: Database) -> Protocol:
    """The clinic's protocol, or the shipped default when none is stored (or it is unreadable)."""
    return protocol_status(db).protocol


def check_protocol_text(text: str, origin: str | None = None) -> Protocol:
    """Parse a candidate protocol; raises ProtocolError naming the line and key."""
    return load_protocol(text, origin=origin)


def save_protocol(db: Database, actor: Actor, text: str, reason: str, origin: str | None = None) -> SavedProtocol:
    """Store `text` as the clinic's protocol. Refused (nothing stored) without EDIT_PROTOCOL
    (PermissionDenied), without a reason (InputRefused), or when the text is invalid
    (ProtocolError with its line)."""
    require(actor, Permission.EDIT_PROTOCOL)
    reason = (reason or "").strip()
    if not reason:
        raise InputRefused([FieldProblem("reason", tr("Give a reason for changing the clinic protocol"))])
    if len(reason) > MAX_REASON:
        raise InputRefused([FieldProblem("reason", tr("The reason must be at most {n} characters").format(n=MAX_REASON))])
    protocol = load_protocol(text, origin=origin)
    with db.write() as session:
        row = _stored_row(session)
        old_text = row.value if row is not None else None
        now = utcnow()
        clinic_settings.store_setting(session, PROTOCOL_SETTING_KEY, text, WriteStamp(actor.name, now))
        AuditWriter(session, actor.name).append(
            "update", "protocol", old={"text": old_text, "default": old_text is None},
            new={"text": text, "sha256": text_digest(text)}, reason=reason, at=now,
        )
    return SavedProtocol(protocol)


def save_units(db: Database, actor: Actor, units: DisplayUnits, reason: str) -> SavedProtocol:
    """Change only the protocol's [units] table (the unit the clinic reads and types per
    measure): the protocol in force is saved again with its new table, by `save_protocol` (so
    with its permission, reason and audit entry). Values and thresholds are not touched."""
    require(actor, Permission.EDIT_PROTOCOL)
    status = protocol_status(db)
    base = status.text if status.problem is None else default_protocol_text()
    return save_protocol(db, actor, with_units(base, units), reason, origin=tr("clinic protocol"))


def changed_settings(old: Protocol, new: Protocol) -> list[tuple[str, float | int, float | int]]:
    """(key, old value, new value) of every setting that differs, in file order."""
    return [(s.key, s.value, getattr(new, s.key)) for s in old.describe() if getattr(new, s.key) != s.value]
