"""The main window's remembered layout: its size and place, toolbars, and splitter positions.

Keeps the layout in the user's Qt settings (`ui.ui_settings`) under the keys declared in
`settings_catalog` (window geometry and state; each splitter names its own setting). The
first start, with nothing remembered, gives the window most of the screen, centred: the dashboard
needs room for its charts.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter

from poems_monitor.settings_catalog import WINDOW_GEOMETRY, WINDOW_STATE, Setting
from poems_monitor.ui.ui_settings import read, settings, write


def restore_layout(window: QMainWindow, splitters: Mapping[Setting[bytes | None], QSplitter]) -> None:
    """Put `window` and its `splitters` (by the setting each is kept under) back as they were
    last saved."""
    s = settings()
    geometry = read(WINDOW_GEOMETRY, s)
    if geometry is not None:
        window.restoreGeometry(geometry)
    else:
        first_run_geometry(window)
    state = read(WINDOW_STATE, s)
    if state is not None:
        window.restoreState(state)
    for setting, splitter in splitters.items():
        value = read(setting, s)
        if value is not None:
            splitter.restoreState(value)


def first_run_geometry(window: QMainWindow) -> None:
    """Most of the screen, centred: the dashboard needs room for its charts."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None:
        return
    area = screen.availableGeometry()
    width, height = int(area.width() * 0.9), int(area.height() * 0.9)
    window.resize(width, height)
    window.move(area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2)


def save_layout(window: QMainWindow, splitters: Mapping[Setting[bytes | None], QSplitter]) -> None:
    s = settings()
    write(WINDOW_GEOMETRY, window.saveGeometry(), s)
    write(WINDOW_STATE, window.saveState(), s)
    for setting, splitter in splitters.items():
        write(setting, splitter.saveState(), s)
    s.sync()
