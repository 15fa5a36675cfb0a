"""The workstation's UI settings (window layout, the features grid's visit order, the last folder
a summary or chart was saved to), in `ui.ini` beside the app's other configuration.

Owns where the file is; each screen owns its own keys.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from poems_monitor.config import app_paths


def settings() -> QSettings:
    path = app_paths().config / "ui.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


LAST_SAVE_FOLDER_KEY = "files/last_save_folder"


def save_folder() -> Path:
    """Where a save dialog (summary PDF, chart) opens: the folder last saved to, else the user's
    documents folder, else the home folder; never the folder the app happened to start in."""
    from PySide6.QtCore import QStandardPaths

    last = settings().value(LAST_SAVE_FOLDER_KEY, "", type=str)
    if last and Path(last).is_dir():
        return Path(last)
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if documents and Path(documents).is_dir():
        return Path(documents)
    return Path.home()


def remember_save_folder(path: Path) -> None:
    settings().setValue(LAST_SAVE_FOLDER_KEY, str(Path(path).parent))
