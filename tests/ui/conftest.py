"""Fixtures shared by the screen tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtWidgets import QApplication

from poems_monitor.ui.entry import VisitEntryForm
from tests.conftest import TODAY


@pytest.fixture
def open_entry_form(qtbot) -> Callable[..., VisitEntryForm]:
    """`open_entry_form(db, user, size=(1400, 900))`: the visit entry form on `db` for `user` as of
    TODAY, shown at `size` and made the active window, so typed keys reach it."""
    def open_form(db, user, size: tuple[int, int] = (1400, 900)) -> VisitEntryForm:  # noqa: ANN001
        widget = VisitEntryForm(db, user, today=TODAY)
        qtbot.addWidget(widget)
        widget.resize(*size)
        widget.show()
        qtbot.waitExposed(widget)
        widget.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is widget, timeout=3000)
        return widget
    return open_form
