"""Help › User guide: the guide shipped with the program (resources/guide/index.html), shown
offline in a window of its own; links inside the guide work, nothing is fetched.

Owns the dialog and the menu action; the main window only calls `add_user_guide_action`.
"""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMenu, QTextBrowser, QVBoxLayout, QWidget

from poems_monitor import shipped
from poems_monitor.i18n import tr


class UserGuideDialog(QDialog):
    """The guide in a text browser; not modal, so the guide stays open beside the work."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("poems-monitor user guide"))
        self.resize(900, 680)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)  # offline: only the guide's own pages and anchors
        self.browser.setOpenLinks(True)
        self.browser.setAccessibleName(tr("User guide"))
        guide = shipped.find(shipped.GUIDE_INDEX)
        if guide is None:
            self.browser.setPlainText(tr(
                "The user guide is not installed with this copy of poems-monitor. It is part of the "
                "bundle and of the source code (resources/guide/index.html)."))
        else:
            self.browser.setSource(QUrl.fromLocalFile(str(guide)))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)


def open_user_guide(window: QWidget) -> UserGuideDialog:
    """Show `window`'s one guide window (made on first use), in front."""
    dialog = getattr(window, "_user_guide", None)
    if dialog is None:
        dialog = window._user_guide = UserGuideDialog(window)  # type: ignore[attr-defined]
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def add_user_guide_action(window: QWidget, menu: QMenu) -> QAction:
    """Help › User guide (Shift+F1), placed first in the Help menu; opens one guide window."""
    action = QAction(tr("&User guide"), window)
    action.setShortcut(QKeySequence("Shift+F1"))
    action.setStatusTip(tr("The user guide, shipped with the program (works offline)"))

    action.triggered.connect(lambda _checked=False: open_user_guide(window))
    window.addAction(action)
    first = menu.actions()[0] if menu.actions() else None
    menu.insertAction(first, action)
    return action
