"""The workstation's display preferences: theme and language, in `preferences.toml` in the user's
config folder (beside `session.toml` and `backup.toml`).

Owns the two keys, their allowed values and the file; the app reads them at start. The language
is stored now and applied at the next start by the translations (issue 15); `system` follows the
operating system. An unreadable file or an unknown value gives the default, never an error.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from poems_monitor.config import app_paths
from poems_monitor.settings_catalog import PREFERENCES_FILE

THEMES = ("system", "light", "dark", "high-contrast")
LANGUAGES = ("system", "en", "fr", "ja")  # System, English, Français, 日本語
LANGUAGE_NAMES = {"system": "System", "en": "English", "fr": "Français", "ja": "日本語"}  # each in its own language


@dataclass(frozen=True)
class Preferences:
    theme: str = "system"
    language: str = "system"


def preferences_path() -> Path:
    return app_paths().config / PREFERENCES_FILE


def load_preferences() -> Preferences:
    try:
        values = tomllib.loads(preferences_path().read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        values = {}
    theme, language = values.get("theme"), values.get("language")
    return Preferences(theme if theme in THEMES else "system", language if language in LANGUAGES else "system")


def save_preferences(preferences: Preferences) -> Path:
    if preferences.theme not in THEMES or preferences.language not in LANGUAGES:
        raise ValueError(f"unknown theme or language: {preferences}")
    path = preferences_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".toml.new")
    staged.write_text(
        "# poems-monitor: this workstation's display preferences (read at start).\n"
        f"# theme: {', '.join(THEMES)}; language: {', '.join(LANGUAGES)} (system follows the operating system).\n"
        f"theme = {json.dumps(preferences.theme)}\nlanguage = {json.dumps(preferences.language)}\n", encoding="utf-8")
    os.replace(staged, path)
    return path


def chosen_theme() -> str:
    """The theme to apply at start, one of THEMES: POEMS_MONITOR_THEME first, then the preference."""
    forced = os.environ.get("POEMS_MONITOR_THEME", "").lower()
    return forced if forced in THEMES else load_preferences().theme


def dark_theme() -> bool | None:
    """Dark (the high-contrast theme is light on black) or light; None follows the system."""
    return {"dark": True, "light": False, "high-contrast": True}.get(chosen_theme())


def high_contrast_theme() -> bool | None:
    """The high-contrast theme or not; None (theme "system") follows the system's contrast setting."""
    return {"dark": False, "light": False, "high-contrast": True}.get(chosen_theme())
