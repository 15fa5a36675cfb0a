"""Where things live on this workstation: the default database, settings, logs and backups.

Owns the folders (from platformdirs, so each operating system gets its usual places) and
nothing else. Every path can be overridden: `--db` on the command line, or the environment
variable POEMS_MONITOR_HOME to put data, settings, logs and backups under one folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "poems-monitor"


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path
    logs: Path
    backups: Path

    @property
    def default_database(self) -> Path:
        return self.data / "poems-monitor.sqlite"


def app_paths() -> Paths:
    home = os.environ.get("POEMS_MONITOR_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root / "data", root / "config", root / "logs", root / "backups")
    data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return Paths(
        data=data,
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        backups=data / "backups",
    )
