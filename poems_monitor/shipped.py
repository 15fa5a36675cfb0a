"""Files shipped beside the code: the build stamp, the app icon, the user guide and the
third-party licences, found in a frozen bundle or in a source checkout.

The build (`packaging/build.py`) copies the top-level `resources/` people edit (icons, guide)
into the bundle's `poems_monitor/resources/` and writes `build-stamp.json` and
`THIRD-PARTY-LICENSES.txt` there. From a source checkout the same relative name is looked up in
the package first, then in the checkout's top-level `resources/`. No Qt here: the command line
and the services read the stamp too.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

PACKAGE_RESOURCES = Path(__file__).parent / "resources"
CHECKOUT_RESOURCES = Path(__file__).parent.parent / "resources"
STAMP_NAME = "build-stamp.json"
LICENCES_NAME = "THIRD-PARTY-LICENSES.txt"
APP_ICON = "icons/poems-monitor.svg"
GUIDE_INDEX = "guide/index.html"
LICENCE = "GPL-3.0-or-later"
APP_ID = "org.poems_monitor.PoemsMonitor"  # the desktop entry, AppStream id and icon name


def frozen() -> bool:
    """True inside a bundle built by PyInstaller (no sources, only bytecode in an archive)."""
    return bool(getattr(sys, "frozen", False))


def find(relative: str) -> Path | None:
    """The shipped file `relative` (e.g. "icons/poems-monitor.svg"), or None when neither the
    bundle nor the checkout has it (a wheel install carries no guide: say so, do not crash)."""
    for base in (PACKAGE_RESOURCES, CHECKOUT_RESOURCES):
        path = base / relative
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def build_stamp() -> dict | None:
    """What the build recorded (version, rules fingerprint, commit, glibc), or None outside a bundle."""
    path = PACKAGE_RESOURCES / STAMP_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def version() -> str:
    """The program's version: the build stamp's, else the installed distribution's."""
    stamp = build_stamp()
    if stamp and stamp.get("version"):
        return str(stamp["version"])
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("poems-monitor")
    except PackageNotFoundError:
        return "unknown"
