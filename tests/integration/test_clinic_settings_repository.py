"""Clinic settings through `persistence.repositories.clinic_settings` on a real SQLite clinic:
a key never set is absent, storing it twice keeps one row with the newest value, who and when."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from poems_monitor.persistence.repositories import clinic_settings
from poems_monitor.persistence.repositories.timelines import WriteStamp

FIRST = WriteStamp("dr-eva", datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc))
LATER = WriteStamp("dr-max", datetime(2026, 5, 2, 10, 30, tzinfo=timezone.utc))


def test_a_setting_is_stored_once_per_key_with_its_newest_value(db):
    with db.write() as session:
        assert clinic_settings.find_setting(session, "test.key") is None
        clinic_settings.store_setting(session, "test.key", "first", FIRST)
        clinic_settings.store_setting(session, "test.other", "other", FIRST)
    with db.write() as session:
        clinic_settings.store_setting(session, "test.key", "second", LATER)
    with db.read() as session:
        stored = clinic_settings.find_setting(session, "test.key")
        other = clinic_settings.find_setting(session, "test.other")
        table = clinic_settings.setting_table
        rows = session.execute(select(func.count()).select_from(table).where(table.c.key == "test.key")).scalar_one()
    assert (stored.value, stored.updated_by) == ("second", "dr-max")
    assert stored.updated_at.replace(tzinfo=timezone.utc) == LATER.at
    assert (other.value, other.updated_by) == ("other", "dr-eva")
    assert rows == 1
