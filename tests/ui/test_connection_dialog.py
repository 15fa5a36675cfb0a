"""The connection dialog (first start, and Settings › clinic server), driven from the keyboard:
a clinic file or a clinic server, the TLS warning and refusal off this computer, the validation
sentences, accessible names, the password never saved, and "Test connection" in the background
against the session's real TLS server."""

from __future__ import annotations

import socket
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QListWidget, QSpinBox

from poems_monitor.services import connection_profiles as cp
from poems_monitor.ui.connection_dialog import ConnectionDialog
from tests.integration.conftest import pg_server  # noqa: F401 (the session's TLS server)
from tests.integration.test_connection_profiles import PASSWORD, clinic_server  # noqa: F401
from tests.pg_server import make_certificates


def _type(qtbot, widget, text: str) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(widget, Qt.Key.Key_Delete)
    qtbot.keyClicks(widget, text)


def _dialog(qtbot, **kwargs) -> ConnectionDialog:
    dialog = ConnectionDialog(**kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitActive(dialog)  # mnemonics (Alt+letter) reach the active window only
    return dialog


def _fill_server(qtbot, dialog, profile: cp.ConnectionProfile, password: str) -> None:
    dialog.server_radio.setFocus()
    qtbot.keyClick(dialog.server_radio, Qt.Key.Key_Space)
    assert dialog.server_radio.isChecked()
    assert dialog.pages.currentWidget().isVisible() and dialog.host_edit.isVisible()
    _type(qtbot, dialog.host_edit, profile.host)
    _type(qtbot, dialog.port_spin.lineEdit(), str(profile.port))
    _type(qtbot, dialog.database_edit, profile.database)
    _type(qtbot, dialog.login_edit, profile.login)
    _type(qtbot, dialog.password_edit, password)
    _type(qtbot, dialog.ca_edit, profile.ca_file)
    _type(qtbot, dialog.name_edit, profile.name)


def test_first_start_offers_this_computers_clinic_file_and_return_opens_it(qtbot, tmp_path):
    dialog = _dialog(qtbot)
    assert dialog.file_radio.isChecked() and dialog.focusWidget() is dialog.file_edit
    assert dialog.file_edit.text().endswith("poems-monitor.sqlite")
    assert "(none saved yet)" in dialog.saved_list.item(0).text()
    _type(qtbot, dialog.file_edit, str(tmp_path / "clinic.sqlite"))
    qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Return)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.profile.kind == cp.KIND_FILE and dialog.profile.path == str(tmp_path / "clinic.sqlite")
    assert dialog.password is None


def test_every_input_has_an_accessible_name(qtbot):
    from PySide6.QtGui import QAccessible
    from PySide6.QtWidgets import QDialogButtonBox

    from tests.ui.test_accessibility import spoken

    dialog = _dialog(qtbot)
    box_buttons = set(dialog.findChild(QDialogButtonBox).buttons())  # named by their own text
    inputs = [w for cls in (QLineEdit, QSpinBox, QComboBox, QAbstractButton, QListWidget) for w in dialog.findChildren(cls)
              if w not in box_buttons and not isinstance(w.parent(), (QSpinBox, QComboBox))]  # not a spin box's own edit
    assert len(inputs) >= 14
    # what a screen reader announces: a set name, a buddy label's text, or a button's own text
    assert [w.objectName() or type(w).__name__ for w in inputs if not spoken(w, QAccessible.Text.Name)] == []


def test_weak_tls_off_this_computer_is_warned_and_refused_unless_allowed(qtbot, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    dialog = _dialog(qtbot)
    _fill_server(qtbot, dialog, cp.ConnectionProfile("Far", host="db.clinic.example", database="poems", login="ann",
                                                     ca_file=str(ca)), "pw")
    assert dialog.tls_combo.currentText() == "verify-full"  # the default off this computer
    assert dialog.tls_warning.text() == ""
    dialog.tls_combo.setFocus()
    qtbot.keyClick(dialog.tls_combo, Qt.Key.Key_Up)  # verify-full -> verify-ca
    assert dialog.tls_combo.currentText() == "verify-ca"
    assert dialog.tls_warning.text().startswith("Warning: with verify-ca to db.clinic.example")
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)
    assert dialog.result() != dialog.DialogCode.Accepted
    assert dialog.message.text().startswith("TLS mode: db.clinic.example is not this computer")
    dialog.weak_check.setFocus()
    qtbot.keyClick(dialog.weak_check, Qt.Key.Key_Space)
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.profile.allow_weak_tls and dialog.profile.tls_mode == "verify-ca" and dialog.password == "pw"


def test_a_missing_field_is_named_and_nothing_is_accepted(qtbot):
    dialog = _dialog(qtbot)
    _fill_server(qtbot, dialog, cp.ConnectionProfile("Here", host="localhost", database="", login="ann"), "pw")
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)
    assert dialog.result() != dialog.DialogCode.Accepted
    assert dialog.message.text() == "Database: give the clinic database's name on the server."
    assert cp.load_profiles().profiles == ()


def test_a_saved_profile_is_offered_and_its_password_is_asked_not_stored(qtbot, tmp_path, _isolated_home):
    cp.add_profile(cp.ConnectionProfile("Day unit", host="localhost", port=5433, database="poems", login="ann"))
    dialog = _dialog(qtbot, preselect=cp.load_profiles().get("Day unit"))
    assert dialog.server_radio.isChecked() and dialog.focusWidget() is dialog.password_edit
    assert dialog.host_edit.text() == "localhost" and dialog.port_spin.value() == 5433
    assert dialog.password_note.text() == "Asked each time you connect; never saved."
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.password == PASSWORD
    cp.remember_last_used(dialog.profile)
    assert not [f for f in Path(_isolated_home).rglob("*") if f.is_file() and PASSWORD.encode() in f.read_bytes()]


def test_the_dialog_says_when_pgpass_holds_the_password(qtbot, tmp_path, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("localhost:5432:poems:ann:secret\n")
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    dialog = _dialog(qtbot, preselect=cp.ConnectionProfile("Here", host="localhost", database="poems", login="ann"))
    assert dialog.password_note.text() == (
        f"The password is taken from your PostgreSQL password file ({pgpass}) if you leave it empty.")


def _test_connection(qtbot, dialog) -> cp.ConnectionCheck:
    with qtbot.waitSignal(dialog.tested, timeout=30000) as blocker:
        dialog.test_button.setFocus()
        qtbot.keyClick(dialog.test_button, Qt.Key.Key_Space)
        assert dialog.test_result.text() == "Testing the connection…"  # the UI thread is free meanwhile
        assert not dialog.test_button.isEnabled()
    return blocker.args[0]


def test_test_connection_against_the_real_tls_server(qtbot, clinic_server, tmp_path):  # noqa: F811
    profile = clinic_server["profile"]
    dialog = _dialog(qtbot)
    _fill_server(qtbot, dialog, profile, PASSWORD)
    assert dialog.tls_combo.currentText() == "verify-full"  # a CA file given: verified even on this computer

    assert _test_connection(qtbot, dialog).outcome is cp.Outcome.REACHABLE
    assert dialog.test_result.text().startswith("Reachable: ")

    _type(qtbot, dialog.password_edit, "wrong-password")
    assert _test_connection(qtbot, dialog).outcome is cp.Outcome.WRONG_PASSWORD
    assert dialog.test_result.text() == (f"Refused: the server did not accept the password of {profile.login} "
                                         "(wrong password, or the login is not active).")

    other_ca, _, _ = make_certificates(tmp_path)
    _type(qtbot, dialog.password_edit, PASSWORD)
    _type(qtbot, dialog.ca_edit, str(other_ca))
    assert _test_connection(qtbot, dialog).outcome is cp.Outcome.TLS_REFUSED
    assert dialog.test_result.text().startswith("TLS refused: the server's certificate was not signed by the CA file")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    _type(qtbot, dialog.ca_edit, profile.ca_file)
    _type(qtbot, dialog.port_spin.lineEdit(), str(closed))
    assert _test_connection(qtbot, dialog).outcome is cp.Outcome.UNREACHABLE
    assert dialog.test_result.text().startswith(f"Unreachable: clinic server unreachable at 127.0.0.1:{closed}")
    assert dialog.test_button.isEnabled()


def test_app_opens_a_server_profile_through_the_dialog_and_remembers_it(qtbot, clinic_server, monkeypatch):  # noqa: F811
    """At first start with a saved server profile: the password typed in the dialog signs in (no
    second password prompt); the profile, never the password, is remembered for the next start."""
    import argparse

    from poems_monitor import app

    profile = clinic_server["profile"]
    cp.add_profile(profile)
    cp.remember_last_used(profile)

    def answer(preselect=None, message=""):  # noqa: ANN001, ANN202 (what the person types in the dialog)
        dialog = _dialog(qtbot, preselect=preselect, message=message)
        assert dialog.focusWidget() is dialog.password_edit
        qtbot.keyClicks(dialog.password_edit, PASSWORD)
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
        return dialog.profile, dialog.password

    monkeypatch.setattr("poems_monitor.ui.connection_dialog.choose_connection", answer)
    opened = app._open_and_sign_in(argparse.Namespace(db=None, profile=None, user=None))
    db, actor, read_only = opened
    try:
        assert actor.name == clinic_server["admin"] and not read_only
        assert "sslmode=verify-full" in db.url and PASSWORD not in db.url
    finally:
        db.dispose()
    assert cp.load_profiles().last_used == profile.name


def test_first_start_without_db_or_a_last_used_profile_asks_and_cancel_opens_nothing(monkeypatch):
    import argparse

    from poems_monitor import app

    asked = []
    monkeypatch.setattr("poems_monitor.ui.connection_dialog.choose_connection",
                        lambda preselect=None, message="": asked.append(preselect) or None)
    assert app._open_and_sign_in(argparse.Namespace(db=None, profile=None, user=None)) == "cancelled"
    assert asked == [None]
    assert not list(Path(cp.profiles_path().parent.parent).rglob("*.sqlite"))  # no clinic file was created
