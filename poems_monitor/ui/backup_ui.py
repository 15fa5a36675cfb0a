"""Backups as the desktop app shows them: the backup state in the status bar (a warning with an
icon and words when the last good backup is too old), and the dialogs of "Back up now…",
"Restore…" and "Check database".

Owns only widgets and wording. What a good backup is, where backups go, how old is too old, who
may back up or restore and how a restore verifies the copy are `services.backup` (the services
refuse a role that may not, whatever the menus show); the integrity checks are
`services.integrity`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QStyle, QToolButton, QWidget

from typing import TYPE_CHECKING

from poems_monitor.i18n import ntr, tr
from poems_monitor.services.audit import utcnow
from poems_monitor.services.clinic_database import Database

if TYPE_CHECKING:
    from poems_monitor.services.backup import BackupPolicy

# services.backup is imported where it is used: the indicator is built before the window's first
# paint, but filled (and the dialogs used) only after it (cold start).


def _age_words(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 2:
        return tr("just now")
    if minutes < 120:
        return tr("{n} minutes ago").format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return tr("{n} hours ago").format(n=hours)
    return tr("{n} days ago").format(n=hours // 24)


class BackupStatus(QToolButton):
    """The status bar's backup indicator. Quiet ("Backup: 3 hours ago") while backups are recent;
    a warning icon and the words "Backup overdue" (or "Never backed up") otherwise, with the full
    sentence as tooltip. Clicking it asks the window for a backup (`clicked`)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("backupStatus")
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.warning: str | None = None

    def update_from(self, db: Database, policy: BackupPolicy | None = None, now: datetime | None = None) -> str | None:
        """Recompute from the backup folder (a server database's backups are catalogued by its
        server key); returns the warning sentence (None: backups are fine)."""
        if db.is_sqlite and db.path is None:  # an in-memory database: nothing to back up
            self.warning = None
            self.setVisible(False)
            return None
        from poems_monitor.services.backup import (
            backup_set_folder,
            backup_warning,
            database_key,
            last_good_backup,
            load_policy,
        )

        policy = policy or load_policy()
        now = now or utcnow()
        self.warning = backup_warning(db, policy, now)
        found = last_good_backup(db, policy)
        self.setVisible(True)
        if self.warning:
            self.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
            self.setText(tr("Never backed up") if found is None else tr("Backup overdue: last good backup {age}").format(
                age=_age_words(now - found[0])))
            self.setToolTip(self.warning)
            self.setProperty("warning", True)
            self.setAccessibleName(tr("Warning: {sentence}").format(sentence=self.warning))
        else:
            self.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton))
            self.setText(tr("Backup: {age}").format(age=_age_words(now - found[0])) if found else "")
            self.setToolTip(tr("Last good backup: {file}; backups go to {folder}").format(
                file=found[1] if found else "—", folder=backup_set_folder(database_key(db), policy)))
            self.setProperty("warning", False)
            self.setAccessibleName(self.text())
        self.style().unpolish(self)
        self.style().polish(self)
        return self.warning


def ask_backup_file(parent: QWidget, db: Database) -> Path | None:
    """Where "Back up now…" writes: proposed in the database's backup set (a server database's
    is named by its server key), named after the database and the time; a server database's
    backup is a pg_dump file."""
    from poems_monitor.services.backup import SERVER_DUMP_SUFFIX, backup_set_folder, database_key, load_policy

    server = not db.is_sqlite
    folder = backup_set_folder(database_key(db)) if server or db.path else load_policy().folder
    folder.mkdir(parents=True, exist_ok=True)
    stem = db.engine.url.database if server else db.path.stem if db.path else "poems-monitor"
    suffix = SERVER_DUMP_SUFFIX if server else ".sqlite"
    proposed = folder / f"{stem}-manual-{datetime.now().strftime('%Y%m%d-%H%M')}{suffix}"
    kinds = tr("PostgreSQL dump (*.pgdump)") if server else tr("SQLite database (*.sqlite)")
    name, _ = QFileDialog.getSaveFileName(parent, tr("Back up the clinic database to"), str(proposed),
                                          kinds + ";;" + tr("All files (*)"))
    return Path(name) if name else None


def ask_restore_file(parent: QWidget, db_path: Path | None = None) -> Path | None:
    """Which backup "Restore…" uses; the dialog opens in this database's backup set (or the
    backup folder when it has none yet)."""
    from poems_monitor.services.backup import backup_set_folder, load_policy

    folder = backup_set_folder(db_path) if db_path else load_policy().folder
    if not folder.is_dir():
        folder = load_policy().folder
    name, _ = QFileDialog.getOpenFileName(parent, tr("Restore the clinic database from a backup"), str(folder),
                                          tr("SQLite database (*.sqlite *.db);;All files (*)"))
    return Path(name) if name else None


def confirm_restore(parent: QWidget, source: Path, target: Path) -> bool:
    box = QMessageBox(QMessageBox.Icon.Warning, tr("Restore a backup"), tr(
        "Replace the clinic database\n{target}\nby the backup\n{source}?").format(target=target, source=source), parent=parent)
    box.setInformativeText(tr(
        "The backup is checked completely first; if anything is wrong, nothing is changed. The current database is "
        "kept beside it (named …replaced-<date>), and the restore is recorded in the audit trail. Everything entered "
        "after the backup was made will not be in the restored database. Other workstations should close "
        "poems-monitor first."))
    restore = box.addButton(tr("Check and restore"), QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is restore


def show_check_report(parent: QWidget, db: Database, report) -> None:  # noqa: ANN001 (services.integrity.CheckReport)
    if report.sound:
        QMessageBox.information(parent, tr("Check database"), tr("{db} is sound: {notes}.").format(
            db=db.describe(), notes="; ".join(report.notes)))
        return
    box = QMessageBox(QMessageBox.Icon.Critical, tr("Check database"), ntr(
        "{db} is damaged ({n} problem found).", "{db} is damaged ({n} problems found).", len(report.problems)).format(db=db.describe(), n=len(report.problems)), parent=parent)
    box.setInformativeText(tr(
        "Stop entering data and call whoever looks after this workstation. An administrator can restore the newest "
        "good backup (File > Restore…); the damaged file is kept."))
    box.setDetailedText("\n".join(f"- {p}" for p in report.problems))
    box.exec()
