"""A signed-in desktop session: the database, who is signed in, and the main window built for them.

Owns one rule: a window belongs to one user. When another user signs in at the lock panel (after
the previous user's unsaved work was confirmed discarded), the session closes the dialogs that
belonged to the previous user, builds a new main window for the new actor in the same place and
closes the old one without its close-time checks and without a backup (the app is not closing).
Nothing saved is touched. The first sign-in at start is `ui.login_dialog`; this module takes over
from there.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from PySide6.QtCore import QObject, Signal

from poems_monitor.services.access import Actor
from poems_monitor.services.clinic_database import Database
from poems_monitor.ui.main_window import MainWindow

log = logging.getLogger(__name__)


class DesktopSession(QObject):
    windowChanged = Signal(object)  # the new MainWindow after a switch of user

    def __init__(self, db: Database, actor: Actor, *, idle_lock_ms: int | None, backups: bool = True,
                 read_only: bool = False, as_of: date | None = None, background: bool = True,
                 remember_layout: bool = True, defer_until_painted: bool = False):
        super().__init__()
        self.db = db
        self._options: dict[str, Any] = dict(idle_lock_ms=idle_lock_ms, backups=backups, read_only=read_only, as_of=as_of,
                             background=background, remember_layout=remember_layout,
                             defer_until_painted=defer_until_painted)
        self.window = self._build(actor)

    @property
    def actor(self) -> Actor:
        return self.window.actor

    def _build(self, actor: Actor) -> MainWindow:
        window = MainWindow(self.db, actor, signed_in=True, **self._options)
        window.lock_controller.switch_user_handler = self.switch_user
        return window

    def switch_user(self, actor: Actor) -> MainWindow:
        """Replace the window by one for `actor` (the lock panel checked the password already)."""
        old = self.window
        old.lock_controller.close_covered_dialogs()
        new = self._build(actor)
        new.restoreGeometry(old.saveGeometry())
        self.window = new
        if old.isVisible():
            new.show()
        old.skip_close_checks = True
        old.close()
        old.deleteLater()
        log.info("switched user")
        self.windowChanged.emit(new)
        return new
