"""The sign-in dialog (first start creates the administrator; a wrong password is refused in one
sentence) and the history table of a patient's changes, driven as a person would."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

TODAY = date(2026, 11, 21)


def _type(qtbot, widget, text: str) -> None:  # noqa: ANN001
    widget.setFocus()
    qtbot.keyClicks(widget, text)


def test_first_start_creates_the_administrator(qtbot, db):
    from poems_monitor.services.access import Role
    from poems_monitor.services.users import list_users
    from poems_monitor.ui.login_dialog import LoginDialog

    dialog = LoginDialog(db)
    qtbot.addWidget(dialog)
    assert dialog.first_start and dialog.repeat_edit is not None
    _type(qtbot, dialog.name_edit, "boss")
    _type(qtbot, dialog.password_edit, "long-password")
    _type(qtbot, dialog.repeat_edit, "long-passwore")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "differ" in dialog.message.text() and dialog.result() != QDialog.DialogCode.Accepted
    dialog.repeat_edit.clear()
    _type(qtbot, dialog.repeat_edit, "long-password")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.actor is not None and dialog.actor.role is Role.ADMIN
    assert [(a.name, a.role) for a in list_users(db)] == [("boss", Role.ADMIN)]


def test_sign_in_refuses_a_wrong_password_and_accepts_the_right_one(qtbot, db, admin):
    from poems_monitor.services.access import Role
    from poems_monitor.services.users import add_user
    from poems_monitor.ui.login_dialog import LoginDialog

    add_user(db, admin, "ann", Role.NURSE, "nurse-password")
    dialog = LoginDialog(db)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.first_start and dialog.repeat_edit is None
    _type(qtbot, dialog.name_edit, "ann")
    _type(qtbot, dialog.password_edit, "guess")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert "wrong" in dialog.message.text() and dialog.actor is None
    assert dialog.password_edit.text() == ""  # cleared for the next attempt
    _type(qtbot, dialog.password_edit, "nurse-password")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert (dialog.actor.name, dialog.actor.role) == ("ann", Role.NURSE)


def test_sign_in_locks_the_account_after_wrong_passwords_as_the_command_line_does(qtbot, db, admin, _isolated_home):
    from poems_monitor.services.access import Role
    from poems_monitor.services.users import add_user, unlock_user
    from poems_monitor.ui.login_dialog import LoginDialog

    (_isolated_home / "config").mkdir(exist_ok=True)
    (_isolated_home / "config" / "session.toml").write_text("sign_in_attempts = 3\n", encoding="utf-8")
    add_user(db, admin, "ann", Role.NURSE, "nurse-password")
    dialog = LoginDialog(db)
    qtbot.addWidget(dialog)
    dialog.show()
    _type(qtbot, dialog.name_edit, "ann")
    for guess in ("guess-1", "guess-2", "guess-3"):
        _type(qtbot, dialog.password_edit, guess)
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    _type(qtbot, dialog.password_edit, "nurse-password")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert "ann is locked" in dialog.message.text() and dialog.actor is None
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert unlock_user(db, admin, "ann")
    _type(qtbot, dialog.password_edit, "nurse-password")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.actor.name == "ann"


def test_history_view_shows_old_and_new_values_and_filters(qtbot, qtmodeltester, db, nurse):
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit
    from poems_monitor.ui.history_view import COL_NEW, COL_OLD, COL_WHY, HistoryView

    pid = create_patient(db, nurse, PatientInput("UI-1", "History Person", "male", date(1960, 1, 1)), today=TODAY)
    saved = record_visit(db, nurse, "UI-1", VisitInput(date(2025, 1, 5), values=(EnteredValue("platelets", 512, "10*9/L"),)),
                         today=TODAY)
    correct_visit(db, nurse, saved.visit_id, saved.version,
                  VisitInput(date(2025, 1, 5), values=(EnteredValue("platelets", 521, "10*9/L"),)), "digits swapped",
                  today=TODAY)
    view = HistoryView(db, pid)
    qtbot.addWidget(view)
    view.show()
    qtmodeltester.check(view.model)
    proxy = view.proxy
    rows = [[proxy.index(r, c).data() for c in range(proxy.columnCount())] for r in range(proxy.rowCount())]
    corrected = [r for r in rows if r[COL_WHY] == "digits swapped"]
    assert corrected and (corrected[0][COL_OLD], corrected[0][COL_NEW]) == ("512 10*9/L", "521 10*9/L")
    assert "correction" in view.summary.text()

    _type(qtbot, view.filter_edit, "digits")
    assert proxy.rowCount() == 1
    view.filter_edit.clear()
    assert proxy.rowCount() == len(rows)
