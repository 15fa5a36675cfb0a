"""Every setting of a workstation, declared once: its file, key, type, default and limits.

As Picard's `options.py` does, the readers and writers name a declaration here instead of
spelling a key and a default where they use it. Two files in the user's config folder hold them:
- `ui.ini` (QSettings, written by the app): the screens' layout and choices, read and written
  through `ui.ui_settings.read` / `write`;
- `session.toml` (written once with its DEFAULTs and an explanation, then edited by the clinic):
  the idle lock (`ui.idle_lock`) and the sign-in lock-out (`services.users`).
The clinic's protocol (thresholds, intervals) is not a workstation setting: it lives in the
clinic database and is declared in `domain.protocol.SPECS`. No Qt here: services read it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

UI_FILE = "ui.ini"
SESSION_FILE = "session.toml"
PREFERENCES_FILE = "preferences.toml"  # theme and language (services.preferences; read by i18n)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """A value the app keeps in `ui.ini`."""

    key: str  # as stored: keys of saved files never change, or the saved value is lost
    kind: type  # what the stored value is read as
    default: T  # what a missing value gives
    description: str
    file: str = UI_FILE


@dataclass(frozen=True)
class SessionSetting:
    """A whole number the clinic may set in `session.toml`; missing, unusable or outside
    `limits` (inclusive), the DEFAULT applies, so a typo never switches a lock off."""

    key: str
    default: int
    limits: tuple[int, int]
    description: str
    file: str = SESSION_FILE


# --- ui.ini ----------------------------------------------------------------------------------
# Window layout: Qt's own opaque bytes (saveGeometry, saveState); None = never saved (first run).
WINDOW_GEOMETRY: Setting[bytes | None] = Setting("main/geometry", bytes, None,
                                                 "the main window's size and place")
WINDOW_STATE: Setting[bytes | None] = Setting("main/state", bytes, None, "the main window's docks and bars")
MAIN_SPLITTER: Setting[bytes | None] = Setting("main/splitter", bytes, None,
                                               "the patient list's width beside the screens")
DASHBOARD_SPLITTER: Setting[bytes | None] = Setting("dashboard/splitter", bytes, None,
                                                    "the dashboard's split between charts and panels")
FEATURES_NEWEST_FIRST: Setting[bool] = Setting("features/newest_first", bool, False,
                                               "the features grid shows the newest visit first")
LAST_SAVE_FOLDER: Setting[str] = Setting("files/last_save_folder", str, "",
                                         "where a summary or chart was last saved")

# --- session.toml (DEFAULTs for a shared clinic workstation, not values from any standard) -----
IDLE_LOCK_MINUTES = SessionSetting("idle_lock_minutes", 10, (1, 240), "minutes without input before the window locks")
SIGN_IN_ATTEMPTS = SessionSetting("sign_in_attempts", 5, (3, 20), "wrong passwords in a row that lock an account")
SIGN_IN_LOCK_MINUTES = SessionSetting("sign_in_lock_minutes", 15, (1, 1440), "how long a locked account stays locked")

SETTINGS: tuple[Setting | SessionSetting, ...] = (
    WINDOW_GEOMETRY, WINDOW_STATE, MAIN_SPLITTER, DASHBOARD_SPLITTER, FEATURES_NEWEST_FIRST, LAST_SAVE_FOLDER,
    IDLE_LOCK_MINUTES, SIGN_IN_ATTEMPTS, SIGN_IN_LOCK_MINUTES,
)
