"""Shared test set-up: offscreen Qt before anything imports it, isolated user folders, and
real SQLite databases in tmp_path (never mocks of the database)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

# Must happen before Qt loads, or pytest-qt aborts the whole run without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests explore new random inputs on developers' machines (that is how they find bugs)
# but replay a fixed set in CI, so that a submission lands or fails on its own merits.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

TODAY = date(2026, 11, 21)  # fixed "today" so tests do not change with the calendar


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Settings, logs and backups of the tests never touch the real user's folders."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("POEMS_MONITOR_HOME", str(home))
    return home


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "clinic.sqlite"


@pytest.fixture
def db(db_path):
    from poems_monitor.persistence.db import open_database

    database = open_database(db_path)
    yield database
    database.dispose()


@pytest.fixture
def admin():
    from poems_monitor.services.access import Actor, Role

    return Actor("test-admin", Role.ADMIN)


@pytest.fixture
def nurse():
    from poems_monitor.services.access import Actor, Role

    return Actor("nurse-ann", Role.NURSE)


@pytest.fixture
def physician():
    from poems_monitor.services.access import Actor, Role

    return Actor("dr-berg", Role.PHYSICIAN)


@pytest.fixture
def told(monkeypatch):
    """Qt message boxes (information, warning, critical) answered at once; what they said is
    collected, in order, for the test to assert on."""
    from PySide6.QtWidgets import QMessageBox

    said: list[str] = []

    def box(_parent, _title, text, *_a, **_k):  # noqa: ANN001, ANN002, ANN003
        said.append(text)
        return QMessageBox.StandardButton.Ok

    for name in ("information", "warning", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(box))
    return said
