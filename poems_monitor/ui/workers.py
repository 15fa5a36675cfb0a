"""Running long work off the GUI thread and getting its result back on it.

Owns the one helper every screen uses (Anki's "operations" idea, in miniature): `run_background(
fn, on_done, on_error, owner)` runs `fn()` on Qt's global thread pool and calls `on_done(result)`
or `on_error(exception)` on the GUI thread, through a queued connection to a small relay object
parented to `owner`: when the owner widget is destroyed first, the result is simply dropped.
`fn` must not touch widgets; services are fine (each opens its own session).

`run_with_progress(fn, ...)` does the same for long work that reports progress (services take a
`progress` callable, services/progress.py) behind a window-modal progress dialog with Cancel:
Cancel makes the next progress call raise `Cancelled`, the service's one transaction rolls back,
and the caller is told it was cancelled (nothing of the work is kept).

`run_in_worker_process(job, db, args, ...)` is `run_background` for whole-clinic work: the job
runs in its window's worker process (`ui.worker_process`), which is ended when the window closes
or is destroyed (the app quitting, or another clinic opened in its place).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QProgressDialog, QPushButton, QWidget

from poems_monitor.i18n import tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.progress import Cancelled, Progress
from poems_monitor.ui import worker_process

log = logging.getLogger(__name__)

_pending: set[_Relay] = set()  # relays without an owner stay alive until they report


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Relay(QObject):
    """Lives on the GUI thread; receives the worker's result through a queued connection."""

    finished = Signal()

    def __init__(self, on_done: Callable[[Any], None], on_error: Callable[[Exception], None] | None,
                 owner: QObject | None):
        super().__init__(owner)
        self._on_done = on_done
        self._on_error = on_error

    @Slot(object)
    def deliver(self, result: Any) -> None:
        try:
            self._on_done(result)
        finally:
            self._close()

    @Slot(object)
    def fail(self, exc: Exception) -> None:
        try:
            if self._on_error is not None:
                self._on_error(exc)
        finally:
            self._close()

    def _close(self) -> None:
        _pending.discard(self)
        self.finished.emit()
        self.deleteLater()


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _Signals):
        super().__init__()
        self.fn = fn
        self.signals = signals

    def run(self) -> None:  # worker thread
        try:
            result = self.fn()
        except Cancelled as exc:  # asked for: no error
            self._emit(self.signals.failed, exc)
        except Exception as exc:  # reported on the GUI thread
            log.exception("background work failed")
            self._emit(self.signals.failed, exc)
        else:
            self._emit(self.signals.done, result)

    @staticmethod
    def _emit(signal, value) -> None:  # noqa: ANN001
        try:
            signal.emit(value)
        except RuntimeError:  # the receiver (and its owner) went away meanwhile: nobody to tell
            log.debug("background result dropped: its receiver is gone")


def run_background(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[Exception], None] | None = None,
    owner: QObject | None = None,
) -> _Relay:
    """Run `fn()` in the thread pool and report on the GUI thread. Returns the relay, whose
    `finished` signal tests can wait for."""
    relay = _Relay(on_done, on_error, owner)
    signals = _Signals()  # owned by the task: emitting still works if the owner is gone meanwhile
    signals.done.connect(relay.deliver, Qt.ConnectionType.QueuedConnection)
    signals.failed.connect(relay.fail, Qt.ConnectionType.QueuedConnection)
    task = _Task(fn, signals)
    relay._keep = (task, signals)  # alive until the relay reports (or its owner is destroyed)
    if owner is None:
        _pending.add(relay)
    QThreadPool.globalInstance().start(task)
    return relay


class _StopWorkerOnClose(QObject):
    """Ends the worker process of the watched window once the window has closed (a close it
    refused, e.g. for an unsaved visit, keeps it) or has been destroyed."""

    NAME = "worker_process_guard"

    def __init__(self, window: QWidget, key: int):
        super().__init__(window)
        self.setObjectName(self.NAME)
        self._window = window
        self._key = key
        window.installEventFilter(self)
        window.destroyed.connect(lambda *_: worker_process.stop(key))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Close:
            QTimer.singleShot(0, self, self._closed_or_not)  # (the window decides after this filter)
        return False

    def _closed_or_not(self) -> None:
        if not self._window.isVisible():
            worker_process.stop(self._key)


_quit_hooked: list[bool] = []


def run_in_worker_process(
    job: Callable[..., Any],
    db: Database,
    args: tuple,
    on_done: Callable[[Any], None],
    on_error: Callable[[Exception], None] | None,
    owner: QWidget,
    patients: int,
) -> _Relay:
    """`run_background` of `job(db, *args)` run by `worker_process.compute` (for a large clinic, in
    the worker process of `owner`'s window). When the window closes its worker is ended, and a job
    still running reports `on_error(Cancelled)`."""
    window = owner.window()
    key = id(window)
    if window.findChild(QObject, _StopWorkerOnClose.NAME) is None:
        _StopWorkerOnClose(window, key)
    cancel = threading.Event()
    relay = run_background(lambda: worker_process.compute(job, db, args, patients=patients, cancel=cancel, key=key),
                           on_done, on_error, owner=owner)
    relay.destroyed.connect(cancel.set)  # the owner went away first
    app = QCoreApplication.instance()
    if app is not None and not _quit_hooked:
        _quit_hooked.append(True)
        app.aboutToQuit.connect(worker_process.stop_all)
    return relay


class _ProgressSignals(QObject):
    progressed = Signal(str, int, int)


def wrap_progress_text(dialog: QProgressDialog) -> None:
    """Let the dialog's text wrap at about 60 characters: a long step (a file name, a sentence on
    what Cancel does) otherwise widens the dialog past a 1366 px screen, its Cancel button off it."""
    label = QLabel(dialog)
    label.setWordWrap(True)
    label.setMinimumWidth(60 * label.fontMetrics().averageCharWidth())
    dialog.setLabel(label)


def dialog_progress(dialog: QProgressDialog, showing: Callable[[], bool] = lambda: True) -> Progress:
    """A progress callable for work in another thread: each report (what, done, total) is shown in
    `dialog` on the GUI thread, while `showing()`; a total of 0 makes the bar a busy indicator."""
    signals = _ProgressSignals(dialog)

    def show(what: str, done: int, total: int) -> None:
        if not showing():
            return
        dialog.setLabelText(what)
        dialog.setMaximum(max(total, 0))
        dialog.setValue(min(done, total) if total > 0 else 0)

    signals.progressed.connect(show, Qt.ConnectionType.QueuedConnection)
    return signals.progressed.emit


class ProgressDialog(QProgressDialog):
    """The dialog of `run_with_progress`; `relay.finished` tells when the work has stopped."""

    relay: _Relay | None = None


def run_with_progress(
    fn: Callable[[Progress], Any],
    on_done: Callable[[Any], None],
    on_cancelled: Callable[[], None],
    on_error: Callable[[Exception], None],
    parent: QWidget,
    title: str,
) -> ProgressDialog:
    """Run `fn(progress)` in the thread pool behind a progress dialog (window-modal on `parent`).
    Exactly one of `on_done(result)`, `on_cancelled()` or `on_error(exception)` is called on the
    GUI thread, after the dialog has closed. Returns the dialog."""
    cancel = threading.Event()
    dialog = ProgressDialog(title, tr("Cancel"), 0, 0, parent)
    wrap_progress_text(dialog)
    dialog.setLabelText(title)
    dialog.setObjectName("progress")
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.disconnect(dialog.cancel)  # stays open, saying so, until the work has stopped

    def ask_to_cancel() -> None:
        cancel.set()
        dialog.setLabelText(tr("Cancelling: the work is undone, nothing of it is kept…"))
        button = dialog.findChild(QPushButton)
        if button is not None:  # (asked once is enough)
            button.setEnabled(False)

    dialog.canceled.connect(ask_to_cancel)
    show = dialog_progress(dialog, lambda: not cancel.is_set())

    def progress(what: str, done: int, total: int) -> None:  # worker thread
        if cancel.is_set():
            raise Cancelled(what)
        show(what, done, total)

    def work() -> Any:
        result = fn(progress)
        if cancel.is_set():  # asked during the last step, which has finished: the result stands
            log.info("cancel asked after the work was done; its result is kept")
        return result

    def done(result: Any) -> None:
        dialog.close()
        on_done(result)

    def failed(exc: Exception) -> None:
        dialog.close()
        if isinstance(exc, Cancelled):
            on_cancelled()
        else:
            on_error(exc)

    dialog.relay = run_background(work, done, failed, owner=parent)
    dialog.show()
    return dialog
