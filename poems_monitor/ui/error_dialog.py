"""An unexpected error in the desktop app: a dialog that says so in plain words, never a silent exit.

Owns the app's error hooks (`install_error_handlers`): `sys.excepthook` (an exception in a slot,
an event handler or a timer ends up there: PySide6 reports it and the event loop goes on),
`threading.excepthook` (a Python thread), and Qt's message handler for fatal messages (Qt aborts
after them). Each logs the traceback under an error id (`incident.record_unexpected`) and shows
`UnexpectedErrorDialog` on the GUI thread: what happened, that the app is still open and what was
typed in open forms is still there, the error type and id, and the log file's path to select,
copy or open. Never the exception's message: it may quote an MRN, a name or a value.

While one dialog is open a further error is logged (with its own id) but opens no second dialog:
an error that repeats on every repaint must not bury the screen under windows.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, Qt, QtMsgType, QUrl, Signal, qInstallMessageHandler
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.incident import Incident, one_sentence, record_unexpected


class UnexpectedErrorDialog(QDialog):
    """What went wrong, without patient data; where the details are. `at_start_up`: the app could
    not open and closes when this dialog does (its button says Quit)."""

    def __init__(self, incident: Incident, at_start_up: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.incident = incident
        self.setWindowTitle(tr("Unexpected error"))
        self.setMinimumWidth(520)
        if at_start_up:
            what = tr("Something went wrong while poems-monitor was starting, and it has to close. Nothing was "
                      "entered yet. Try to start it again; if this happens again, call your IT support.")
        else:
            what = tr("Something went wrong in poems-monitor. The app is still open, and what you typed in open "
                      "forms is kept where possible: check it and save it, then restart the app if anything "
                      "looks wrong.")
        self.message = QLabel("<p><b>{}</b></p><p>{}</p>".format(
            tr("An unexpected error occurred."), what))
        self.message.setWordWrap(True)
        self.message.setAccessibleName(tr("What happened"))
        self.details = QLabel(tr("Error {kind}, error id {id}. Give the error id and the log file to your IT "
                                 "support; the log holds the technical details, without patient "
                                 "identifiers.").format(kind=incident.kind, id=incident.error_id))
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAccessibleName(tr("Error id"))
        self.log_path = QLineEdit(str(incident.log_file) if incident.log_file is not None
                                  else tr("No log file could be written (the log folder is not writable)."))
        self.log_path.setReadOnly(True)
        self.log_path.setAccessibleName(tr("Log file"))
        self.log_path.setAccessibleDescription(tr("Where the technical details of this error were written"))
        self.log_path.setCursorPosition(0)

        buttons = QDialogButtonBox()
        self.copy_button = QPushButton(tr("&Copy error id and log path"))
        self.copy_button.clicked.connect(self.copy_details)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.open_folder_button = QPushButton(tr("&Open log folder"))
        self.open_folder_button.clicked.connect(self.open_log_folder)
        self.open_folder_button.setEnabled(incident.log_file is not None)
        buttons.addButton(self.open_folder_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(tr("&Quit") if at_start_up else tr("C&lose"), QDialogButtonBox.ButtonRole.AcceptRole)
        close.setDefault(True)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.details)
        layout.addWidget(QLabel(tr("Log file:")))
        layout.addWidget(self.log_path)
        layout.addWidget(buttons)

    def shown_text(self) -> str:
        """Every word the dialog shows (for tests and for a screen reader's summary)."""
        return "\n".join((self.windowTitle(), self.message.text(), self.details.text(), self.log_path.text()))

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(tr("poems-monitor error {kind}, error id {id}, log file {file}").format(
            kind=self.incident.kind, id=self.incident.error_id, file=self.incident.log_file or "-"))

    def open_log_folder(self) -> None:
        if self.incident.log_file is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.incident.log_file.parent)))


class ErrorReporter(QObject):
    """The app's error hooks; lives on the GUI thread, where it shows the dialogs."""

    report = Signal(object)  # an Incident, emitted from any thread, shown on the GUI thread

    def __init__(self, app: QApplication):
        super().__init__(app)
        self.dialog: UnexpectedErrorDialog | None = None
        self.report.connect(self.show_dialog)  # queued when emitted from another thread
        self._previous_qt_handler = None

    def install(self) -> None:
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook
        self._previous_qt_handler = qInstallMessageHandler(self.qt_message)

    def uninstall(self) -> None:
        sys.excepthook = sys.__excepthook__
        threading.excepthook = threading.__excepthook__
        qInstallMessageHandler(self._previous_qt_handler)

    def excepthook(self, kind, exc, tb) -> None:  # noqa: ANN001 (sys.excepthook's signature)
        if issubclass(kind, KeyboardInterrupt):  # Ctrl+C in the terminal that started the app
            QApplication.quit()
            return
        self._reported(record_unexpected((kind, exc, tb), "desktop app"))

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        self._reported(record_unexpected((args.exc_type, args.exc_value, args.exc_traceback), f"thread {name}"))

    def qt_message(self, mode: QtMsgType, context, message: str) -> None:  # noqa: ANN001 (QMessageLogContext)
        if mode == QtMsgType.QtFatalMsg:
            # Qt aborts the process when this returns: log it and, on the GUI thread, say so first
            incident = record_unexpected(None, "Qt", message)
            print(one_sentence(incident), file=sys.stderr, flush=True)
            if threading.current_thread() is threading.main_thread() and self.dialog is None:
                UnexpectedErrorDialog(incident, at_start_up=True).exec()
            return
        if self._previous_qt_handler is not None:
            self._previous_qt_handler(mode, context, message)
        else:
            print(message, file=sys.stderr)

    def _reported(self, incident: Incident) -> None:
        print(one_sentence(incident, still_running=True), file=sys.stderr, flush=True)
        self.report.emit(incident)

    def show_dialog(self, incident: Incident) -> None:
        if self.dialog is not None:  # one at a time; this one's id is in the log
            return
        self.dialog = UnexpectedErrorDialog(incident, parent=QApplication.activeWindow())
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.finished.connect(self._dialog_closed)
        self.dialog.show()  # not modal: the person can go back to an open form and save it
        self.dialog.raise_()

    def _dialog_closed(self) -> None:
        self.dialog = None


def install_error_handlers(app: QApplication) -> ErrorReporter:
    reporter = ErrorReporter(app)
    reporter.install()
    return reporter


def show_start_up_error(incident: Incident) -> None:
    """The app could not start: the dialog, modal, before the process exits (when there is a
    screen to show it on; headless, the sentence on stderr is all)."""
    print(one_sentence(incident), file=sys.stderr, flush=True)
    if QApplication.instance() is not None and QGuiApplication.platformName() not in ("offscreen", "minimal"):
        UnexpectedErrorDialog(incident, at_start_up=True).exec()
