"""File › Settings… (Ctrl+,): this workstation's settings in one dialog.

Owns only the dialog. The settings stay where they already live: the idle lock in `session.toml`
(`ui.idle_lock`), automatic backups in `backup.toml` (`services.backup`), theme and language in
`preferences.toml` (`services.preferences`), the clinic database in `connections.toml`
(`services.connection_profiles`, through the connection dialog). OK checks every field first and
names the field and its rule when one is wrong, saving nothing; Cancel saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import os
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.services import backup, preferences
from poems_monitor.services import connection_profiles as cp
from poems_monitor.ui.accessibility import described, label_controls
from poems_monitor.ui.idle_lock import (
    MAX_IDLE_LOCK_MINUTES, MIN_IDLE_LOCK_MINUTES, idle_lock_minutes, save_idle_lock_minutes,
)

KEEP_DAILY_RANGE = (1, 365)  # at least one automatic backup is kept: 0 would delete each one made
KEEP_MONTHLY_RANGE = (0, 120)


class SettingsRefused(ValueError):
    """A field that breaks its rule; the message names the field and the rule."""


@dataclass(frozen=True)
class WorkstationSettings:
    idle_lock_minutes: int
    backup_folder: Path
    keep_daily: int
    keep_monthly: int
    theme: str
    language: str


def _whole_number(text: str, field: str, low: int, high: int, unit: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise SettingsRefused(tr("{field}: a whole number of {unit} from {low} to {high}.").format(
            field=field, unit=unit, low=low, high=high))
    return value


def _backup_folder(text: str) -> Path:
    if not text.strip():
        raise SettingsRefused(tr("Backup folder: choose a folder for the automatic backups."))
    folder = Path(text.strip()).expanduser()
    if not folder.is_absolute():
        raise SettingsRefused(tr("Backup folder: give a full path (starting from the root of a disk)."))
    if folder.exists() and not folder.is_dir():
        raise SettingsRefused(tr("Backup folder: {folder} is a file, not a folder.").format(folder=folder))
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        raise SettingsRefused(tr("Backup folder: {folder} cannot be written by you.").format(folder=folder))
    return folder


class SettingsDialog(QDialog):
    """`exec()` it; on OK every setting was checked and saved (`saved` holds what was written)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("Settings"))
        self.setModal(True)
        self.setMinimumWidth(700)
        self.saved: WorkstationSettings | None = None
        self._connection: cp.ConnectionProfile | None = None
        policy = backup.load_policy()
        prefs = preferences.load_preferences()
        layout = QVBoxLayout(self)

        def labelled(form: QFormLayout, text: str, widget: QWidget, description: str,
                     field: QWidget | QHBoxLayout | None = None) -> None:
            """A form row: `text` labels `widget` (its buddy, and its name for a screen reader,
            given by `label_controls` below), described by `description`."""
            label = QLabel(text)
            label.setBuddy(described(widget, description))
            form.addRow(label, field if field is not None else widget)

        session_box = QGroupBox(tr("Session"))
        session_form = QFormLayout(session_box)
        self.idle_edit = QLineEdit(str(idle_lock_minutes()))
        self.idle_edit.setObjectName("idle_lock_minutes")
        labelled(session_form, tr("&Lock after idle minutes"), self.idle_edit,
                 tr("The window locks after this many minutes without input ({low} to {high}; the DEFAULT 10 is not "
                    "from any standard)").format(low=MIN_IDLE_LOCK_MINUTES, high=MAX_IDLE_LOCK_MINUTES))
        layout.addWidget(session_box)

        backup_box = QGroupBox(tr("Automatic backups (of a clinic file, when the app closes)"))
        backup_form = QFormLayout(backup_box)
        self.folder_edit = QLineEdit(str(policy.folder))
        self.folder_edit.setObjectName("backup_folder")
        self.folder_button = QPushButton(tr("&Choose…"))
        self.folder_button.setAccessibleName(tr("Choose the backup folder"))
        self.folder_button.setAutoDefault(False)
        self.folder_button.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.folder_button)
        labelled(backup_form, tr("Backup &folder"), self.folder_edit,
                 tr("Where the automatic backups are written"), folder_row)
        self.keep_daily_edit = QLineEdit(str(policy.keep_daily))
        self.keep_daily_edit.setObjectName("keep_daily")
        labelled(backup_form, tr("&Keep the newest daily backups"), self.keep_daily_edit,
                 tr("How many of the newest daily backups are kept"))
        self.keep_monthly_edit = QLineEdit(str(policy.keep_monthly))
        self.keep_monthly_edit.setObjectName("keep_monthly")
        labelled(backup_form, tr("Keep one per &month for"), self.keep_monthly_edit,
                 tr("How many months keep their newest backup besides the daily ones"))
        layout.addWidget(backup_box)

        look_box = QGroupBox(tr("Display (applied at the next start)"))
        look_form = QFormLayout(look_box)
        self.theme_combo = QComboBox()
        self.theme_combo.setObjectName("theme")
        for value, text in (("system", tr("System")), ("light", tr("Light")), ("dark", tr("Dark")),
                            ("high-contrast", tr("High contrast"))):
            self.theme_combo.addItem(text, value)
        self.theme_combo.setCurrentIndex(preferences.THEMES.index(prefs.theme))
        labelled(look_form, tr("&Theme"), self.theme_combo,
                 tr("System follows the operating system's light or dark and contrast settings"))
        self.language_combo = QComboBox()
        self.language_combo.setObjectName("language")
        for value in preferences.LANGUAGES:
            self.language_combo.addItem(tr("System") if value == "system" else preferences.LANGUAGE_NAMES[value], value)
        self.language_combo.setCurrentIndex(preferences.LANGUAGES.index(prefs.language))
        labelled(look_form, tr("Lan&guage"), self.language_combo,
                 tr("The language of the app's text from the next start; System follows the operating system"))
        layout.addWidget(look_box)

        server_box = QGroupBox(tr("Clinic database"))
        server_form = QFormLayout(server_box)
        self.connection_label = QLabel(self._connection_text(cp.last_used_profile()))
        self.connection_label.setWordWrap(True)
        self.connection_label.setObjectName("connection")
        self.connection_button = QPushButton(tr("Clinic &server or file…"))
        self.connection_button.setAccessibleName(tr("Choose the clinic server or file"))
        self.connection_button.setAutoDefault(False)
        self.connection_button.clicked.connect(self._choose_connection)
        row = QHBoxLayout()
        row.addWidget(self.connection_label, 1)
        row.addWidget(self.connection_button)
        labelled(server_form, tr("Opened at start"), self.connection_button,
                 tr("The clinic file or server this workstation opens at the next start"), row)
        layout.addWidget(server_box)

        self.message = QLabel("")
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        self.message.setAccessibleName(tr("Message"))
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setDefault(True)
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        for edit in (self.idle_edit, self.keep_daily_edit, self.keep_monthly_edit):
            edit.setMaximumWidth(120)  # a number of a few digits, not a line of text
        label_controls(self)
        self.idle_edit.setFocus()

    @staticmethod
    def _connection_text(profile: cp.ConnectionProfile | None) -> str:
        if profile is None:
            return tr("Asked at start (no connection chosen yet).")
        return tr("{name}: {where}").format(name=profile.name, where=profile.describe())

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Folder for the automatic backups"), self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _choose_connection(self) -> None:
        from poems_monitor.ui.connection_dialog import choose_connection

        chosen = choose_connection(self, preselect=self._connection or cp.last_used_profile())
        if chosen is not None:
            self._connection = chosen[0]  # saved with OK; its password is not kept
            self.connection_label.setText(self._connection_text(self._connection) + " " + tr("(from the next start)"))

    def values(self) -> WorkstationSettings:
        """Every field checked, or SettingsRefused naming the first wrong one."""
        return WorkstationSettings(
            idle_lock_minutes=_whole_number(self.idle_edit.text(), tr("Lock after idle minutes"), MIN_IDLE_LOCK_MINUTES,
                                            MAX_IDLE_LOCK_MINUTES, tr("minutes")),
            backup_folder=_backup_folder(self.folder_edit.text()),
            keep_daily=_whole_number(self.keep_daily_edit.text(), tr("Keep the newest daily backups"), *KEEP_DAILY_RANGE,
                                     tr("backups")),
            keep_monthly=_whole_number(self.keep_monthly_edit.text(), tr("Keep one per month for"), *KEEP_MONTHLY_RANGE,
                                       tr("months")),
            theme=self.theme_combo.currentData(), language=self.language_combo.currentData())

    def _submit(self) -> None:
        try:
            chosen = self.values()
        except SettingsRefused as exc:
            self.message.setText(tr("{rule} Nothing was saved.").format(rule=exc))
            self.adjustSize()  # the sentence shown whole
            return
        save_idle_lock_minutes(chosen.idle_lock_minutes)
        backup.save_policy(replace(backup.load_policy(), folder=chosen.backup_folder, keep_daily=chosen.keep_daily,
                                   keep_monthly=chosen.keep_monthly))
        preferences.save_preferences(preferences.Preferences(chosen.theme, chosen.language))
        if self._connection is not None:
            cp.remember_last_used(self._connection)
        self.saved = chosen
        self.accept()


def open_settings(window: QWidget, apply_idle_lock: Callable[[int], None] | None = None) -> None:
    """File › Settings…: show the dialog; the saved idle lock applies at once through
    `apply_idle_lock(ms)` (given by a window whose idle lock runs), else at the next sign-in."""
    dialog = SettingsDialog(window)
    if dialog.exec() == QDialog.DialogCode.Accepted and dialog.saved is not None and apply_idle_lock is not None:
        apply_idle_lock(dialog.saved.idle_lock_minutes * 60_000)
