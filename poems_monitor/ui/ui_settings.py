"""The workstation's UI settings (window layout, the features grid's visit order, the last folder
a summary was saved to), in `ui.ini` beside the app's other configuration.

Owns where the file is; each screen owns its own keys.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from poems_monitor.config import app_paths


def settings() -> QSettings:
    path = app_paths().config / "ui.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)
