"""Choosing the clinic database: the first-start dialog (also opened from Settings).

Owns only the dialog: a clinic file to open or create, or a clinic server (host, port,
database, login, password, TLS mode, CA file), the saved connections to choose from, and "Test
connection", which runs off the UI thread and answers in one sentence. Profiles, the TLS rule and
the test itself are `services.connection_profiles`; the dialog returns the chosen `profile` and
the typed `password` (kept in memory only, never saved). Keyboard first: every input has a
mnemonic label and an accessible name, Return opens, Escape cancels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
    QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QRadioButton, QSizePolicy, QSpinBox, QStackedWidget,
    QVBoxLayout, QWidget,
)

from poems_monitor.config import app_paths
from poems_monitor.i18n import tr
from poems_monitor.services import connection_profiles as cp
from poems_monitor.ui.accessibility import described, label_controls
from poems_monitor.ui.workers import run_background

PAGE_FILE, PAGE_SERVER = 0, 1


class ConnectionDialog(QDialog):
    """`exec()` it; after Accepted, `profile` is the chosen connection and `password` the typed
    server password (None for a file, or when libpq finds one in PGPASSWORD or the password file)."""

    tested = Signal(object)  # the ConnectionCheck of the last "Test connection"

    def __init__(self, parent: QWidget | None = None, preselect: cp.ConnectionProfile | None = None,
                 message: str = "", check: Callable[..., cp.ConnectionCheck] = cp.check_connection):
        super().__init__(parent)
        self._check = check
        self.profile: cp.ConnectionProfile | None = None
        self.password: str | None = None
        self.test_relay = None
        self.setWindowTitle(tr("Open a clinic database"))
        self.setModal(True)
        self.setMinimumWidth(760)  # long sentences (TLS, test result) wrap in two lines, not four
        layout = QVBoxLayout(self)

        intro = QLabel(tr("Choose where this workstation's clinic record is: a clinic file on this computer, or the "
                          "clinic's shared server. Passwords are never saved."))
        intro.setWordWrap(True)
        layout.addWidget(intro)

        saved_label = QLabel(tr("Sa&ved connections"))
        self.saved_list = described(QListWidget(),
                                    tr("Choose a saved connection to fill in the fields below"))
        self.saved_list.setObjectName("saved_connections")
        self.saved_list.setMaximumHeight(72)
        saved_label.setBuddy(self.saved_list)
        layout.addWidget(saved_label)
        layout.addWidget(self.saved_list)
        self._fill_saved()

        kinds = QHBoxLayout()
        self.file_radio = QRadioButton(tr("Clinic &file on this computer"))
        self.server_radio = QRadioButton(tr("Clinic &server"))
        group = QButtonGroup(self)
        group.addButton(self.file_radio, PAGE_FILE)
        group.addButton(self.server_radio, PAGE_SERVER)
        kinds.addWidget(self.file_radio)
        kinds.addWidget(self.server_radio)
        kinds.addStretch(1)
        layout.addLayout(kinds)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._file_page())
        self.pages.addWidget(self._server_page())
        layout.addWidget(self.pages)
        group.idToggled.connect(lambda page, on: on and self._show_page(page))

        name_form = QFormLayout()
        self.name_edit = described(QLineEdit(),
                                   tr("The name under which this connection is offered next time"))
        self.name_edit.setObjectName("profile_name")
        name_form.addRow(tr("Save as connection &named"), self.name_edit)
        layout.addLayout(name_form)

        self.message = QLabel(message)
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setAccessibleName(tr("Message"))
        layout.addWidget(self.message)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.open_button = buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setText(tr("&Open"))
        self.open_button.setDefault(True)
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        label_controls(self)  # each field's name is its label's text

        self.saved_list.currentItemChanged.connect(lambda item, _prev: item and self.fill(item.data(Qt.ItemDataRole.UserRole)))
        if preselect is not None:
            self.fill(preselect)
            self._select_saved(preselect.name)
        else:
            self.file_radio.setChecked(True)
            self.file_edit.setText(str(app_paths().default_database))
            self.name_edit.setText(tr("This computer's clinic file"))
            self._show_page(PAGE_FILE)
        self._focused_once = False

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        super().showEvent(event)
        if not self._focused_once:  # the first field to fill, not the list above it
            self._focused_once = True
            self._focus_first_empty()

    # --- pages -------------------------------------------------------------------------

    def _file_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.file_edit = described(QLineEdit(),
                                   tr("An existing clinic file is opened; a new name creates a new clinic file"))
        self.file_edit.setObjectName("file")
        self.file_browse = QPushButton(tr("&Browse…"))
        self.file_browse.setAccessibleName(tr("Browse for the clinic file"))
        self.file_browse.setAutoDefault(False)  # Return in a field opens, never a file picker
        self.file_browse.clicked.connect(self._browse_file)
        row.addWidget(self.file_edit, 1)
        row.addWidget(self.file_browse)
        label = QLabel(tr("Clinic fi&le"))
        label.setBuddy(self.file_edit)
        form.addRow(label, row)
        return page

    def _server_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.host_edit = described(QLineEdit(), tr("The clinic server's name or address"))
        self.host_edit.setObjectName("host")
        self.port_spin = described(QSpinBox(), tr("PostgreSQL's usual port is 5432"))
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(cp.DEFAULT_PORT)
        self.port_spin.setObjectName("port")
        self.database_edit = described(QLineEdit(), tr("The clinic database's name on the server"))
        self.database_edit.setObjectName("database")
        self.login_edit = described(QLineEdit(), tr("Your login name on the clinic server"))
        self.login_edit.setObjectName("login")
        self.password_edit = described(QLineEdit(), tr("Asked each time; never saved"))
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setObjectName("password")
        self.password_note = QLabel("")
        self.password_note.setWordWrap(True)
        self.password_note.setObjectName("password_note")
        self.tls_combo = described(QComboBox(),
                                   tr("verify-full checks the server's certificate and name; needed off this computer"))
        for mode in cp.TLS_MODES:
            self.tls_combo.addItem(mode, mode)
        self.tls_combo.setObjectName("tls_mode")
        ca_row = QHBoxLayout()
        self.ca_edit = described(QLineEdit(), tr("The clinic's certificate authority file (.crt, .pem)"))
        self.ca_edit.setObjectName("ca_file")
        self.ca_browse = QPushButton(tr("Ch&oose…"))
        self.ca_browse.setAccessibleName(tr("Choose the CA file"))
        self.ca_browse.setAutoDefault(False)
        self.ca_browse.clicked.connect(self._browse_ca)
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(self.ca_browse)
        self.weak_check = QCheckBox(tr("Allow a weake&r TLS mode for this server (not recommended)"))
        self.weak_check.setObjectName("allow_weak_tls")
        self.tls_warning = QLabel("")
        self.tls_warning.setWordWrap(True)
        self.tls_warning.setObjectName("tls_warning")
        self.tls_warning.setStyleSheet("color: #b3261e;")
        test_row = QHBoxLayout()
        self.test_button = QPushButton(tr("&Test connection"))
        self.test_button.setAutoDefault(False)
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.test_result.setObjectName("test_result")
        self.test_result.setAccessibleName(tr("Test result"))
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)

        host_row = QHBoxLayout()
        host_row.addWidget(self.host_edit, 1)
        port_label = QLabel(tr("&Port"))
        port_label.setBuddy(self.port_spin)
        host_row.addWidget(port_label)
        host_row.addWidget(self.port_spin)
        host_label = QLabel(tr("&Host"))
        host_label.setBuddy(self.host_edit)
        form.addRow(host_label, host_row)
        for text, widget in ((tr("&Database"), self.database_edit), (tr("Lo&gin"), self.login_edit),
                             (tr("Pass&word"), self.password_edit)):
            label = QLabel(text)
            label.setBuddy(widget)
            form.addRow(label, widget)
        form.addRow("", self.password_note)
        tls_label = QLabel(tr("T&LS mode"))
        tls_label.setBuddy(self.tls_combo)
        form.addRow(tls_label, self.tls_combo)
        ca_label = QLabel(tr("C&A file"))
        ca_label.setBuddy(self.ca_edit)
        form.addRow(ca_label, ca_row)
        form.addRow("", self.weak_check)
        form.addRow("", self.tls_warning)
        form.addRow(test_row)
        form.addRow(self.test_result)
        for edit in (self.host_edit, self.database_edit, self.login_edit, self.ca_edit):
            edit.textChanged.connect(self._update_hints)
        self.port_spin.valueChanged.connect(self._update_hints)
        self.tls_combo.currentIndexChanged.connect(self._update_hints)
        self.weak_check.toggled.connect(self._update_hints)
        self._tls_touched = False
        self.tls_combo.activated.connect(lambda _i: setattr(self, "_tls_touched", True))
        self.host_edit.textChanged.connect(self._default_tls_for_host)
        self.ca_edit.textChanged.connect(self._default_tls_for_host)
        return page

    # --- filling and reading -------------------------------------------------------------

    def _fill_saved(self) -> None:
        book = cp.load_profiles()
        for profile in sorted(book.profiles, key=lambda p: p.name.lower()):
            kind = tr("server") if profile.is_server else tr("file")
            item = QListWidgetItem(f"{profile.name} — {kind}: {profile.describe()}")
            item.setData(Qt.ItemDataRole.UserRole, profile)
            self.saved_list.addItem(item)
        if not book.profiles:
            self.saved_list.addItem(tr("(none saved yet)"))
            self.saved_list.item(0).setFlags(Qt.ItemFlag.NoItemFlags)

    def _select_saved(self, name: str) -> None:
        for row in range(self.saved_list.count()):
            profile = self.saved_list.item(row).data(Qt.ItemDataRole.UserRole)
            if profile is not None and profile.name == name:
                self.saved_list.blockSignals(True)
                self.saved_list.setCurrentRow(row)
                self.saved_list.blockSignals(False)

    def fill(self, profile: cp.ConnectionProfile) -> None:
        """Show a saved profile in the fields (the password stays empty: it is asked each time)."""
        self.name_edit.setText(profile.name)
        if profile.is_server:
            self.server_radio.setChecked(True)
            self.host_edit.setText(profile.host)
            self.port_spin.setValue(profile.port)
            self.database_edit.setText(profile.database)
            self.login_edit.setText(profile.login)
            self.ca_edit.setText(profile.ca_file)
            self.tls_combo.setCurrentIndex(cp.TLS_MODES.index(profile.effective_tls_mode))
            self._tls_touched = bool(profile.tls_mode)
            self.weak_check.setChecked(profile.allow_weak_tls)
            self.password_edit.clear()
            self._show_page(PAGE_SERVER)
        else:
            self.file_radio.setChecked(True)
            self.file_edit.setText(profile.path)
            self._show_page(PAGE_FILE)
        self.test_result.clear()

    def current_profile(self) -> cp.ConnectionProfile:
        """The profile the fields describe (not yet validated)."""
        name = self.name_edit.text().strip()
        if self.pages.currentIndex() == PAGE_FILE:
            return cp.ConnectionProfile(name, kind=cp.KIND_FILE, path=self.file_edit.text().strip())
        return cp.ConnectionProfile(name, kind=cp.KIND_SERVER, host=self.host_edit.text().strip(),
                                    port=self.port_spin.value(), database=self.database_edit.text().strip(),
                                    login=self.login_edit.text().strip(), tls_mode=self.tls_combo.currentData(),
                                    ca_file=self.ca_edit.text().strip(), allow_weak_tls=self.weak_check.isChecked())

    def _show_page(self, page: int) -> None:
        self.pages.setCurrentIndex(page)
        for index in range(self.pages.count()):  # the dialog as tall as the page shown, not the tallest page
            policy = QSizePolicy.Policy.Preferred if index == page else QSizePolicy.Policy.Ignored
            self.pages.widget(index).setSizePolicy(policy, policy)
        self.pages.adjustSize()
        self.adjustSize()
        self._fit()
        self.open_button.setText(tr("&Connect") if page == PAGE_SERVER else tr("&Open"))
        self._update_hints()

    def _default_tls_for_host(self) -> None:
        if not self._tls_touched:  # follow the host until the person chooses a mode
            mode = cp.default_tls_mode(self.host_edit.text(), self.ca_edit.text())
            self.tls_combo.setCurrentIndex(cp.TLS_MODES.index(mode))

    def _update_hints(self) -> None:
        if self.pages.currentIndex() != PAGE_SERVER:
            return
        profile = self.current_profile()
        self.tls_warning.setText(cp.weak_tls_warning(profile) if profile.weak_tls else "")
        self.weak_check.setVisible(bool(profile.host) and not cp.is_local_host(profile.host))
        source = cp.password_source(profile) if profile.host and profile.login else None
        if source == "PGPASSWORD":
            note = tr("The password is taken from the PGPASSWORD environment variable if you leave it empty.")
        elif source:
            note = tr("The password is taken from your PostgreSQL password file ({file}) if you leave it empty.").format(
                file=source)
        else:
            note = tr("Asked each time you connect; never saved.")
        self.password_note.setText(note)
        self._fit()

    def _fit(self) -> None:
        """Grow to show a new sentence whole (wrapped labels do not ask for room by themselves)."""
        if self.isVisible():
            self.resize(self.width(), max(self.height(), self.layout().totalHeightForWidth(self.width())))

    def _focus_first_empty(self) -> None:
        if self.pages.currentIndex() == PAGE_FILE:
            self.file_edit.setFocus()
            return
        for widget in (self.host_edit, self.database_edit, self.login_edit, self.password_edit):
            if not widget.text():
                widget.setFocus()
                return
        self.password_edit.setFocus()

    # --- actions -------------------------------------------------------------------------

    def _browse_file(self) -> None:
        start = self.file_edit.text() or str(app_paths().default_database)
        path, _ = QFileDialog.getSaveFileName(self, tr("Open or create a clinic file"), start,
                                              tr("Clinic files (*.sqlite *.db);;All files (*)"),
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.file_edit.setText(path)

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Choose the clinic's CA file"), self.ca_edit.text() or str(Path.home()),
                                              tr("Certificates (*.crt *.pem *.cer);;All files (*)"))
        if path:
            self.ca_edit.setText(path)

    def _validated(self) -> cp.ConnectionProfile | None:
        try:
            return cp.validate(self.current_profile())
        except cp.ProfileError as exc:
            self.message.setText(str(exc))
            return None

    def test_connection(self) -> None:
        """Try the connection in the background; the answer appears beside the button."""
        profile = self._validated()
        if profile is None:
            self.test_result.setText(self.message.text())
            return
        self.message.clear()
        password = self.password_edit.text() or None
        self.test_button.setEnabled(False)
        self.test_result.setText(tr("Testing the connection…"))
        check = self._check
        self.test_relay = run_background(lambda: check(profile, password), self._tested, self._test_failed, owner=self)

    def _tested(self, result: cp.ConnectionCheck) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(result.sentence)
        self._fit()
        self.tested.emit(result)

    def _test_failed(self, exc: Exception) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(tr("The test failed: {error}").format(error=type(exc).__name__))

    def _submit(self) -> None:
        profile = self._validated()
        if profile is None:
            return
        self.profile = profile
        self.password = (self.password_edit.text() or None) if profile.is_server else None
        self.accept()


def choose_connection(parent: QWidget | None = None, preselect: cp.ConnectionProfile | None = None,
                      message: str = "") -> tuple[cp.ConnectionProfile, str | None] | None:
    """Show the dialog; the chosen profile and typed password, or None when cancelled."""
    dialog = ConnectionDialog(parent, preselect, message)
    if dialog.exec() != QDialog.DialogCode.Accepted or dialog.profile is None:
        return None
    return dialog.profile, dialog.password
