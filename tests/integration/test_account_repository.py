"""The accounts repository (`persistence.repositories.accounts`) on a real SQLite clinic: names
are found exactly, the list is in name order, and a changed column is stored for that account
only."""

from __future__ import annotations

from datetime import datetime, timezone

from poems_monitor.persistence.repositories import accounts

AT = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)


def test_accounts_are_added_found_by_exact_name_and_listed_in_name_order(db):
    with db.write() as session:
        assert accounts.account_count(session) == 0
        zoe = accounts.add_account(session, "zoe", "nurse", "hash-z", AT)
        accounts.add_account(session, "adam", "admin", "hash-a", AT)
    with db.read() as session:
        assert accounts.account_count(session) == 2
        assert [a.name for a in accounts.accounts_by_name(session)] == ["adam", "zoe"]
        found = accounts.find_account(session, "zoe")
        assert (found.id, found.role, found.active, found.password_hash) == (zoe, "nurse", True, "hash-z")
        assert accounts.find_account(session, "Zoe") is None  # exact: names are typed as made
        assert accounts.account_by_id(session, zoe).name == "zoe"


def test_a_changed_column_is_stored_for_that_account_only(db):
    with db.write() as session:
        adam = accounts.add_account(session, "adam", "admin", "hash-a", AT)
        eve = accounts.add_account(session, "eve", "admin", "hash-e", AT)
        accounts.update_account(session, eve, active=False, failed_sign_ins=3)
    with db.read() as session:
        assert accounts.active_names_with_role(session, "admin") == ["adam"]
        assert accounts.active_names_with_role(session, "nurse") == []
        changed, untouched = accounts.account_by_id(session, eve), accounts.account_by_id(session, adam)
    assert (changed.active, changed.failed_sign_ins) == (False, 3)
    assert (untouched.active, untouched.failed_sign_ins or 0) == (True, 0)
