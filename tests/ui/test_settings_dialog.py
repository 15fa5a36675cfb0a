"""File › Settings… driven from the keyboard: idle lock, automatic backups, theme and language are
saved where the app reads them; a wrong field is refused with a sentence naming it and its rule,
saving nothing; Cancel saves nothing; Ctrl+, opens it from the main window."""

from __future__ import annotations


import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QPushButton

from poems_monitor.config import app_paths
from poems_monitor.services import backup, preferences
from poems_monitor.ui.idle_lock import idle_lock_minutes
from poems_monitor.ui.settings_dialog import SettingsDialog


def _type(qtbot, widget, text: str) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(widget, Qt.Key.Key_Delete)
    qtbot.keyClicks(widget, text)


@pytest.fixture
def dialog(qtbot):
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _config_files() -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in app_paths().config.glob("*") if f.is_file()}


def test_settings_are_saved_where_the_app_reads_them(qtbot, dialog, tmp_path):
    assert dialog.idle_edit.text() == "10" and dialog.theme_combo.currentText() == "System"
    _type(qtbot, dialog.idle_edit, "25")
    _type(qtbot, dialog.folder_edit, str(tmp_path / "backups"))
    _type(qtbot, dialog.keep_daily_edit, "14")
    _type(qtbot, dialog.keep_monthly_edit, "24")
    dialog.theme_combo.setFocus()
    qtbot.keyClick(dialog.theme_combo, Qt.Key.Key_End)  # High contrast
    qtbot.keyClick(dialog.theme_combo, Qt.Key.Key_Up)  # Dark
    dialog.language_combo.setFocus()
    qtbot.keyClick(dialog.language_combo, Qt.Key.Key_Down)  # English
    qtbot.keyClick(dialog.language_combo, Qt.Key.Key_Down)  # Français
    qtbot.keyClick(dialog.keep_monthly_edit, Qt.Key.Key_Return)
    assert dialog.result() == dialog.DialogCode.Accepted, dialog.message.text()
    assert idle_lock_minutes() == 25
    assert "sign_in_attempts" in (app_paths().config / "session.toml").read_text()  # its other settings kept
    policy = backup.load_policy()
    assert (policy.folder, policy.keep_daily, policy.keep_monthly) == (tmp_path / "backups", 14, 24)
    assert preferences.load_preferences() == preferences.Preferences("dark", "fr")
    assert preferences.dark_theme() is True
    again = SettingsDialog()  # read back
    qtbot.addWidget(again)
    assert (again.idle_edit.text(), again.language_combo.currentText(), again.theme_combo.currentText()) == (
        "25", "Français", "Dark")


@pytest.mark.parametrize("field, text, sentence", [
    ("idle_edit", "0", "Lock after idle minutes: a whole number of minutes from 1 to 240. Nothing was saved."),
    ("idle_edit", "ten", "Lock after idle minutes: a whole number of minutes from 1 to 240. Nothing was saved."),
    ("keep_daily_edit", "0", "Keep the newest daily backups: a whole number of backups from 1 to 365. Nothing was saved."),
    ("keep_monthly_edit", "-1", "Keep one per month for: a whole number of months from 0 to 120. Nothing was saved."),
    ("folder_edit", "", "Backup folder: choose a folder for the automatic backups. Nothing was saved."),
    ("folder_edit", "relative/folder",
     "Backup folder: give a full path (starting from the root of a disk). Nothing was saved."),
])
def test_a_wrong_field_is_named_with_its_rule_and_nothing_is_saved(qtbot, dialog, field, text, sentence):
    idle_lock_minutes()  # the session file exists, as after any start
    before = _config_files()
    _type(qtbot, dialog.idle_edit, "30")  # a valid change that must not be saved either
    _type(qtbot, getattr(dialog, field), text)
    qtbot.keyClick(getattr(dialog, field), Qt.Key.Key_Return)
    assert dialog.result() != dialog.DialogCode.Accepted
    assert dialog.message.text() == sentence
    assert _config_files() == before


def test_a_backup_folder_that_is_a_file_is_refused(qtbot, dialog, tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    _type(qtbot, dialog.folder_edit, str(a_file))
    qtbot.keyClick(dialog.folder_edit, Qt.Key.Key_Return)
    assert dialog.message.text() == f"Backup folder: {a_file} is a file, not a folder. Nothing was saved."


def test_cancel_changes_nothing(qtbot, dialog):
    idle_lock_minutes()
    before = _config_files()
    _type(qtbot, dialog.idle_edit, "45")
    dialog.theme_combo.setFocus()
    qtbot.keyClick(dialog.theme_combo, Qt.Key.Key_End)
    qtbot.keyClick(dialog.theme_combo, Qt.Key.Key_Escape)
    assert dialog.result() == dialog.DialogCode.Rejected
    assert _config_files() == before and idle_lock_minutes() == 10
    assert preferences.load_preferences() == preferences.Preferences()


def test_every_input_has_an_accessible_name(dialog):
    inputs = dialog.findChildren(QLineEdit) + dialog.findChildren(QComboBox) + [
        b for b in dialog.findChildren(QPushButton) if b.text() not in ("&OK", "&Cancel", "OK", "Cancel")]
    assert [w.objectName() for w in inputs if not w.accessibleName()] == []


def test_ctrl_comma_opens_settings_from_the_main_window_and_applies_the_idle_lock(qtbot, db, admin):
    from poems_monitor.ui.main_window import MainWindow

    window = MainWindow(db, admin, idle_lock_ms=600_000, background=False, remember_layout=False, signed_in=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    seen = []

    def fill_and_ok() -> None:
        dialog = QApplication.activeModalWidget()
        seen.append(dialog.windowTitle())
        _type(qtbot, dialog.idle_edit, "3")
        qtbot.keyClick(dialog.idle_edit, Qt.Key.Key_Return)

    QTimer.singleShot(200, fill_and_ok)
    window.actions_by_name["settings"].trigger()  # what Ctrl+, does
    assert seen == ["Settings"]
    assert window.actions_by_name["settings"].shortcut().toString() == "Ctrl+,"
    assert window.lock_controller.idle_watcher.timeout_ms == 180_000


def test_the_clinic_database_is_chosen_in_the_connection_dialog_and_saved_with_ok(qtbot, dialog, tmp_path):
    from poems_monitor.services import connection_profiles as cp

    assert dialog.connection_label.text() == "Asked at start (no connection chosen yet)."

    def choose_a_file() -> None:
        chooser = QApplication.activeModalWidget()
        _type(qtbot, chooser.file_edit, str(tmp_path / "day-unit.sqlite"))
        _type(qtbot, chooser.name_edit, "Day unit")
        qtbot.keyClick(chooser.name_edit, Qt.Key.Key_Return)

    QTimer.singleShot(200, choose_a_file)
    dialog.connection_button.setFocus()
    qtbot.keyClick(dialog.connection_button, Qt.Key.Key_Space)
    assert dialog.connection_label.text().startswith(f"Day unit: {tmp_path / 'day-unit.sqlite'}")
    assert cp.last_used_profile() is None  # not before OK
    qtbot.keyClick(dialog.idle_edit, Qt.Key.Key_Return)
    assert cp.last_used_profile().path == str(tmp_path / "day-unit.sqlite")
    assert not (tmp_path / "day-unit.sqlite").exists()  # chosen for the next start, not opened now
