"""An unexpected error is shown in a dialog with the log path and no patient data, never a silent
exit: in a slot (the app goes on), in a Python thread, at start-up (the dialog, then exit 4), and
on the command line (one sentence with the log path, exit 4, no traceback)."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import re
import sys
import threading

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QPushButton, QVBoxLayout, QWidget

from poems_monitor import logging_setup
from poems_monitor.incident import EXIT_UNEXPECTED
from poems_monitor.ui.error_dialog import ErrorReporter, UnexpectedErrorDialog

MRN, NAME = "H-000123", "Jane Example"
ID_PATTERN = re.compile(r"error id ([A-Z]{4}-[A-Z]{4})")


@pytest.fixture
def fresh_log(_isolated_home, monkeypatch):
    """The log file configured anew in this test's home folder (as a new process would)."""
    monkeypatch.setattr(logging_setup, "_configured", False)
    root = logging.getLogger("poems_monitor")
    before = list(root.handlers)
    for handler in before:  # a log an earlier test configured (in its own home) is not this one's
        root.removeHandler(handler)
    yield _isolated_home / "logs" / "poems-monitor.log"
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    for handler in before:
        root.addHandler(handler)


@pytest.fixture
def reporter(qapp, monkeypatch):
    """The app's error hooks, as `run_app` installs them; sys.excepthook restored afterwards."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    hooks = ErrorReporter(qapp)
    hooks.install()
    yield hooks
    hooks.uninstall()
    if hooks.dialog is not None:
        hooks.dialog.close()
    hooks.deleteLater()


def a_form_whose_button_fails(qtbot) -> tuple[QWidget, QPushButton]:
    form = QWidget()
    form.setWindowTitle("a form")
    button = QPushButton("Save", form)
    QVBoxLayout(form).addWidget(button)

    def save() -> None:
        raise KeyError(f"patient {MRN} {NAME} platelets 512")

    button.clicked.connect(save)
    qtbot.addWidget(form)
    form.show()
    return form, button


@pytest.mark.qt_no_exception_capture  # the app's own hook must see the exception, not pytest-qt's
def test_an_error_in_a_slot_shows_the_dialog_with_the_log_path_and_no_patient_data(qtbot, reporter, fresh_log, capsys):
    form, button = a_form_whose_button_fails(qtbot)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible())
    dialog = reporter.dialog
    shown = dialog.shown_text()
    assert "unexpected error" in shown.lower() and "still open" in shown
    assert str(fresh_log) in shown and dialog.log_path.isReadOnly()
    assert "KeyError" in shown
    assert MRN not in shown and NAME not in shown and "512" not in shown and "000123" not in shown
    error_id = ID_PATTERN.search(shown).group(1)
    log = fresh_log.read_text(encoding="utf-8")
    assert error_id in log and "Traceback" in log and "in save" in log and "KeyError" in log
    assert MRN not in log  # the log is scrubbed as every log line is
    err = capsys.readouterr().err
    assert error_id in err and str(fresh_log) in err and "Traceback" not in err and MRN not in err
    assert form.isVisible()  # the app goes on: the form and what it holds are still there

    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert error_id in copied and str(fresh_log) in copied and MRN not in copied
    assert dialog.open_folder_button.isEnabled()

    # a second error while the dialog is open: logged with its own id, no second window
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert reporter.dialog is dialog
    assert len(set(ID_PATTERN.findall(capsys.readouterr().err + shown))) == 2
    dialog.accept()
    qtbot.waitUntil(lambda: reporter.dialog is None)


@pytest.mark.qt_no_exception_capture
def test_an_error_in_a_python_thread_is_shown_on_the_gui_thread(qtbot, reporter, fresh_log):
    def work() -> None:
        raise ValueError(f"value for {MRN}")

    worker = threading.Thread(target=work, name="import-worker")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: reporter.dialog is not None)
    assert "ValueError" in reporter.dialog.shown_text() and MRN not in reporter.dialog.shown_text()
    assert "thread import-worker" in fresh_log.read_text(encoding="utf-8")
    reporter.dialog.accept()


def test_without_a_log_file_the_dialog_says_so_and_cannot_open_a_folder(qtbot):
    from poems_monitor.incident import Incident

    dialog = UnexpectedErrorDialog(Incident("BCDF-GHJK", "OSError", None))
    qtbot.addWidget(dialog)
    assert "No log file could be written" in dialog.shown_text()
    assert not dialog.open_folder_button.isEnabled()


def test_an_error_at_start_up_shows_the_dialog_before_exit_and_exits_4(qtbot, fresh_log, monkeypatch):
    from poems_monitor import app as app_module
    from poems_monitor.ui import error_dialog

    def failing_demo():  # noqa: ANN202
        raise RuntimeError(f"cannot open the record of {MRN} ({NAME})")

    monkeypatch.setattr(app_module, "_demo_clinic", failing_demo)
    # the offscreen platform of the tests is otherwise taken for a headless render without a screen
    monkeypatch.setattr(QGuiApplication, "platformName", staticmethod(lambda: "xcb"))
    seen: list[str] = []

    def answer() -> None:
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, UnexpectedErrorDialog) and w.isVisible()]
        if not dialogs:
            QTimer.singleShot(50, answer)
            return
        seen.append(dialogs[0].shown_text())
        dialogs[0].accept()

    QTimer.singleShot(50, answer)
    args = argparse.Namespace(demo=True, screenshot=None, db=None, user=None, mrn=None, view="dashboard")
    code = app_module.run_app(args)
    assert code == EXIT_UNEXPECTED == 4
    assert seen and "starting" in seen[0] and "RuntimeError" in seen[0] and str(fresh_log) in seen[0]
    assert MRN not in seen[0] and NAME not in seen[0]
    error_id = ID_PATTERN.search(seen[0]).group(1)
    log = fresh_log.read_text(encoding="utf-8")
    assert error_id in log and "failing_demo" in log and MRN not in log
    assert not isinstance(getattr(sys.excepthook, "__self__", None), error_dialog.ErrorReporter)  # removed on exit


def test_the_command_line_prints_one_sentence_with_the_log_path_and_exits_4(fresh_log, monkeypatch, tmp_path):
    from poems_monitor.cli import main
    from poems_monitor.services import worklist

    db = tmp_path / "clinic.sqlite"
    assert main(["demo", "--patients", "1", "--seed", "3", "--db", str(db)]) == 0

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise LookupError(f"no baseline for {MRN} {NAME}")

    monkeypatch.setattr(worklist, "build_worklist", broken)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["worklist", "--db", str(db)])
    text = err.getvalue()
    assert code == 4, text
    assert text.count("\n") == 1 and "Traceback" not in text
    assert "unexpected error" in text and "LookupError" in text and str(fresh_log) in text
    assert MRN not in text and NAME not in text
    assert ID_PATTERN.search(text).group(1) in fresh_log.read_text(encoding="utf-8")
