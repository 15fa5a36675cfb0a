"""Clinic-wide settings kept in the database (`clinic_setting`: key, text value, who set it
when), such as the clinic's protocol and the audit chain's recorded head.

One row per key; storing a key again replaces its value and its who/when (the audit trail
keeps the old value).
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlmodel import Session

from poems_monitor.models import ClinicSetting
from poems_monitor.persistence.repositories.statements import changed_rows
from poems_monitor.persistence.repositories.timelines import WriteStamp

setting_table = ClinicSetting.__table__


def find_setting(session: Session, key: str) -> Row | None:
    """The setting `key` (`value`, `updated_at`, `updated_by`), or None when it was never set."""
    return session.execute(select(setting_table.c.value, setting_table.c.updated_at, setting_table.c.updated_by)
                           .where(setting_table.c.key == key)).first()


def store_setting(session: Session, key: str, value: str, stamp: WriteStamp) -> None:
    """Set `key` to `value`, set by `stamp.user` at `stamp.at`."""
    stored = changed_rows(session, update(setting_table).where(setting_table.c.key == key).values(
        value=value, updated_at=stamp.at, updated_by=stamp.user))
    if stored == 0:
        session.execute(insert(setting_table).values(key=key, value=value, updated_at=stamp.at, updated_by=stamp.user))
