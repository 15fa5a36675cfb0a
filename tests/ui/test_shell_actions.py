"""The declared commands on their own, on a plain window: the menus and the toolbar read as they
always did, a command's shortcut calls its slot, and a command follows the role, a read-only
database and the sign-in (a clinic server's database no longer disables Back up and Restore:
tests/integration/test_server_backup_window.py); the main window shows exactly these menus."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from poems_monitor.services.access import Actor, Role
from poems_monitor.ui.shell.actions import Allowed, action_specs, build_actions, build_menus

ADMIN, NURSE, PHYSICIAN = Actor("boss", Role.ADMIN), Actor("ann", Role.NURSE), Actor("berg", Role.PHYSICIAN)

MENUS = [
    ("File", ["New patient…", "New visit", "Save visit\tCtrl+S", "---", "Import lab results (CSV)…", "---",
              "Back up now…", "Restore…", "Check database", "Accounts…", "Settings…", "Clinic units…", "---", "Lock", "Sign out / switch user…", "---",
              "Quit"]),
    ("Patient", ["Find patient", "Dashboard", "Visit entry", "History of changes…", "Add treatment…", "Add event…", "---",
                 "Print preview of the summary…", "Print the summary…", "Save the summary as PDF…", "Export a chart…"]),
    ("View", ["Patients", "Clinic worklist", "To review", "Refresh"]),
    ("Help", ["User guide", "Keyboard shortcuts", "About poems-monitor"]),
]
TOOLBAR = ["Patients", "Clinic worklist", "To review", "---", "New patient…", "New visit", "Add treatment…", "Add event…",
           "History of changes…"]


def _plain(text: str) -> str:
    return text.replace("&", "")


def menus_of(window: QMainWindow) -> list[tuple[str, list[str]]]:
    return [(_plain(top.text()), ["---" if a.isSeparator() else _plain(a.text()) for a in top.menu().actions()])
            for top in window.menuBar().actions()]


def _build(qtbot, allowed: Allowed):  # noqa: ANN001, ANN202
    window = QMainWindow()
    qtbot.addWidget(window)
    called: list[str] = []
    slots = {spec.key: (lambda key=spec.key: called.append(key)) for spec in action_specs()}
    actions = build_actions(window, slots, allowed)
    toolbar = build_menus(window, actions)
    return window, actions, toolbar, called


def test_menus_and_toolbar_are_laid_out_from_the_declared_commands(qtbot):
    window, actions, toolbar, _ = _build(qtbot, Allowed(ADMIN, read_only=False, signed_in=True))
    assert menus_of(window) == MENUS
    assert ["---" if a.isSeparator() else _plain(a.text()) for a in toolbar.actions()] == TOOLBAR
    assert all(a.isEnabled() for a in actions.values())
    assert actions["patients"].isChecked() and actions["worklist"].isCheckable()
    assert actions["new_visit"].statusTip() == "Enter a new visit for the selected patient"
    assert actions["find"].statusTip() == "Find patient"  # (the text, without its mnemonic)


def test_a_shortcut_calls_its_slot_and_the_views_are_exclusive(qtbot):
    window, actions, _, called = _build(qtbot, Allowed(ADMIN, read_only=False, signed_in=True))
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert called == ["lock", "worklist"]
    assert actions["worklist"].isChecked() and not actions["patients"].isChecked()


def test_commands_follow_the_role(qtbot):
    window, actions, _, _ = _build(qtbot, Allowed(NURSE, read_only=False, signed_in=True))
    assert not actions["backup"].isEnabled() and not actions["restore"].isEnabled()
    assert actions["backup"].statusTip().endswith("— not for your role (nurse)")
    assert not actions["accounts"].isVisible()
    assert actions["new_visit"].isEnabled() and actions["import_labs"].isEnabled() and actions["check"].isEnabled()
    assert window.actions() == list(actions.values())  # (every command is the window's: its shortcut works)


@pytest.mark.parametrize("allowed, disabled", [
    (Allowed(PHYSICIAN, read_only=True, signed_in=True),
     {"new_patient", "new_visit", "save", "treatment", "event", "import_labs", "backup", "restore", "accounts"}),
    (Allowed(ADMIN, read_only=False, signed_in=False), {"lock", "sign_out"}),
])
def test_read_only_databases_and_no_sign_in_disable_what_they_must(qtbot, allowed, disabled):
    window, actions, _, _ = _build(qtbot, allowed)
    assert {key for key, action in actions.items() if not action.isEnabled()} == disabled
    assert window.actions() == list(actions.values())


def test_the_main_window_shows_these_menus(qtbot, db):
    from poems_monitor.ui.main_window import MainWindow

    window = MainWindow(db, ADMIN, background=False, remember_layout=False, signed_in=True, backups=True)
    qtbot.addWidget(window)
    assert menus_of(window) == MENUS
    assert ["---" if a.isSeparator() else _plain(a.text()) for a in window.toolbar.actions()] == TOOLBAR
    assert [_plain(a.text()) for a in window.actions()] == [_plain(s.text) for s in action_specs()]
