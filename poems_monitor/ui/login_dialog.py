"""Signing in: the login dialog, and at first start the dialog that creates the first administrator.

Owns only the dialog. Accounts and password checks are `services.users`; the dialog returns the
signed-in `Actor` (or None when cancelled). A wrong name or password is answered with one
sentence that does not say which of the two was wrong.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.users import (
    MIN_PASSWORD_LENGTH, AccountError, SignInRefused, add_user, authenticate, count_users,
)


class LoginDialog(QDialog):
    """`exec()` it; `actor` is the signed-in person after it was accepted."""

    def __init__(self, db: Database, parent: QWidget | None = None):
        super().__init__(parent)
        self._db = db
        self.actor: Actor | None = None
        self.first_start = count_users(db) == 0
        self.setWindowTitle(tr("Create the first administrator") if self.first_start else tr("Sign in to poems-monitor"))
        self.setModal(True)

        layout = QVBoxLayout(self)
        intro = QLabel(
            tr("No account exists yet in {db}. Create the administrator account: it manages the other accounts, "
               "backups and restores. Choose a password of at least {n} characters and keep it safe.").format(
                db=db.describe(), n=MIN_PASSWORD_LENGTH)
            if self.first_start else tr("Sign in with your account for {db}.").format(db=db.describe())
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(tr("&Name"), self.name_edit)
        form.addRow(tr("&Password"), self.password_edit)
        self.repeat_edit: QLineEdit | None = None
        if self.first_start:
            self.repeat_edit = QLineEdit()
            self.repeat_edit.setObjectName("repeat")
            self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
            form.addRow(tr("Password &again"), self.repeat_edit)
        layout.addLayout(form)

        self.message = QLabel("")
        self.message.setObjectName("message")
        self.message.setAccessibleName(tr("Message"))
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(tr("Create account") if self.first_start else tr("Sign in"))
        self.ok_button.setDefault(True)  # Return in a field signs in
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.name_edit.setFocus()

    def _submit(self) -> None:
        name, password = self.name_edit.text().strip(), self.password_edit.text()
        if not name:
            self._say(tr("Enter your name."))
            return
        if self.first_start:
            if self.repeat_edit is not None and password != self.repeat_edit.text():
                self._say(tr("The two passwords differ."))
                return
            try:
                account = add_user(self._db, Actor(name, Role.ADMIN), name, Role.ADMIN, password)
            except AccountError as exc:
                self._say(str(exc))
                return
            self.actor = Actor(account.name, account.role)
            self.accept()
            return
        try:
            actor = authenticate(self._db, name, password)
        except SignInRefused as refused:  # wrong, inactive or locked: the sentence says which it may say
            self.password_edit.clear()
            self.password_edit.setFocus()
            self._say(str(refused))
            return
        self.actor = actor
        self.accept()

    def _say(self, text: str) -> None:
        self.message.setText(text)


def sign_in(db: Database, parent: QWidget | None = None) -> Actor | None:
    """Show the dialog (first start or sign-in) and return the actor, or None when cancelled."""
    dialog = LoginDialog(db, parent)
    return dialog.actor if dialog.exec() == QDialog.DialogCode.Accepted else None
