"""Account management by administrators: deactivate, reactivate, change role, reset password.
Each change needs a reason, is audited with who, when and why, keeps the record seal sound
(`check` finds nothing), and the last active administrator can never be managed away."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from poems_monitor.models import AuditEntry
from poems_monitor.services.access import Actor, PermissionDenied, Role
from poems_monitor.services.integrity import check
from poems_monitor.services.users import (
    AccountError, SignInRefused, add_user, authenticate, change_password, change_role, deactivate_user,
    list_users, reactivate_user,
)

BOSS = Actor("boss", Role.ADMIN)


@pytest.fixture
def accounts(db):  # noqa: ANN001, ANN201
    add_user(db, BOSS, "boss", Role.ADMIN, "boss-password")
    add_user(db, BOSS, "nurse-ann", Role.NURSE, "ann-password")
    add_user(db, BOSS, "dr-berg", Role.PHYSICIAN, "berg-password")
    return db


def _last_audit(db):  # noqa: ANN001, ANN202
    with db.read() as session:
        return session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()


def _states(db) -> dict[str, tuple[str, bool]]:  # noqa: ANN001
    return {a.name: (a.role.value, a.active) for a in list_users(db)}


def test_a_deactivated_account_cannot_sign_in_is_kept_and_can_be_reactivated(accounts):
    assert deactivate_user(accounts, BOSS, "nurse-ann", "left the clinic") is True
    entry = _last_audit(accounts)
    assert (entry.user, entry.action, entry.reason) == ("boss", "deactivate", "left the clinic")
    assert json.loads(entry.new) == {"name": "nurse-ann", "active": False} and entry.at is not None
    assert check(accounts) == []
    assert _states(accounts)["nurse-ann"] == ("nurse", False)  # never deleted
    with pytest.raises(SignInRefused, match="not active"):
        authenticate(accounts, "nurse-ann", "ann-password")
    assert deactivate_user(accounts, BOSS, "nurse-ann", "again") is False

    assert reactivate_user(accounts, BOSS, "nurse-ann", "came back") is True
    assert _last_audit(accounts).action == "reactivate"
    assert check(accounts) == []
    assert authenticate(accounts, "nurse-ann", "ann-password").role is Role.NURSE


def test_role_change_is_audited_and_takes_effect_at_the_next_sign_in(accounts):
    assert change_role(accounts, BOSS, "dr-berg", Role.ADMIN, "deputy head of clinic") is True
    entry = _last_audit(accounts)
    assert (entry.action, entry.reason, json.loads(entry.old)["role"], json.loads(entry.new)["role"]) == (
        "role", "deputy head of clinic", "physician", "admin")
    assert check(accounts) == []
    assert authenticate(accounts, "dr-berg", "berg-password").role is Role.ADMIN


def test_the_last_active_admin_is_never_managed_away_and_nobody_deactivates_themself(accounts):
    before = _states(accounts)
    with pytest.raises(AccountError, match="your own account"):
        deactivate_user(accounts, BOSS, "boss", "oops")
    other = Actor("dr-berg", Role.ADMIN)  # even another admin's session: boss is the only active admin stored
    with pytest.raises(AccountError, match="boss is the last active administrator"):
        deactivate_user(accounts, other, "boss", "reorganisation")
    with pytest.raises(AccountError, match="last active administrator and keeps"):
        change_role(accounts, BOSS, "boss", Role.PHYSICIAN, "reorganisation")
    assert _states(accounts) == before

    change_role(accounts, BOSS, "dr-berg", Role.ADMIN, "second administrator")
    assert change_role(accounts, BOSS, "boss", Role.PHYSICIAN, "back to clinical work") is True
    assert check(accounts) == []


def test_changes_need_a_reason_and_an_administrator_and_refused_ones_write_nothing(accounts):
    head = _last_audit(accounts).id
    with pytest.raises(AccountError, match="needs a reason"):
        deactivate_user(accounts, BOSS, "nurse-ann", "  ")
    with pytest.raises(AccountError, match="needs a reason"):
        change_role(accounts, BOSS, "nurse-ann", Role.PHYSICIAN, "")
    with pytest.raises(PermissionDenied):
        deactivate_user(accounts, Actor("dr-berg", Role.PHYSICIAN), "nurse-ann", "why not")
    with pytest.raises(PermissionDenied):
        change_role(accounts, Actor("nurse-ann", Role.NURSE), "nurse-ann", Role.ADMIN, "promotion")
    with pytest.raises(AccountError, match="no account named ghost"):
        change_role(accounts, BOSS, "ghost", Role.NURSE, "typo")
    assert _last_audit(accounts).id == head
    assert _states(accounts)["nurse-ann"] == ("nurse", True)


def test_an_admin_resets_a_password_with_a_reason(accounts):
    change_password(accounts, BOSS, "nurse-ann", "fresh-password", reason="forgotten, identity checked in person")
    entry = _last_audit(accounts)
    assert (entry.user, entry.action, entry.reason) == ("boss", "password", "forgotten, identity checked in person")
    assert "fresh-password" not in (entry.new or "")
    assert check(accounts) == []
    authenticate(accounts, "nurse-ann", "fresh-password")


def test_the_command_line_deactivates_reactivates_and_changes_roles_with_a_reason(tmp_path):
    from tests.integration.test_identity import password_file, run

    db = str(tmp_path / "clinic.sqlite")
    assert run("users", "add", "boss", "--role", "admin", "--db", db, "--user", "boss", stdin="boss-password-1\n")[0] == 0
    boss = ("--db", db, "--user", "boss", "--password-file", password_file(tmp_path, "boss"))
    assert run("users", "add", "ann", "--role", "nurse", *boss, stdin="nurse-password-1\n")[0] == 0

    code, _, err = run("users", "deactivate", "boss", "--reason", "leaving", *boss)
    assert code == 1 and "your own account" in err and "nothing was changed" in err
    code, out, err = run("users", "deactivate", "ann", "--reason", "left the clinic", *boss)
    assert code == 0 and "ann is now deactivated" in out, err
    code, out, _ = run("users", "list", "--db", db)
    assert "ann   nurse  (inactive)" in out
    ann = ("--db", db, "--user", "ann", "--password-file", password_file(tmp_path, "ann"))
    code, _, err = run("users", "passwd", "ann", *ann, stdin="another-password\n")
    assert code == 1 and "not active" in err

    code, out, err = run("users", "reactivate", "ann", "--reason", "came back", *boss)
    assert code == 0 and "ann is now active" in out, err
    code, out, err = run("users", "role", "ann", "physician", "--reason", "qualified", *boss)
    assert code == 0 and "ann is now physician" in out, err
    code, _, err = run("users", "role", "boss", "nurse", "--reason", "x", *boss)
    assert code == 1 and "last active administrator" in err
    assert [(a.name, a.role.value, a.active) for a in _list(db)] == [("ann", "physician", True), ("boss", "admin", True)]


def _list(path: str):  # noqa: ANN202
    from poems_monitor.persistence.db import open_database

    database = open_database(path)
    try:
        assert check(database) == []
        return list_users(database)
    finally:
        database.dispose()


def test_check_would_see_a_role_changed_behind_the_services_back(accounts):
    """The `check == []` above can fail: the same change made outside the service is reported."""
    from sqlalchemy import update

    from poems_monitor.models import User

    with accounts.write() as session:
        session.execute(update(User.__table__).where(User.__table__.c.name == "nurse-ann").values(role="admin"))
    assert check(accounts), "a role changed without the service went unnoticed"


def test_a_session_signed_in_before_its_account_was_deactivated_can_save_nothing_more(accounts):
    """The desktop session of nurse-ann stays open while an administrator deactivates her
    account: her next save is refused in the write itself, and nothing is written."""
    from datetime import date

    from poems_monitor.services.patients import PatientInput, create_patient

    ann = authenticate(accounts, "nurse-ann", "ann-password")  # signed in at the start of the day
    create_patient(accounts, ann, PatientInput("H-1", "Before Deactivation", "female", date(1970, 1, 1),
                                               date(2024, 1, 1)), today=date(2026, 11, 21))
    deactivate_user(accounts, BOSS, "nurse-ann", "left the clinic")
    before = _last_audit(accounts).id
    with pytest.raises(PermissionDenied, match="nurse-ann is deactivated"):
        create_patient(accounts, ann, PatientInput("H-2", "After Deactivation", "female", date(1970, 1, 1),
                                                   date(2024, 1, 1)), today=date(2026, 11, 21))
    assert _last_audit(accounts).id == before and check(accounts) == []
    reactivate_user(accounts, BOSS, "nurse-ann", "came back")
    create_patient(accounts, ann, PatientInput("H-2", "After Reactivation", "female", date(1970, 1, 1),
                                               date(2024, 1, 1)), today=date(2026, 11, 21))
