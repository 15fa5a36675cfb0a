"""The workstation's UI settings (window layout, the features grid's visit order, the last folder
a summary or chart was saved to), in `ui.ini` beside the app's other configuration.

Owns where the file is and how a setting is read and written; the keys, types and defaults are
declared once in `poems_monitor.settings_catalog`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from poems_monitor.config import app_paths
from poems_monitor.settings_catalog import LAST_SAVE_FOLDER, UI_FILE, Setting, T


def settings() -> QSettings:
    path = app_paths().config / UI_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


def read(setting: Setting[T], store: QSettings | None = None) -> T:
    """The stored value of `setting`, or its default when none is stored."""
    store = store or settings()
    if setting.kind in (bool, int, str):  # an INI file stores text: QSettings converts it back
        return store.value(setting.key, setting.default, type=setting.kind)
    value = store.value(setting.key)
    return setting.default if value is None else value


def write(setting: Setting[T], value: T, store: QSettings | None = None) -> None:
    (store or settings()).setValue(setting.key, value)


def save_folder() -> Path:
    """Where a save dialog (summary PDF, chart) opens: the folder last saved to, else the user's
    documents folder, else the home folder; never the folder the app happened to start in."""
    from PySide6.QtCore import QStandardPaths

    last = read(LAST_SAVE_FOLDER)
    if last and Path(last).is_dir():
        return Path(last)
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if documents and Path(documents).is_dir():
        return Path(documents)
    return Path.home()


def remember_save_folder(path: Path) -> None:
    write(LAST_SAVE_FOLDER, str(Path(path).parent))
