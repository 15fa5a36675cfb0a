"""File › Accounts…: administrators add accounts, change roles, set new passwords and deactivate
or reactivate accounts, each with a reason.

Owns the table of accounts and the small forms that collect what each change needs. No rule
lives here: the services in `services/users.py` decide and audit, and a refusal is shown as the
service's own sentence in the form, which stays open with everything typed so it can be fixed.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QPushButton, QTableView, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor, PermissionDenied, Role
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.errors import DatabaseBusy
from poems_monitor.services.users import (
    Account, AccountError, add_user, change_password, change_role, list_users, required_reason, set_active,
)
from poems_monitor.ui.entry.input_guard import guard_alt_typing
from poems_monitor.ui.row_table_model import RowTableModel

COL_NAME, COL_ROLE, COL_ACTIVE, COL_LOCKED = range(4)


class AccountsModel(RowTableModel[Account]):
    headers = {COL_NAME: tr("Name"), COL_ROLE: tr("Role"), COL_ACTIVE: tr("Active"), COL_LOCKED: tr("Locked")}

    def cell(self, row: Account, column: int, role: int):  # noqa: ANN201
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == COL_NAME:
            return row.name
        if column == COL_ROLE:
            return row.role.label
        if column == COL_ACTIVE:
            return tr("yes") if row.active else tr("no (deactivated)")
        if column == COL_LOCKED:
            return tr("locked") if row.locked else ""
        return None


class AccountChangeForm(QDialog):
    """One change: the fields it needs and a reason. `submit` calls the service with what was
    typed; a refusal stays in the form as the service's sentence."""

    def __init__(self, title: str, intro: str, submit: Callable[[AccountChangeForm], None], *, name: bool = False,
                 role: Role | None = None, password: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self._submit = submit
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(intro))
        form = QFormLayout()
        self.name = self.role = self.password = self.repeat = None
        if name:
            self.name = QLineEdit(objectName="accountName")
            form.addRow(tr("&Name:"), self.name)
        if role is not None:
            self.role = QComboBox(objectName="accountRole")
            for r in Role:
                self.role.addItem(r.value, r.value)
            self.role.setCurrentIndex(list(Role).index(role))
            form.addRow(tr("R&ole:"), self.role)
        if password:
            self.password = QLineEdit(objectName="accountPassword", echoMode=QLineEdit.EchoMode.Password)
            self.repeat = QLineEdit(objectName="accountPasswordRepeat", echoMode=QLineEdit.EchoMode.Password)
            form.addRow(tr("New &password:"), self.password)
            form.addRow(tr("Re&peat it:"), self.repeat)
        self.reason = QLineEdit(objectName="accountReason")
        self.reason.setPlaceholderText(tr("kept in the audit trail"))
        form.addRow(tr("Rea&son:"), self.reason)
        layout.addLayout(form)
        self.problem = QLabel(objectName="accountProblem", wordWrap=True)
        self.problem.setStyleSheet("color: #b00020;")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)
        guard_alt_typing(self)  # Alt+letter never types its letter into the reason or a password

    def accept(self) -> None:
        if self.password is not None and self.password.text() != self.repeat.text():
            self.show_problem(tr("The two passwords differ; type the same password twice"))
            return
        try:
            self._submit(self)
        except (AccountError, PermissionDenied, DatabaseBusy) as exc:
            self.show_problem(str(exc))
            return
        super().accept()

    def chosen_role(self) -> Role:
        return Role(self.role.currentData())

    def show_problem(self, sentence: str) -> None:
        self.problem.setText(sentence)
        self.problem.show()


class AccountsDialog(QDialog):
    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None):
        super().__init__(parent)
        self.db, self.actor = db, actor
        self.setWindowTitle(tr("Accounts"))
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(tr("Accounts are never deleted: a deactivated account cannot sign in, and its name "
                                   "stays on everything it recorded. Every change asks for a reason and is audited."),
                                wordWrap=True))
        self.model = AccountsModel(self)
        self.table = QTableView(objectName="accountsTable")
        self.table.setAccessibleName(tr("Accounts"))
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = QPushButton(tr("&Add…"))
        self.role_button = QPushButton(tr("Change &role…"))
        self.password_button = QPushButton(tr("Reset &password…"))
        self.active_button = QPushButton(tr("&Deactivate…"))
        for button, slot in ((self.add_button, self.add_account), (self.role_button, self.change_role),
                             (self.password_button, self.reset_password), (self.active_button, self.toggle_active)):
            button.setAutoDefault(False)
            button.clicked.connect(slot)
            row.addWidget(button)
        row.addStretch(1)
        close = QPushButton(tr("&Close"))
        close.setAutoDefault(False)
        close.clicked.connect(self.reject)
        row.addWidget(close)
        layout.addLayout(row)
        self.status = QLabel(objectName="accountsStatus", wordWrap=True)
        layout.addWidget(self.status)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.reload()
        self.table.setFocus()

    def selected(self) -> Account | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def reload(self, select: str | None = None) -> None:
        current = select or (self.selected().name if self.selected() else None)
        self.model.set_rows(list_users(self.db))
        names = [self.model.row_at(i).name for i in range(self.model.rowCount())]
        if names:
            self.table.selectRow(names.index(current) if current in names else 0)
        self._update_buttons()

    def _update_buttons(self) -> None:
        account = self.selected()
        for button in (self.role_button, self.password_button, self.active_button):
            button.setEnabled(account is not None)
        self.active_button.setText(tr("Re&activate…") if account is not None and not account.active
                                   else tr("&Deactivate…"))

    def _run(self, form: AccountChangeForm, done: str, select: Callable[[], str | None] = lambda: None) -> bool:
        if form.exec() != QDialog.DialogCode.Accepted:
            return False
        self.reload(select())
        self.status.setText(done)
        return True

    def add_account(self) -> bool:
        created: list[Account] = []

        def submit(form: AccountChangeForm) -> None:
            required_reason(form.reason.text(), tr("Adding an account"))
            created.append(add_user(self.db, self.actor, form.name.text(), form.chosen_role(),
                                    form.password.text(), form.reason.text()))

        form = AccountChangeForm(tr("Add an account"), tr("The new account signs in with this password."), submit,
                                 name=True, role=Role.NURSE, password=True, parent=self)
        return self._run(form, tr("Account created."), lambda: created[0].name if created else None)

    def change_role(self) -> bool:
        if (account := self.selected()) is None:
            return False
        form = AccountChangeForm(
            tr("Change role"), tr("New role for {name} (now {role}); it applies from the next sign-in.").format(
                name=account.name, role=account.role.label),
            lambda f: change_role(self.db, self.actor, account.name, f.chosen_role(), f.reason.text()),
            role=account.role, parent=self)
        return self._run(form, tr("Role of {name} changed.").format(name=account.name))

    def reset_password(self) -> bool:
        if (account := self.selected()) is None:
            return False

        def submit(f: AccountChangeForm) -> None:
            required_reason(f.reason.text(), tr("Setting a new password"))
            change_password(self.db, self.actor, account.name, f.password.text(), reason=f.reason.text())

        form = AccountChangeForm(tr("Reset password"), tr("New password for {name}; a lock-out is lifted.").format(
            name=account.name), submit, password=True, parent=self)
        return self._run(form, tr("New password set for {name}.").format(name=account.name))

    def toggle_active(self) -> bool:
        if (account := self.selected()) is None:
            return False
        activate = not account.active
        title = tr("Reactivate account") if activate else tr("Deactivate account")
        intro = (tr("{name} will be able to sign in again.") if activate else
                 tr("{name} will no longer be able to sign in; the account and its records are kept.")).format(
            name=account.name)
        form = AccountChangeForm(title, intro, lambda f: set_active(self.db, self.actor, account.name, activate,
                                                                    f.reason.text()), parent=self)
        done = tr("{name} is active again.") if activate else tr("{name} is deactivated.")
        return self._run(form, done.format(name=account.name))
