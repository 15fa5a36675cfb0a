"""Locking a window: what locking hides, who may unlock, and handing over to another user.

Owns the lock state of one main window. Locked, the window shows the lock panel instead of its
content, every action of the window is disabled, the menu bar too and the toolbars are hidden;
the app's other open windows (history, dialogs, message boxes) are covered by a lock panel of
their own and stay open underneath, so nothing typed in them is lost. The same user unlocks with
their password; another user's sign-in goes to the session (`switch_user_handler`, a new window
for them) after the previous user's unsaved work was confirmed discarded. The idle watcher locks
after the configured time without input. Password checks are `services.users`; the panel and the
watcher are `ui.idle_lock`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication, QDialog, QMainWindow, QMessageBox, QStackedWidget, QToolBar, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import counted, tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.access import Actor
from poems_monitor.services.users import SignInRefused, authenticate

if TYPE_CHECKING:
    from poems_monitor.ui.idle_lock import IdleWatcher, LockPanel

log = logging.getLogger(__name__)


class CoverKeeper(QObject):
    """Keeps a lock panel covering the whole of another window while it is resized."""

    def __init__(self, window: QWidget, panel: QWidget):
        super().__init__(window)
        self._covered: QWidget | None = window
        self._panel = panel
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        covered: QWidget | None = getattr(self, "_covered", None)  # (None while Python tears the object down)
        if covered is not None and watched is covered and event.type() == QEvent.Type.Resize:
            self._panel.setGeometry(covered.rect())
        return False

    def release(self) -> None:
        """Stop following the window. (Not deleted here: it goes with its window; deleting an event
        filter from Python while the filtered window lives crashed PySide 6.11 in a nested loop.)"""
        covered, self._covered = self._covered, None
        if covered is not None:
            covered.removeEventFilter(self)


class UnlockWindow(QDialog):
    """The sign-in form on top of a modal window at lock time; it cannot be dismissed, only unlocked."""

    def __init__(self, owner: QWidget):
        # owned by the main window: dropping the Python reference while one of its own key presses
        # is being handled (Return in the password field) must not delete it under Qt's feet
        super().__init__(owner, Qt.WindowType.Dialog | Qt.WindowType.WindowTitleHint)
        self.done_with = False

    def reject(self) -> None:  # Escape: stays
        if self.done_with:
            super().reject()

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        if self.done_with:
            super().closeEvent(event)
        else:
            event.ignore()


class Cover(NamedTuple):
    """Another window covered by a lock panel while the main window is locked."""

    window: QWidget
    panel: LockPanel
    keeper: CoverKeeper


class LockController(QObject):
    """The lock of `window`, whose central widget becomes a stack of `content` and the lock panel.

    `signed_in`: the actor signed in with a password (only then does the window lock when idle);
    `unsaved_entry()`: what the window would lose on a switch of user, in words (None: nothing).
    """

    lockedChanged = Signal(bool)

    def __init__(self, window: QMainWindow, content: QWidget, db: Database, actor: Actor, *, signed_in: bool,
                 unsaved_entry: Callable[[], str | None] = lambda: None):
        super().__init__(window)
        self._window = window
        self._content = content
        self.db = db
        self.actor = actor
        self.signed_in = signed_in
        self._unsaved_entry = unsaved_entry
        self.locked = False
        self.signed_out = False
        self.covers: list[Cover] = []
        self.unlock_window: UnlockWindow | None = None  # the sign-in form when a modal window was open at lock time
        # the session's hook: sign in another user (a new window for them)
        self.switch_user_handler: Callable[[Actor], object] | None = None
        self.idle_minutes: float | None = None
        self.idle_watcher: IdleWatcher | None = None
        self._enabled_before_lock: dict[QAction, bool] = {}
        self._toolbars_before_lock: list[QToolBar] = []
        self._title_before_lock = ""
        self._panel: LockPanel | None = None  # built on first use: the window's first paint does not show it
        self.stack = QStackedWidget()
        self.stack.addWidget(content)
        window.setCentralWidget(self.stack)

    @property
    def panel(self) -> LockPanel:
        """The lock panel, which replaces everything that shows patient data while the window is locked."""
        if self._panel is None:
            from poems_monitor.ui.idle_lock import LockPanel

            self._panel = panel = LockPanel(self._window)
            panel.unlockRequested.connect(lambda name, pw: self.try_unlock(name, pw, panel))
            self.stack.addWidget(panel)
        return self._panel

    def _toolbars(self) -> list[QToolBar]:
        return self._window.findChildren(QToolBar, options=Qt.FindChildOption.FindDirectChildrenOnly)

    def _set_panel_state(self, panel: LockPanel) -> None:
        panel.set_state(user=self.actor.name, role=self.actor.role.label, signed_out=self.signed_out,
                        idle_minutes=None if self.signed_out else self.idle_minutes)

    # --- idle ------------------------------------------------------------------------------------
    def set_idle_lock(self, idle_lock_ms: int | None) -> None:
        """Lock after `idle_lock_ms` without input anywhere in the app (None or 0: never). Only a
        window whose user signed in with a password locks (the demo clinic has no password)."""
        if self.idle_watcher is not None:
            self.idle_watcher.stop()
            self.idle_watcher.deleteLater()
            self.idle_watcher = None
        self.idle_minutes = None
        if self.signed_in and idle_lock_ms:
            from poems_monitor.ui.idle_lock import IdleWatcher

            self.idle_minutes = idle_lock_ms / 60000
            self.idle_watcher = IdleWatcher(idle_lock_ms, self)
            self.idle_watcher.idle.connect(lambda: self.lock())
            if self.locked:
                self.idle_watcher.pause()

    def stop(self) -> None:
        """The window closes: stop watching for input."""
        if self.idle_watcher is not None:
            self.idle_watcher.stop()

    # --- lock ------------------------------------------------------------------------------------
    def lock(self, *, signed_out: bool = False) -> None:
        """Hide every patient data behind the lock panel (also in the app's other windows) until the
        same user unlocks with their password or another user signs in."""
        if self.locked:
            if signed_out and not self.signed_out:
                self.signed_out = True
                self.panel.set_state(user=self.actor.name, role=self.actor.role.label, signed_out=True)
            return
        self.locked = True
        self.signed_out = signed_out
        self._set_panel_state(self.panel)
        window = self._window
        self._enabled_before_lock = {a: a.isEnabled() for a in window.actions()}
        for action in window.actions():
            action.setEnabled(False)
        self.stack.setCurrentWidget(self.panel)
        window.menuBar().setEnabled(False)
        self._toolbars_before_lock = [t for t in self._toolbars() if not t.isHidden()]
        for toolbar in self._toolbars_before_lock:
            toolbar.setVisible(False)
        window.statusBar().clearMessage()
        self._cover_other_windows()
        if self.idle_watcher is not None:
            self.idle_watcher.pause()
        self._title_before_lock = window.windowTitle()
        window.setWindowTitle((tr("poems-monitor — locked") if not signed_out else tr("poems-monitor — signed out")) + "[*]")
        self.panel.focus_form()
        log.info("window %s", "signed out" if signed_out else "locked")
        self.lockedChanged.emit(True)

    def _compact_panel(self, parent: QWidget) -> LockPanel:
        from poems_monitor.ui.idle_lock import LockPanel

        panel = LockPanel(parent, compact=True)
        self._set_panel_state(panel)
        panel.unlockRequested.connect(lambda name, pw, p=panel: self.try_unlock(name, pw, p))
        return panel

    def _cover_other_windows(self) -> None:
        """Cover the app's other open windows (history, dialogs, message boxes) with a lock panel.
        They stay open underneath, so nothing typed in them is lost when the same user unlocks."""
        for window in QApplication.topLevelWidgets():
            if window is self._window or not window.isVisible() or window.windowType() in (
                    Qt.WindowType.Popup, Qt.WindowType.ToolTip, Qt.WindowType.SplashScreen):
                continue
            panel = self._compact_panel(window)
            panel.setGeometry(window.rect())
            keeper = CoverKeeper(window, panel)
            panel.show()
            panel.raise_()
            self.covers.append(Cover(window, panel, keeper))
        if QApplication.activeModalWidget() is not None:
            # A modal window (a dialog, a question) blocks the main window's lock panel, and may be
            # too small for the form: the sign-in form comes in a window of its own, on top.
            dialog = UnlockWindow(self._window)
            dialog.setObjectName("unlockWindow")
            dialog.setWindowTitle(tr("poems-monitor is locked"))
            dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
            panel = self._compact_panel(dialog)
            QVBoxLayout(dialog).addWidget(panel)
            dialog.resize(480, 460)
            dialog.open()
            panel.focus_form()
            self.unlock_window = dialog

    # --- unlock or switch user -------------------------------------------------------------------
    def try_unlock(self, name: str, password: str, panel: LockPanel | None = None) -> bool:
        """The lock panel's "Unlock": the same user unlocks; another user's sign-in goes to the
        session (a new window for them) after asking about unsaved work."""
        panel = panel or self.panel
        try:
            actor = authenticate(self.db, name, password)
        except SignInRefused as refused:
            panel.refuse(str(refused))
            return False
        if actor.name == self.actor.name and actor.role == self.actor.role:
            self.unlock()
            return True
        if self.switch_user_handler is None:
            panel.refuse(tr("Only {user} can unlock this window.").format(user=self.actor.name))
            return False
        if not self.confirm_switch(actor):
            panel.refuse(tr("Still locked for {user}.").format(user=self.actor.name))
            return False
        self.switch_user_handler(actor)
        return True

    def unsaved_work(self) -> list[str]:
        """What a switch of user would discard, in words (empty: nothing unsaved)."""
        work = []
        entry = self._unsaved_entry()
        if entry:
            work.append(entry)
        dialogs = [c.window for c in self.covers if isinstance(c.window, QDialog) and c.window.objectName() != "historyWindow"]
        if dialogs:
            work.append(counted(len(dialogs), "{n} open dialog", "{n} open dialogs"))
        return work

    def confirm_switch(self, actor: Actor) -> bool:
        work = self.unsaved_work()
        if not work:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, tr("Switch user"), tr(
            "{user} has work in this window that is not saved: {work}.").format(
            user=self.actor.name, work=", ".join(work)), parent=self._window)
        box.setInformativeText(tr(
            "Signing in as {new} discards it; everything saved stays. Cancel keeps the window locked, so {user} "
            "can unlock it and save.").format(new=actor.name, user=self.actor.name))
        discard = box.addButton(tr("Discard and sign in as {new}").format(new=actor.name), QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is discard

    def unlock(self) -> None:
        if not self.locked:
            return
        self.locked = False
        self.signed_out = False
        self._remove_covers()
        window = self._window
        self.stack.setCurrentWidget(self._content)
        for action in window.actions():
            action.setEnabled(self._enabled_before_lock.get(action, True))
        window.menuBar().setEnabled(True)
        for toolbar in self._toolbars_before_lock:
            toolbar.setVisible(True)
        window.setWindowTitle(self._title_before_lock)
        self.panel.set_state(user=self.actor.name, role=self.actor.role.label, signed_out=False)
        if self.idle_watcher is not None:
            self.idle_watcher.resume()
        log.info("window unlocked")
        self.lockedChanged.emit(False)

    def show_toolbars(self) -> None:
        """Show the toolbars the lock hid (the window saves its layout as it is when unlocked)."""
        for toolbar in self._toolbars_before_lock if self.locked else ():
            toolbar.setVisible(True)

    def _remove_covers(self) -> None:
        for cover in self.covers:
            try:
                cover.keeper.release()
                cover.panel.hide()
                cover.panel.deleteLater()
            except RuntimeError:  # the window was closed meanwhile
                pass
        self.covers = []
        if self.unlock_window is not None:
            self.unlock_window.done_with = True
            self.unlock_window.hide()
            self.unlock_window.deleteLater()
            self.unlock_window = None

    def close_covered_dialogs(self) -> None:
        """Close the dialogs that were open when the window locked (the session, before it
        switches user: they belong to the previous user)."""
        for cover in list(self.covers):
            try:
                if isinstance(cover.window, QDialog):
                    cover.window.reject()
                else:
                    cover.window.close()
            except RuntimeError:
                pass
        self._remove_covers()
