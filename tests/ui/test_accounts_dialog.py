"""File › Accounts… driven as an administrator does it, by keyboard: add an account, change a
role, deactivate with a reason; a refused change (no reason, the last administrator) shows the
service's sentence in the form and changes nothing. Non-administrators do not see the action."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from poems_monitor.models import AuditEntry
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.integrity import check
from poems_monitor.services.users import add_user, authenticate, list_users
from poems_monitor.ui.accounts_dialog import AccountChangeForm, AccountsDialog
from poems_monitor.ui.main_window import MainWindow

BOSS = Actor("boss", Role.ADMIN)


@pytest.fixture
def accounts(db):  # noqa: ANN001, ANN201
    add_user(db, BOSS, "boss", Role.ADMIN, "boss-password")
    add_user(db, BOSS, "nurse-ann", Role.NURSE, "ann-password")
    return db


def in_form(qtbot, steps):  # noqa: ANN001, ANN201
    """Run `steps(form)` on the account form once it is open (it is modal); returns what was seen."""
    seen: list[str] = []

    def act() -> None:
        form = QApplication.activeModalWidget()
        if not isinstance(form, AccountChangeForm):
            QTimer.singleShot(20, act)
            return
        try:
            seen.extend(steps(form) or [])
        finally:
            if form.isVisible():  # a step that failed must fail the test, not leave it waiting on the form
                form.reject()

    QTimer.singleShot(0, act)
    return seen


def type_into(qtbot, widget, text: str) -> None:  # noqa: ANN001
    widget.setFocus()
    qtbot.keyClicks(widget, text)


def show(qtbot, dialog: AccountsDialog) -> None:  # noqa: ANN001
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()  # the buttons' Alt+letter work in the active window only
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5000)


def states(db) -> dict[str, tuple[str, bool]]:  # noqa: ANN001
    return {a.name: (a.role.value, a.active) for a in list_users(db)}


def test_an_admin_adds_changes_the_role_and_deactivates_by_keyboard(qtbot, accounts):
    dialog = AccountsDialog(accounts, BOSS)
    qtbot.addWidget(dialog)
    show(qtbot, dialog)
    assert [dialog.model.data(dialog.model.index(r, 0)) for r in range(dialog.model.rowCount())] == ["boss", "nurse-ann"]

    def add(form: AccountChangeForm) -> list[str]:
        type_into(qtbot, form.name, "dr-cole")
        form.role.setFocus()
        qtbot.keyClicks(form.role, "p")  # physician, chosen by typing its first letter
        type_into(qtbot, form.password, "cole-password")
        type_into(qtbot, form.repeat, "cole-password")
        qtbot.keyClick(form.repeat, Qt.Key.Key_Return)  # no reason yet: refused, form stays
        refused = [form.problem.text()] if form.isVisible() else []
        type_into(qtbot, form.reason, "new consultant")
        qtbot.keyClick(form.reason, Qt.Key.Key_Return)
        return refused

    seen = in_form(qtbot, add)
    qtbot.keyClick(dialog.table, Qt.Key.Key_A, Qt.KeyboardModifier.AltModifier)  # Alt+A: Add… (an animated click)
    qtbot.waitUntil(lambda: "created" in dialog.status.text(), timeout=5000)
    assert seen == ["Adding an account needs a reason"]
    assert states(accounts)["dr-cole"] == ("physician", True)
    assert dialog.selected().name == "dr-cole" and "created" in dialog.status.text()
    assert authenticate(accounts, "dr-cole", "cole-password").role is Role.PHYSICIAN

    dialog.reload("nurse-ann")
    show(qtbot, dialog)  # active again after the form closed (offscreen does not hand it back)
    assert dialog.active_button.text() == "&Deactivate…"

    def deactivate(form: AccountChangeForm) -> None:
        type_into(qtbot, form.reason, "left the clinic")
        qtbot.keyClick(form.reason, Qt.Key.Key_Return)

    in_form(qtbot, deactivate)
    qtbot.keyClick(dialog.table, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)  # Alt+D: Deactivate…
    qtbot.waitUntil(lambda: "deactivated" in dialog.status.text(), timeout=5000)
    assert states(accounts)["nurse-ann"] == ("nurse", False)
    table_row = [dialog.model.data(dialog.model.index(dialog.table.currentIndex().row(), c)) for c in range(3)]
    assert table_row == ["nurse-ann", "nurse", "no (deactivated)"]
    assert dialog.active_button.text() == "Re&activate…"
    with accounts.read() as session:
        entry = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    assert (entry.user, entry.action, entry.reason, json.loads(entry.new)["name"]) == (
        "boss", "deactivate", "left the clinic", "nurse-ann")
    assert check(accounts) == []


def test_the_last_admin_cannot_be_demoted_and_the_form_says_why(qtbot, accounts):
    dialog = AccountsDialog(accounts, BOSS)
    qtbot.addWidget(dialog)
    show(qtbot, dialog)
    dialog.reload("boss")

    def demote(form: AccountChangeForm) -> list[str]:
        form.role.setFocus()
        qtbot.keyClicks(form.role, "n")
        type_into(qtbot, form.reason, "reorganisation")
        qtbot.keyClick(form.reason, Qt.Key.Key_Return)
        sentence = form.problem.text() if form.isVisible() and form.problem.isVisible() else ""
        qtbot.keyClick(form.reason, Qt.Key.Key_Escape)
        return [sentence]

    seen = in_form(qtbot, demote)
    qtbot.mouseClick(dialog.role_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == ["boss is the last active administrator and keeps the administrator role"]
    assert states(accounts)["boss"] == ("admin", True)


def test_only_administrators_see_the_accounts_action(qtbot, accounts):
    for actor, visible in ((BOSS, True), (Actor("nurse-ann", Role.NURSE), False)):
        win = MainWindow(accounts, actor)
        qtbot.addWidget(win)
        action = win.actions_by_name["accounts"]
        assert action.isVisible() is visible and action.isEnabled() is visible
        assert (win.commands.manage_accounts() is not None) is visible
