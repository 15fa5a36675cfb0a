"""Looking after the clinic database from the window: backups, restore, and the full check.

Owns the status bar's backup indicator (refreshed hourly: the warning can appear while the app
stays open for days), File > Back up now… (off the GUI thread), the daily backup when the window
closes (off the GUI thread too: the window shows "Backing up…" and closes when it is written), File > Restore… and reopening the database after it, and File > Check database. A clinic
server's database is backed up the same way (a checked pg_dump, through the same services); the
daily backup on close of a server database is made only where `services.backup.makes_daily_backup`
says so (one workstation looking after the server, an administrator signed in), and a live server
database is never restored over: File > Restore… says how it is done instead. Who may
back up or restore, what a good backup is and how a restore verifies it are `services.backup`
(the services refuse a role that may not, whatever the menus show); the checks are
`services.integrity`; the dialogs and their wording are `ui.backup_ui`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QProgressDialog

from typing import TYPE_CHECKING

from poems_monitor.i18n import tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.access import Actor, Permission, PermissionDenied, require
from poems_monitor.services.progress import Progress
from poems_monitor.ui import backup_ui
from poems_monitor.ui.backup_ui import BackupStatus
from poems_monitor.ui.workers import dialog_progress, run_background, run_with_progress, wrap_progress_text

if TYPE_CHECKING:
    from poems_monitor.services.backup import BackupResult

# services.backup and services.integrity (and what they import) are imported where they are used:
# the window's first paint needs neither (cold start); the backup indicator is refreshed after it.

log = logging.getLogger(__name__)

BACKUP_STATUS_REFRESH_MS = 60 * 60 * 1000  # the warning can appear while the app stays open for days


class Maintenance(QObject):
    """Backups, restore and the database check of `window` (its status bar shows the progress).

    `backups`: this window looks after backups (the indicator, the daily backup on close);
    `may_proceed()`: the window may be reloaded now (asks about an unsaved visit); `reload()`:
    reload every screen after a restore; `account_gone()`: the signed-in account does not exist
    in the restored database (None: nobody signed in with a password, nothing to check).
    """

    def __init__(self, window: QMainWindow, db: Database, actor: Actor, *, backups: bool, read_only: bool,
                 may_proceed: Callable[[], bool] = lambda: True, reload: Callable[[], None] = lambda: None,
                 account_gone: Callable[[], None] | None = None):
        super().__init__(window)
        self._window = window
        self.db = db
        self.actor = actor
        self.read_only = read_only
        # The indicator and the daily backup: any database but an in-memory one (a server's
        # backups are catalogued by its server key; whether this workstation dumps it on close is
        # makes_daily_backup's rule).
        self.backups = backups and not read_only and not (db.is_sqlite and db.path is None)
        self._may_proceed = may_proceed
        self._reload = reload
        self._account_gone = account_gone
        self.last_message: str = ""  # the last refusal or result shown in a message box (tests read it)
        self.closing_backup: QProgressDialog | None = None  # shown while the daily backup on close runs
        self.status = BackupStatus()
        self.status.clicked.connect(self._on_status_clicked)
        self.status.setVisible(False)
        if self.backups:
            self._timer = QTimer(self)
            self._timer.timeout.connect(self.refresh_backup_status)
            self._timer.start(BACKUP_STATUS_REFRESH_MS)

    def _show(self, text: str, timeout_ms: int = 0) -> None:
        self._window.statusBar().showMessage(text, timeout_ms)

    def _tell(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        self.last_message = text
        {QMessageBox.Icon.Warning: QMessageBox.warning, QMessageBox.Icon.Critical: QMessageBox.critical}.get(
            icon, QMessageBox.information)(self._window, title, text)

    # --- the backup indicator --------------------------------------------------------------------
    def refresh_backup_status(self) -> str | None:
        """Update the status bar's backup indicator; returns the warning sentence, if any."""
        if not self.backups:
            return None
        try:
            return self.status.update_from(self.db)
        except OSError as exc:  # an unreachable backup folder is itself worth a warning
            self.status.setText(tr("Backup folder unreachable"))
            self.status.setToolTip(str(exc))
            return str(exc)

    def _on_status_clicked(self) -> None:
        if self.actor.may(Permission.BACKUP):
            self.backup_now()
        else:
            QMessageBox.information(self._window, tr("Backups"), (self.status.warning or self.status.toolTip()) + "\n\n" + (tr(
                "An administrator makes backups (File > Back up now…); the app also makes one when it closes, at most "
                "once a day.") if self.db.is_sqlite else tr(
                "An administrator makes backups of the clinic server's database (File > Back up now…); the workstation "
                "set to look after server backups also makes one when an administrator closes it, at most once a day.")))

    # --- backups ---------------------------------------------------------------------------------
    def run_automatic_backup(self) -> BackupResult | None:
        """The daily backup on close (services.backup.automatic_backup): at most one a day, rotated;
        for a server database only on the workstation that looks after its backups, with an
        administrator signed in (services.backup.makes_daily_backup)."""
        from poems_monitor.services import backup

        if self.read_only or not backup.makes_daily_backup(self.db, self.actor):
            return None
        self._show(tr("Making the daily backup…"))
        QApplication.processEvents()
        try:
            result = backup.automatic_backup(self.db)
        except (backup.BackupRefused, OSError) as exc:
            log.warning("automatic backup failed: %s", exc)
            self._tell(QMessageBox.Icon.Warning, tr("Automatic backup failed"), tr(
                "The daily backup could not be made: {error}\nThe database itself is unharmed. Tell whoever looks "
                "after this workstation.").format(error=exc))
            return None
        if result is not None:
            log.info("automatic backup written (%d kB)", result.size // 1024)
        return result

    def backup_before_close(self, then_close: Callable[[], None]) -> bool:
        """The daily backup when the window closes, off the GUI thread: False when none is due
        (the window closes at once); else the window shows "Backing up…" (a progress dialog that
        blocks input to it, so nothing is typed that the backup would miss), the backup runs in the
        background, and `then_close()` runs when it is written (or failed, after saying so): the
        window waits for the dump, never longer, and never closes without it."""
        from poems_monitor.services import backup

        if self.read_only or not backup.makes_daily_backup(self.db, self.actor) or not backup.daily_backup_due(self.db):
            return False
        making = tr("Making the daily backup of the clinic database before closing…")
        self.closing_backup = progress = QProgressDialog(making, "", 0, 0, self._window)
        wrap_progress_text(progress)
        progress.setLabelText(making)
        progress.setWindowTitle(tr("Backing up"))
        progress.setCancelButton(None)  # Qt accepts None: no button
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.show()
        self._show(tr("Backing up…"))
        db = self.db

        def finish() -> None:
            progress.reset()
            progress.hide()
            self.closing_backup = None
            then_close()

        def done(result: BackupResult | None) -> None:
            if result is not None:
                log.info("automatic backup written (%d kB)", result.size // 1024)
            finish()

        def failed(exc: Exception) -> None:
            log.warning("automatic backup failed: %s", exc)
            progress.hide()
            self._tell(QMessageBox.Icon.Warning, tr("Automatic backup failed"), tr(
                "The daily backup could not be made: {error}\nThe database itself is unharmed. Tell whoever looks "
                "after this workstation.").format(error=exc))
            finish()

        # The copy, then the check of each patient's record: minutes on a large clinic.
        show = dialog_progress(progress, lambda: self.closing_backup is progress)

        def report(step: str, done: int, total: int) -> None:  # worker thread
            show(f"{making}\n{step}", done, total)

        run_background(lambda: backup.automatic_backup(db, progress=report), done, failed, owner=self._window)
        return True

    def backup_now(self, dest: Path | None = None):  # noqa: ANN201 (the worker relay, or None)
        """File > Back up now…: a checked copy (of a server database: a checked pg_dump), written
        off the GUI thread (administrators; the service refuses anyone else)."""
        from poems_monitor.services import backup

        try:  # the service refuses too; say it before asking for a file
            require(self.actor, Permission.BACKUP)
        except PermissionDenied as exc:
            self._tell(QMessageBox.Icon.Warning, tr("Back up"), str(exc))
            return None
        if dest is None:
            dest = backup_ui.ask_backup_file(self._window, self.db)
            if dest is None:
                return None
        self._show(tr("Backing up to {file}…").format(file=dest))
        db, actor, target = self.db, self.actor, dest

        def cancelled() -> None:
            self._show(tr("Backup cancelled: nothing was written to {file}").format(file=target), 8000)

        def done(result: BackupResult) -> None:
            self.refresh_backup_status()
            self._show(tr("Backup written to {file}, checked").format(file=result.path), 8000)
            self.last_message = tr("Backup written to {file} ({kb} kB), checked.").format(
                file=result.path, kb=max(1, result.size // 1024))

        def failed(exc: Exception) -> None:
            self._window.statusBar().clearMessage()
            self._tell(QMessageBox.Icon.Warning, tr("Back up"), str(exc) if isinstance(exc, (backup.BackupRefused, PermissionDenied))
                       else tr("The backup failed: {error}").format(error=exc))

        # Behind a progress dialog: the copy's check takes minutes on a large clinic; Cancel
        # deletes the unfinished copy.
        return run_with_progress(lambda progress: backup.backup_to(db, actor, target, progress), done, cancelled,
                                 failed, self._window, tr("Back up")).relay

    # --- restore ---------------------------------------------------------------------------------
    def restore_backup(self, source: Path | None = None, *, confirm: bool = True):  # noqa: ANN201 (the worker relay, or None)
        """File > Restore…: the service checks the backup completely, keeps the replaced file beside
        it and records the restore; then the database is reopened and every screen reloaded.

        The copy and its check (minutes on a large clinic) run off the GUI thread behind a
        window-modal progress dialog showing the step; Cancel during them changes nothing. Returns
        the worker's relay (its `finished` tells when the restore has ended, and `last_message`
        how), or None when nothing was started (refused, or the person stopped first). A relay
        rather than a bool got by waiting in a nested event loop: File > Restore… is a menu slot,
        and a nested loop would run the window's other events (and re-entrant slots) inside it,
        exactly like `backup_now` and `check_database`, which return their relay too.
        """
        from poems_monitor.services import backup

        if not self.db.is_sqlite:  # the rule of services.backup.restore_server_database
            self._tell(QMessageBox.Icon.Information, tr("Restore"), tr(
                "A clinic server's database is never restored over, because it is live: restore the backup into a new, "
                "empty database with `poems-monitor --db URL-of-the-empty-database restore FILE` (after `createdb`), "
                "then point the workstations at that database."))
            return None
        if self.db.path is None:
            self._tell(QMessageBox.Icon.Information, tr("Restore"), tr(
                "An in-memory database has no file to restore into."))
            return None
        if not self.actor.may(Permission.RESTORE):  # refused by the service too
            try:
                backup.restore_from(self.db.path, self.actor, source or self.db.path)
            except (PermissionDenied, backup.BackupRefused) as exc:
                self._tell(QMessageBox.Icon.Warning, tr("Restore"), str(exc))
            return None
        if source is None:
            source = backup_ui.ask_restore_file(self._window, self.db.path)
            if source is None:
                return None
        if confirm and not backup_ui.confirm_restore(self._window, source, self.db.path):
            return None
        if not self._may_proceed():
            return None
        self._show(tr("Checking the backup and restoring…"))
        db_path, actor, chosen = self.db.path, self.actor, source
        heading = tr("Restoring from {file}. Until the backup has been checked, Cancel stops the restore and changes "
                     "nothing.").format(file=chosen.name)
        # Meanwhile nothing of this window reads the database: the window-modal dialog blocks
        # every input (no patient is opened, nothing saved, so no neighbour prefetch, overview or
        # worklist load starts), the live listener exists only on a server (never restored over),
        # and the backup indicator's timer is paused here.
        if self.backups:
            self._timer.stop()
        self.db.dispose()  # none of this window's connections holds the file meanwhile

        def resume() -> None:
            if self.backups:
                self._timer.start(BACKUP_STATUS_REFRESH_MS)

        def done(result) -> None:  # noqa: ANN001 (services.backup.RestoreResult)
            resume()
            self._window.statusBar().clearMessage()
            self.reopen_database()
            kept = tr(" The replaced database was kept as {file}.").format(file=result.replaced_kept_as) \
                if result.replaced_kept_as else ""
            self._tell(QMessageBox.Icon.Information, tr("Restore"),
                       tr("Restored from {file}.").format(file=chosen.name) + kept)

        def cancelled() -> None:
            resume()
            self.last_message = tr("Restore cancelled: nothing was changed")
            self._show(self.last_message, 8000)

        def failed(exc: Exception) -> None:
            resume()
            self._window.statusBar().clearMessage()
            if isinstance(exc, (PermissionDenied, backup.BackupRefused)):
                self._tell(QMessageBox.Icon.Warning, tr("Restore refused"), str(exc))
            else:  # unexpected: the service raised before replacing anything, or says otherwise
                self._tell(QMessageBox.Icon.Critical, tr("Restore"), tr("The restore failed: {error}").format(error=exc))

        def restore(progress: Progress):  # noqa: ANN202 (worker thread: services only)
            return backup.restore_from(db_path, actor, chosen,
                                       progress=lambda step, n, total: progress(f"{heading}\n{step}", n, total))

        return run_with_progress(restore, done, cancelled, failed, self._window, tr("Restore")).relay

    def reopen_database(self) -> None:
        """After a restore: drop every pooled connection (the next ones open the restored file,
        already upgraded by the restore), then reload every screen. When the signed-in account
        does not exist in the restored database, the window signs out."""
        from poems_monitor.services.users import list_users

        self.db.dispose()
        self._reload()
        self.refresh_backup_status()
        if self._account_gone is not None and not any(
                a.name == self.actor.name and a.role == self.actor.role and a.active for a in list_users(self.db)):
            self._account_gone()

    # --- check -----------------------------------------------------------------------------------
    def check_database(self):  # noqa: ANN201 (the worker relay)
        """File > Check database: the full check (integrity, foreign keys, schema, audit chain, every
        record against its seal, the rules cache), off the GUI thread behind a progress dialog whose
        Cancel stops it (minutes on a large clinic)."""
        from poems_monitor.services.integrity import check_report

        self._show(tr("Checking the database…"))
        db = self.db

        def done(report) -> None:  # noqa: ANN001 (services.integrity.CheckReport)
            self._window.statusBar().clearMessage()
            self.last_message = "; ".join(report.problems) or tr("sound")
            backup_ui.show_check_report(self._window, db, report)

        def cancelled() -> None:
            self._show(tr("Check cancelled"), 8000)

        return run_with_progress(lambda progress: check_report(db, progress=progress), done, cancelled,
                                 lambda exc: self._tell(QMessageBox.Icon.Critical, tr("Check database"), str(exc)),
                                 self._window, tr("Check database")).relay
