"""Help › Keyboard shortcuts: every shortcut the window really has, read from its QActions and
QShortcuts when the dialog opens (never a hand-kept list that goes stale).

Owns the collection and the dialog. An action gives its own words; a QShortcut gives its
`whatsThis` (set it where the shortcut is made), else the name of the widget it works in. Keys a
widget handles itself (a feature's P/A/N, a flag's Ctrl+C) are declared by that widget with
`declare_keys`, beside the code that handles them, and collected the same way. The parts built on
first use (the visit entry form) are built before the collection (`MainWindow.build_lazy_parts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from poems_monitor.i18n import tr


@dataclass(frozen=True)
class ShortcutRow:
    keys: str  # as the platform writes them ("Ctrl+Shift+N")
    does: str
    where: str


KEY_HINTS_PROPERTY = "poemsKeyHints"


def key_text(key: Qt.Key | str | QKeySequence.StandardKey) -> str:
    """A key as the platform writes it ("Del", "Ctrl+C")."""
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


def declare_keys(widget: QWidget, hints: list[tuple[str, str, str]]) -> None:
    """Keys `widget` handles itself (in keyPressEvent or an event filter), as (keys, does, where),
    for Help › Keyboard shortcuts. Declared where the keys are handled, from the same table."""
    widget.setProperty(KEY_HINTS_PROPERTY, [list(h) for h in hints])


def _plain(text: str) -> str:
    return text.split("\t", 1)[0].replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def _where(widget: QWidget | None, window: QWidget) -> str:
    """Where a shortcut works: everywhere in the window, or in the named part of it."""
    if widget is None or widget is window:
        return tr("everywhere")
    while widget is not None and widget is not window:
        name = widget.accessibleName() or (widget.windowTitle() if widget.isWindow() else "")
        if name:
            return name
        widget = widget.parentWidget()
    return tr("everywhere")


def collect_shortcuts(window: QWidget) -> list[ShortcutRow]:
    """Every key sequence bound in `window` (its actions and QShortcuts, in every child), sorted."""
    rows: set[ShortcutRow] = set()
    build_lazy = getattr(window, "build_lazy_parts", None)
    if build_lazy is not None:
        build_lazy()  # their shortcuts exist only once they are built
    for action in window.findChildren(QAction):
        text = _plain(action.text())
        if not text:
            continue
        for sequence in action.shortcuts():
            if not sequence.isEmpty():
                owner = action.parent() if isinstance(action.parent(), QWidget) else None
                rows.add(ShortcutRow(sequence.toString(QKeySequence.SequenceFormat.NativeText), text,
                                     _where(owner, window)))
    for shortcut in window.findChildren(QShortcut):
        if not shortcut.isEnabled():
            continue
        parent = shortcut.parent() if isinstance(shortcut.parent(), QWidget) else None
        for sequence in shortcut.keys():
            if sequence.isEmpty():
                continue
            does = shortcut.whatsThis() or tr("the default action of {part}").format(part=_where(parent, window))
            rows.add(ShortcutRow(sequence.toString(QKeySequence.SequenceFormat.NativeText), does,
                                 _where(parent, window)))
    for widget in window.findChildren(QWidget):
        for keys, does, where in widget.property(KEY_HINTS_PROPERTY) or ():
            rows.add(ShortcutRow(keys, does, where))
    return sorted(rows, key=lambda r: (r.where != tr("everywhere"), r.where, r.keys))


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setWindowTitle(tr("Keyboard shortcuts"))
        self.rows = collect_shortcuts(window)
        self.table = QTableWidget(len(self.rows), 3, self)
        self.table.setHorizontalHeaderLabels([tr("Keys"), tr("Does"), tr("Where")])
        self.table.setAccessibleName(tr("Keyboard shortcuts"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for r, row in enumerate(self.rows):
            for c, text in enumerate((row.keys, row.does, row.where)):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        note = QLabel(tr("Also: Alt + the underlined letter of a menu, button or field; Tab and Shift+Tab move "
                         "between fields."), self)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(640, 560)
