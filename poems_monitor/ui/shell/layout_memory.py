"""The main window's remembered layout: its size and place, toolbars, and splitter positions.

Owns the keys under which the layout is kept in the user's Qt settings (`ui.ui_settings`). The
first start, with nothing remembered, gives the window most of the screen, centred: the dashboard
needs room for its charts.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter

from poems_monitor.ui.ui_settings import settings

GEOMETRY, STATE = "main/geometry", "main/state"


def restore_layout(window: QMainWindow, splitters: Mapping[str, QSplitter]) -> None:
    """Put `window` and its `splitters` (by settings key) back as they were last saved."""
    s = settings()
    geometry = s.value(GEOMETRY)
    if geometry is not None:
        window.restoreGeometry(geometry)
    else:
        first_run_geometry(window)
    state = s.value(STATE)
    if state is not None:
        window.restoreState(state)
    for key, splitter in splitters.items():
        value = s.value(key)
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


def save_layout(window: QMainWindow, splitters: Mapping[str, QSplitter]) -> None:
    s = settings()
    s.setValue(GEOMETRY, window.saveGeometry())
    s.setValue(STATE, window.saveState())
    for key, splitter in splitters.items():
        s.setValue(key, splitter.saveState())
    s.sync()
