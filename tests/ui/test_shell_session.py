"""The desktop session on its own: a window belongs to one user; switching user builds a new
window for the new actor, closes the dialogs the previous user left open
and the old window, without its close-time backup."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from poems_monitor.services.access import Actor, Role
from poems_monitor.services.backup import automatic_backups, backup_set_folder
from poems_monitor.services.users import add_user
from poems_monitor.ui.shell.session import DesktopSession
from tests.conftest import TODAY

ANN, BERG = Actor("ann", Role.NURSE), Actor("berg", Role.PHYSICIAN)


def test_switching_user_replaces_the_window_and_closes_the_previous_users_dialogs(qtbot, db):
    setup = Actor("set-up", Role.ADMIN)
    add_user(db, setup, "ann", Role.NURSE, "nurse-password")
    add_user(db, setup, "berg", Role.PHYSICIAN, "doctor-password")
    session = DesktopSession(db, ANN, idle_lock_ms=None, backups=True, as_of=TODAY, background=False,
                             remember_layout=False)
    old = session.window
    qtbot.addWidget(old)
    assert old.signed_in and old.lock_controller.switch_user_handler == session.switch_user
    old.resize(980, 660)
    old.show()
    qtbot.waitExposed(old)
    left_open = QDialog(old)
    left_open.show()
    old.lock(signed_out=True)
    changed = []
    session.windowChanged.connect(changed.append)

    new = session.switch_user(BERG)
    qtbot.addWidget(new)
    assert session.window is new and session.actor == BERG and changed == [new]
    assert new.isVisible() and not new.locked and "berg (physician)" in new.windowTitle()
    assert not left_open.isVisible()
    qtbot.waitUntil(lambda: not old.isVisible())
    assert automatic_backups(backup_set_folder(db.path), db.path.stem) == []  # the app is not closing
