"""The lock controller on its own, on a small real window: locking hides the content, disables
the window's commands and hides its toolbars; the same user unlocks with the password typed at
the keyboard and the commands come back as they were; another user's sign-in goes to the
session's hook, after confirming the unsaved work; the idle timer locks; other open windows
are covered and, on a switch of user, closed."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMainWindow, QMessageBox, QToolBar

from poems_monitor.services.access import Actor, Role
from poems_monitor.services.users import add_user
from poems_monitor.ui.shell.lock_controller import LockController

ANN, BERG = Actor("ann", Role.NURSE), Actor("berg", Role.PHYSICIAN)
PASSWORDS = {"ann": "nurse-password", "berg": "doctor-password"}


@pytest.fixture
def accounts(db):
    setup = Actor("set-up", Role.ADMIN)
    add_user(db, setup, "ann", Role.NURSE, PASSWORDS["ann"])
    add_user(db, setup, "berg", Role.PHYSICIAN, PASSWORDS["berg"])
    return db


class SmallWindow(QMainWindow):
    """A window with patient data, two commands (one disabled before the lock) and a toolbar."""

    def __init__(self, db, *, signed_in: bool = True, unsaved: str | None = None):  # noqa: ANN001
        super().__init__()
        self.setWindowTitle("clinic — ann (nurse)[*]")
        self.content = QLabel("Patient S-1: platelets 512")
        self.save = QAction("Save", self)
        self.delete = QAction("Delete", self)
        self.delete.setEnabled(False)
        self.addAction(self.save)
        self.addAction(self.delete)
        self.menuBar().addMenu("File").addAction(self.save)
        self.tools = QToolBar("Main", self)
        self.tools.addAction(self.save)
        self.addToolBar(self.tools)
        self.unsaved = unsaved
        self.locking = LockController(self, self.content, db, ANN, signed_in=signed_in,
                                      unsaved_entry=lambda: self.unsaved)


def _small(qtbot, db, **kwargs) -> SmallWindow:  # noqa: ANN001
    window = SmallWindow(db, **kwargs)
    qtbot.addWidget(window)
    window.resize(700, 500)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_lock_hides_the_content_and_the_same_user_unlocks_with_the_password(qtbot, accounts):
    window = _small(qtbot, accounts)
    locking = window.locking
    changes: list[bool] = []
    locking.lockedChanged.connect(changes.append)
    locking.lock()
    assert locking.locked and locking.stack.currentWidget() is locking.panel and not window.content.isVisible()
    assert not window.save.isEnabled() and not window.menuBar().isEnabled() and not window.tools.isVisible()
    assert "locked" in window.windowTitle() and "ann (nurse)" not in window.windowTitle()
    assert locking.panel.name_edit.text() == "ann"

    qtbot.keyClicks(locking.panel.password_edit, "not-it")
    qtbot.keyClick(locking.panel.password_edit, Qt.Key.Key_Return)
    assert locking.locked and "wrong" in locking.panel.message.text()
    qtbot.keyClicks(locking.panel.password_edit, PASSWORDS["ann"])
    qtbot.keyClick(locking.panel.password_edit, Qt.Key.Key_Return)
    assert not locking.locked and window.content.isVisible() and window.tools.isVisible()
    assert window.save.isEnabled() and not window.delete.isEnabled()  # as they were before the lock
    assert window.menuBar().isEnabled() and window.windowTitle() == "clinic — ann (nurse)[*]"
    assert changes == [True, False]


def test_sign_out_words_the_panel_and_locking_again_changes_nothing(qtbot, accounts):
    window = _small(qtbot, accounts)
    locking = window.locking
    locking.lock()
    locking.lock(signed_out=True)  # Sign out while already locked: the panel says so
    assert locking.panel.heading.text() == "Signed out" and locking.panel.name_edit.text() == ""
    assert locking.panel.unlock_button.text() == "Sign in"


def test_another_user_is_refused_without_a_session_and_handed_over_with_one(qtbot, accounts):
    window = _small(qtbot, accounts)
    locking = window.locking
    locking.lock()
    assert locking.try_unlock("berg", PASSWORDS["berg"]) is False
    assert "Only ann can unlock" in locking.panel.message.text() and locking.locked
    handed: list[Actor] = []
    locking.switch_user_handler = handed.append
    assert locking.try_unlock("berg", PASSWORDS["berg"]) is True
    assert handed == [BERG]  # nothing unsaved: no question asked


def test_unsaved_work_is_named_and_cancel_keeps_the_window_locked(qtbot, accounts):
    window = _small(qtbot, accounts, unsaved="a visit being entered for S-1")
    locking = window.locking
    handed: list[Actor] = []
    locking.switch_user_handler = handed.append
    locking.lock(signed_out=True)
    asked: list[str] = []

    def answer(button: str) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, lambda: answer(button))
            return
        asked.append(box.text())
        chosen = next(b for b in box.buttons() if button in b.text())
        qtbot.mouseClick(chosen, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, lambda: answer("Cancel"))
    assert locking.try_unlock("berg", PASSWORDS["berg"]) is False
    assert "a visit being entered for S-1" in asked[0] and locking.locked and handed == []
    assert "Still locked for ann" in locking.panel.message.text()
    QTimer.singleShot(0, lambda: answer("Discard and sign in as berg"))
    assert locking.try_unlock("berg", PASSWORDS["berg"]) is True
    assert handed == [BERG]


def test_the_idle_timer_locks_only_a_signed_in_window(qtbot, accounts):
    signed_in = _small(qtbot, accounts)
    signed_in.locking.set_idle_lock(300)
    qtbot.waitUntil(lambda: signed_in.locking.locked, timeout=3000)
    assert signed_in.locking.panel.explanation.text().startswith("Locked after")
    demo = _small(qtbot, accounts, signed_in=False)
    demo.locking.set_idle_lock(300)
    assert demo.locking.idle_watcher is None
    qtbot.wait(500)
    assert not demo.locking.locked


def test_other_windows_are_covered_and_closed_before_a_switch_of_user(qtbot, accounts):
    window = _small(qtbot, accounts)
    other = QDialog()
    qtbot.addWidget(other)
    other.resize(400, 300)
    other.show()
    qtbot.waitExposed(other)
    window.locking.lock()
    covers = window.locking.covers
    assert [c.window for c in covers] == [other]
    assert covers[0].panel.isVisible() and covers[0].panel.geometry() == other.rect()
    other.resize(500, 360)  # the cover follows the window's size
    qtbot.waitUntil(lambda: covers[0].panel.geometry() == other.rect())
    assert window.locking.unsaved_work() == ["1 open dialog"]
    window.locking.close_covered_dialogs()
    assert not other.isVisible() and window.locking.covers == []
