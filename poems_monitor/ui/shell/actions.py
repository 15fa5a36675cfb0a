"""The main window's commands, declared once: text, shortcut, status tip and who may use each;
the menus and the toolbar are laid out from the same keys.

Owns wording and placement only. What a command does is the window's slot for its key (given to
`build_actions`); who may do what is decided in the services, and a command a role may not use
is disabled here as a courtesy (with the reason in its status tip where the menu shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar

from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor, Permission

Shortcut = str | QKeySequence.StandardKey | None


@dataclass(frozen=True)
class ActionSpec:
    """One command. `permission`: disabled for a role without it; `writes`: disabled on a
    read-only database; `role_note`: a role without the permission reads why in the status tip;
    `hidden_without_permission`: not shown at all to a role without it; `signed_in`: only for a
    user who signed in with a password; `view`: one of the exclusive view choices."""

    key: str
    text: str
    shortcut: Shortcut = None
    tip: str = ""
    permission: Permission | None = None
    writes: bool = False
    role_note: bool = False
    hidden_without_permission: bool = False
    signed_in: bool = False
    view: bool = False
    menu_role: QAction.MenuRole | None = None


def action_specs() -> tuple[ActionSpec, ...]:
    """Every command of the main window, in the order the window creates them."""
    record = Permission.RECORD  # (and writes: disabled on a read-only database)
    return (
        ActionSpec("new_patient", tr("New &patient…"), "Ctrl+Shift+N", permission=record, writes=True),
        ActionSpec("new_visit", tr("New &visit"), QKeySequence.StandardKey.New,
                   tr("Enter a new visit for the selected patient"), permission=record, writes=True),
        ActionSpec("save", tr("&Save visit\tCtrl+S"), None, tr("Save the visit being entered"),
                   permission=record, writes=True),
        ActionSpec("treatment", tr("Add &treatment…"), "Ctrl+T", permission=record, writes=True),
        ActionSpec("event", tr("Add &event…"), "Ctrl+E", permission=record, writes=True),
        ActionSpec("find", tr("&Find patient"), QKeySequence.StandardKey.Find),
        ActionSpec("patients", tr("&Patients"), "Ctrl+1", view=True),
        ActionSpec("worklist", tr("Clinic &worklist"), "Ctrl+2", view=True),
        ActionSpec("dashboard", tr("&Dashboard"), "Ctrl+D"),
        ActionSpec("entry", tr("Visit &entry"), "Ctrl+Shift+E"),
        ActionSpec("review", tr("To &review"), "Ctrl+3",
                   tr("Visits entered by nurses that wait for a physician's sign-off"), view=True),
        ActionSpec("refresh", tr("&Refresh"), QKeySequence.StandardKey.Refresh),
        ActionSpec("history", tr("&History of changes…"), "Ctrl+H",
                   tr("Every change to the selected patient's record: old, new, who, when, why")),
        ActionSpec("backup", tr("&Back up now…"), None,
                   tr("Write a checked copy of the clinic database (administrators)"),
                   permission=Permission.BACKUP, writes=True, role_note=True),
        ActionSpec("restore", tr("&Restore…"), None,
                   tr("Replace the clinic database by a checked backup (administrators; a clinic server's "
                      "database: says how)"),
                   permission=Permission.RESTORE, writes=True, role_note=True),
        ActionSpec("check", tr("&Check database"), None,
                   tr("Full check of the database file, its schema and the audit trail")),
        ActionSpec("import_labs", tr("&Import lab results (CSV)…"), None,
                   tr("Preview every row of a laboratory CSV file, then import all rows or none"),
                   permission=record, writes=True),
        ActionSpec("preview", tr("Print pre&view of the summary…"), None,
                   tr("The printable patient summary, as it will print")),
        ActionSpec("print", tr("&Print the summary…"), QKeySequence.StandardKey.Print),
        ActionSpec("save_pdf", tr("Save the summary as P&DF…"), None,
                   tr("Write the patient summary to a PDF file (A4 or Letter)")),
        ActionSpec("export_chart", tr("E&xport a chart…"), None,
                   tr("Save a dashboard chart as PNG at print resolution, or SVG")),
        ActionSpec("lock", tr("&Lock"), "Ctrl+L", tr("Hide patient data until you sign in again"), signed_in=True),
        ActionSpec("sign_out", tr("Sign &out / switch user…"), "Ctrl+Shift+L",
                   tr("Sign out; you or another user signs in"), signed_in=True),
        ActionSpec("accounts", tr("&Accounts…"), None,
                   tr("Add accounts, change roles, set new passwords, deactivate (administrators)"),
                   permission=Permission.MANAGE_USERS, writes=True, hidden_without_permission=True),
        ActionSpec("settings", tr("S&ettings…"), "Ctrl+,", tr("Idle lock, backups, theme, language, clinic database"),
                   menu_role=QAction.MenuRole.PreferencesRole),
        ActionSpec("units", tr("Clinic &units…"), None,
                   tr("The unit each measure is typed and read in (physicians and administrators change it)")),
        ActionSpec("quit", tr("&Quit"), "Ctrl+Q", menu_role=QAction.MenuRole.QuitRole),
        ActionSpec("about", tr("&About poems-monitor")),
        ActionSpec("guide", tr("&User guide"), "Shift+F1", tr("The user guide, shipped with the program (works offline)")),
        ActionSpec("shortcuts", tr("&Keyboard shortcuts"), QKeySequence.StandardKey.HelpContents,
                   tr("Every keyboard shortcut of this window")),
    )


SEPARATOR = None


def menu_layout() -> tuple[tuple[str, tuple[str | None, ...]], ...]:
    """The menu bar: each menu's title and its commands by key (None: a separator)."""
    return (
        (tr("&File"), ("new_patient", "new_visit", "save", SEPARATOR, "import_labs", SEPARATOR,
                       "backup", "restore", "check", "accounts", "settings", "units", SEPARATOR, "lock", "sign_out", SEPARATOR,
                       "quit")),
        (tr("&Patient"), ("find", "dashboard", "entry", "history", "treatment", "event", SEPARATOR,
                          "preview", "print", "save_pdf", "export_chart")),
        (tr("&View"), ("patients", "worklist", "review", "refresh")),
        (tr("&Help"), ("guide", "shortcuts", "about")),
    )


TOOLBAR = ("patients", "worklist", "review", SEPARATOR, "new_patient", "new_visit", "treatment", "event", "history")


@dataclass(frozen=True)
class Allowed:
    """What the commands' state depends on: who is signed in and how the database was opened."""

    actor: Actor
    read_only: bool
    signed_in: bool

    def enabled(self, spec: ActionSpec) -> bool:
        return ((spec.permission is None or self.actor.may(spec.permission))
                and not (spec.writes and self.read_only)
                and not (spec.signed_in and not self.signed_in))


def build_actions(window: QMainWindow, slots: Mapping[str, Callable[[], object]], allowed: Allowed) -> dict[str, QAction]:
    """Every command as a QAction of `window` (so its shortcut works with the menu bar hidden),
    connected to `slots[key]`, enabled for `allowed`; the views' commands are exclusive."""
    actions: dict[str, QAction] = {}
    group = QActionGroup(window)
    for spec in action_specs():
        action = QAction(spec.text, window)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        action.setStatusTip(spec.tip or spec.text.replace("&", "").rstrip("…"))
        slot = slots[spec.key]
        action.triggered.connect(lambda _checked=False, slot=slot: slot())
        window.addAction(action)
        action.setEnabled(allowed.enabled(spec))
        if spec.permission is not None and not allowed.actor.may(spec.permission):
            if spec.hidden_without_permission:
                action.setVisible(False)
            if spec.role_note:
                action.setStatusTip(action.statusTip() + " — " + tr("not for your role ({role})").format(
                    role=allowed.actor.role.label))
        if spec.menu_role is not None:
            action.setMenuRole(spec.menu_role)
        if spec.view:
            action.setCheckable(True)
            group.addAction(action)
        actions[spec.key] = action
    actions["patients"].setChecked(True)
    return actions


def build_menus(window: QMainWindow, actions: Mapping[str, QAction]) -> QToolBar:
    """The menu bar and the main toolbar from `menu_layout()` and `TOOLBAR`; returns the toolbar."""
    bar = window.menuBar()
    for title, keys in menu_layout():
        menu = bar.addMenu(title)
        for key in keys:
            if key is SEPARATOR:
                menu.addSeparator()
            else:
                menu.addAction(actions[key])
    tools = QToolBar(tr("Main"), window)
    tools.setObjectName("mainToolbar")
    tools.setMovable(False)
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    for key in TOOLBAR:
        if key is SEPARATOR:
            tools.addSeparator()
        else:
            tools.addAction(actions[key])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)
    return tools
