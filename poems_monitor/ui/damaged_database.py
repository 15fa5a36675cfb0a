"""Opening the clinic database at start with a check, and what the person is offered when the
file is damaged: restore the newest good backup, open it anyway read-only, or quit.

Owns the start-up decision and its dialog, not the checks or the restore themselves:
`services.clinic_database.quick_check_problems` is the cheap page check run on every open (the full
check is File > Check database), `services.backup.newest_good_backup` finds the backup to offer
and `services.backup.restore_from` verifies it and keeps the damaged file beside it. Who may
restore is decided by the accounts of the backup (the damaged file may not be readable): an
administrator of the backup signs in first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QStyle, QVBoxLayout, QHBoxLayout, QWidget

from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor
from poems_monitor.services.clinic_database import (
    Database, DatabaseError, open_clinic_database, open_read_only, quick_check_problems, readable_clinic_file,
)

RESTORE, READ_ONLY, QUIT = "restore", "read-only", "quit"


@dataclass(frozen=True)
class ReadOnlyActor(Actor):
    """The signed-in person on a database opened read-only: every permission is refused, so every
    service refuses every write with its usual sentence and every screen disables its buttons
    (the file itself is opened read-only as well)."""

    def may(self, permission) -> bool:  # noqa: ANN001, ARG002
        return False


def read_only_actor(actor: Actor) -> Actor:
    return ReadOnlyActor(actor.name, actor.role)


@dataclass
class Opened:
    db: Database | None  # None: the person chose to quit
    read_only: bool = False
    restored_from: Path | None = None
    damaged_kept_as: Path | None = None


class DamagedDatabaseDialog(QDialog):
    """Says what is wrong and offers the choices; `choice` is RESTORE, READ_ONLY or QUIT."""

    def __init__(self, path: Path, problems: list[str], backup: Path | None, can_open: bool,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("damagedDatabaseDialog")
        self.setWindowTitle(tr("The clinic database is damaged"))
        self.choice = QUIT
        self.backup = backup

        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(48, 48))
        heading = QLabel(tr("<b>The clinic database could not be opened safely.</b>"))
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addWidget(heading, 1)

        self.problems = QLabel(tr("{file}\nfailed its check on opening:\n{problems}").format(
            file=path, problems="\n".join(f"• {p}" for p in problems[:6])))
        self.problems.setObjectName("damageProblems")
        self.problems.setWordWrap(True)
        if backup is not None:
            made = datetime.fromtimestamp(backup.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            offer = tr("The newest good backup is {file} (made {when}). Restoring it checks it first and keeps the "
                       "damaged file beside the database; what was entered after {when} is not in the backup.").format(
                file=backup.name, when=made)
        else:
            offer = tr("No good backup of this database was found in the backup folder. Call whoever looks after "
                       "this workstation; do not delete the damaged file.")
        self.offer = QLabel(offer)
        self.offer.setObjectName("damageOffer")
        self.offer.setWordWrap(True)

        buttons = QDialogButtonBox()
        self.restore_button: QPushButton | None = None
        if backup is not None:
            self.restore_button = buttons.addButton(tr("Restore the newest good backup…"),
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
            self.restore_button.clicked.connect(lambda: self._choose(RESTORE))
            self.restore_button.setDefault(True)
        self.read_only_button: QPushButton | None = None
        if can_open:
            self.read_only_button = buttons.addButton(tr("Open anyway, read-only"), QDialogButtonBox.ButtonRole.ActionRole)
            self.read_only_button.clicked.connect(lambda: self._choose(READ_ONLY))
            self.read_only_button.setToolTip(tr("Look at what can still be read; nothing can be saved"))
        self.quit_button = buttons.addButton(tr("Quit"), QDialogButtonBox.ButtonRole.RejectRole)
        self.quit_button.clicked.connect(lambda: self._choose(QUIT))

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.problems)
        layout.addWidget(self.offer)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    def _choose(self, choice: str) -> None:
        self.choice = choice
        (self.reject if choice == QUIT else self.accept)()


def open_checked(path: Path, *, parent: QWidget | None = None,
                 choose: Callable[[DamagedDatabaseDialog], str] | None = None,
                 admin_of_backup: Callable[[Database], Actor | None] | None = None,
                 say: Callable[[str, str], None] | None = None) -> Opened:
    """Open the SQLite clinic database at `path` after a quick check; when it is damaged, ask.

    `choose(dialog)` returns the choice (default: show the dialog); `admin_of_backup(db)` signs
    in an administrator against the backup's accounts (default: the login dialog);
    `say(title, sentence)` reports a failed restore (default: a message box). Tests pass all three.
    """
    path = Path(path)
    db: Database | None = None
    problems: list[str] = []
    try:
        db = open_clinic_database(path)
    except DatabaseError as exc:
        problems = [str(exc)]
    except Exception as exc:  # noqa: BLE001 (a damaged file fails in many ways: never a crash)
        problems = [tr("The database cannot be read: {error}").format(error=str(exc).splitlines()[0] if str(exc) else exc)]
    if db is not None:
        problems = quick_check_problems(db)
        if not problems:
            return Opened(db)
        db.dispose()

    # (imported only for a damaged file: a sound one opens without them, cold start)
    from poems_monitor.services.access import PermissionDenied
    from poems_monitor.services.backup import BackupRefused, newest_good_backup, restore_from

    backup = newest_good_backup(path)
    can_open = path.exists() and readable_clinic_file(path)
    dialog = DamagedDatabaseDialog(path, problems, backup, can_open, parent)
    choice = choose(dialog) if choose else (dialog.exec(), dialog.choice)[1]
    say = say or (lambda title, text: _message(parent, title, text))
    if choice == READ_ONLY and can_open:
        return Opened(open_read_only(path), read_only=True)
    if choice == RESTORE and backup is not None:
        backup_db = open_read_only(backup)
        try:
            actor = (admin_of_backup or _sign_in_to_backup)(backup_db)
        finally:
            backup_db.dispose()
        if actor is None:
            return Opened(None)
        try:
            result = restore_from(path, actor, backup)
        except (BackupRefused, PermissionDenied) as exc:
            say(tr("Restore refused"), str(exc))
            return Opened(None)
        return Opened(open_clinic_database(path), restored_from=backup, damaged_kept_as=result.replaced_kept_as)
    return Opened(None)


def _sign_in_to_backup(backup_db: Database) -> Actor | None:
    from poems_monitor.services.access import Role
    from poems_monitor.services.users import count_users
    from poems_monitor.ui.login_dialog import LoginDialog

    if count_users(backup_db) == 0:  # a backup made before any account existed: the set-up administrator
        return Actor("set-up", Role.ADMIN)
    dialog = LoginDialog(backup_db)
    dialog.setWindowTitle(tr("Sign in to restore"))
    dialog.findChild(QLabel).setText(tr(
        "An administrator restores the backup. Sign in with an administrator account as it was when the backup was made."))
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.actor


def _message(parent: QWidget | None, title: str, text: str) -> None:
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.critical(parent, title, text)
