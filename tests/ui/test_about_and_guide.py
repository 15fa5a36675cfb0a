"""Help › About (version, licence, third-party licences) and Help › User guide (offline)."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QMainWindow

from poems_monitor import shipped
from poems_monitor.ui.about_dialog import AboutDialog
from poems_monitor.ui.user_guide import UserGuideDialog, add_user_guide_action


def test_about_shows_version_licence_and_the_installed_distributions(qtbot):
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    text = dialog.summary.text()
    assert f"poems-monitor {shipped.version()}" in text
    assert "GPL-3.0-or-later" in text and "version 3 or later" in text
    assert "not clinical guidance" in text
    dialog.tabs.setCurrentIndex(1)
    licences = dialog.licences.toPlainText()
    for name in ("PySide6_Essentials", "pyqtgraph", "SQLAlchemy", "alembic"):
        assert f"- {name} " in licences, name
    assert "LGPL-3.0" in licences  # Qt's licence, which a bundle must pass on
    assert dialog.licences.isReadOnly()


def test_about_in_a_bundle_shows_the_licences_the_build_collected(qtbot, tmp_path, monkeypatch):
    (tmp_path / shipped.LICENCES_NAME).write_text("Third-party software in this build\n- onlyhere 1.0: MIT\n",
                                                 encoding="utf-8")
    monkeypatch.setattr(shipped, "PACKAGE_RESOURCES", tmp_path)
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert "- onlyhere 1.0: MIT" in dialog.licences.toPlainText()


def test_help_menu_opens_the_shipped_guide_and_its_links_work(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    menu = window.menuBar().addMenu("&Help")
    menu.addAction("&About poems-monitor")
    action = add_user_guide_action(window, menu)
    assert menu.actions()[0] is action  # first in the Help menu
    assert action.shortcut().toString() == "Shift+F1"
    window.show()
    action.trigger()
    dialog = window._user_guide
    assert dialog.isVisible()
    page = dialog.browser.toPlainText()
    assert "poems-monitor user guide" in page and "Entering a visit" in page
    assert dialog.browser.source().isLocalFile()  # offline: the shipped file, no network
    # an internal link scrolls within the same guide
    dialog.browser.setSource(QUrl(dialog.browser.source().toString() + "#backup"))
    assert "Backups, restore" in dialog.browser.toPlainText()
    action.trigger()  # a second time: the same window, not a new one
    assert window._user_guide is dialog


def test_guide_missing_says_so(qtbot, monkeypatch):
    monkeypatch.setattr(shipped, "find", lambda relative: None)
    dialog = UserGuideDialog()
    qtbot.addWidget(dialog)
    assert "not installed" in dialog.browser.toPlainText()
