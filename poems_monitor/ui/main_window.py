"""The main window: patient list on the left, the selected patient's dashboard and visit entry in
the centre, the clinic worklist and the physician's "To review" list as further views; menus,
shortcuts, status bar, remembered layout; and the session's safety: the idle lock and sign-out,
backups (automatic on close, the overdue warning, Back up now / Restore), Check database, and a
patient's history of changes.

Owns navigation and the lock state only. Every screen gets the database and the signed-in actor
through its constructor (no global application object); the patient list's flag and overdue
counts are computed off the GUI thread. Screens built by other modules (visit entry, dialogs,
worklist) are imported when first needed, so a missing or failing one leaves a placeholder, not a
broken app. Who may do what is decided in the services; actions a role may not use are disabled
here as a courtesy. Switching to another user is the session's job (`ui.desktop_session`): it
builds a new window for the new actor, so no screen ever keeps the previous user.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QStackedWidget, QTabWidget, QToolBar,
    QVBoxLayout, QWidget,
)

from poems_monitor.config import app_paths
from poems_monitor.domain.catalogue import display_name
from poems_monitor.i18n import counted, tr
from poems_monitor.persistence.db import Database
from poems_monitor.services.access import Actor, Permission, PermissionDenied
from poems_monitor.services.changes import Changes
from poems_monitor.services.dashboard import clinic_overview
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.patients import list_patients, patient_id_for
from poems_monitor.services.users import SignInRefused, authenticate, list_users
from poems_monitor.ui.backup_ui import BackupStatus
from poems_monitor.ui.changes import ChangeBus
from poems_monitor.ui.dashboard.view import DashboardView
from poems_monitor.ui.idle_lock import IdleWatcher, LockPanel
from poems_monitor.ui.live_listener import start_live_updates
from poems_monitor.ui.patients.panel import PatientListPanel
from poems_monitor.ui.review_panel import ReviewPanel
from poems_monitor.ui.ui_settings import settings
from poems_monitor.ui.workers import run_background

log = logging.getLogger(__name__)

VIEW_PATIENTS, VIEW_WORKLIST, VIEW_REVIEW = 0, 1, 2
BACKUP_STATUS_REFRESH_MS = 60 * 60 * 1000  # the warning can appear while the app stays open for days
TAB_DASHBOARD, TAB_ENTRY = 0, 1


def _placeholder(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("placeholder")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    return label


def _optional(module: str, name: str):  # noqa: ANN202
    """A class from another screen's module, or None while that module does not provide it."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        log.info("%s.%s not available: %s", module, name, exc)
        return None
    except AttributeError:
        return None


class _CoverKeeper(QObject):
    """Keeps a lock panel covering the whole of another window while it is resized."""

    def __init__(self, window: QWidget, panel: QWidget):
        super().__init__(window)
        self._covered, self._panel = window, panel
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        covered = getattr(self, "_covered", None)  # (None while Python tears the object down)
        if covered is not None and watched is covered and event.type() == QEvent.Type.Resize:
            self._panel.setGeometry(covered.rect())
        return False

    def release(self) -> None:
        """Stop following the window. (Not deleted here: it goes with its window; deleting an event
        filter from Python while the filtered window lives crashed PySide 6.11 in a nested loop.)"""
        covered, self._covered = self._covered, None
        if covered is not None:
            covered.removeEventFilter(self)


class _UnlockWindow(QDialog):
    """The sign-in form on top of a modal window at lock time; it cannot be dismissed, only unlocked."""

    def __init__(self, owner: QWidget):
        # owned by the main window: dropping the Python reference while one of its own key presses
        # is being handled (Return in the password field) must not delete it under Qt's feet
        super().__init__(owner, Qt.WindowType.Dialog | Qt.WindowType.WindowTitleHint)
        self.done_with = False

    def reject(self) -> None:  # Escape: stays
        if self.done_with:
            super().reject()

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        if self.done_with:
            super().closeEvent(event)
        else:
            event.ignore()


class MainWindow(QMainWindow):
    """`signed_in`: the actor signed in with a password (enables Lock and Sign out, and the idle
    lock after `idle_lock_ms`); `backups`: this window looks after backups (automatic backup on
    close, the overdue warning); `read_only`: the database was opened read-only (damaged file)."""

    overviewUpdated = Signal()
    lockedChanged = Signal(bool)

    def __init__(self, db: Database, actor: Actor, *, as_of: date | None = None, title: str | None = None,
                 background: bool = True, remember_layout: bool = True, signed_in: bool = False,
                 idle_lock_ms: int | None = None, backups: bool = False, read_only: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.db = db
        self.actor = actor
        self._as_of = as_of
        self._background = background
        self._remember_layout = remember_layout
        self._prepared = False
        self._overview_running = False
        self._overview_again = False
        self.signed_in = signed_in
        self.read_only = read_only
        self._backups = backups and db.path is not None and not read_only
        self.locked = False
        self._signed_out = False
        self._covers: list[tuple[QWidget, LockPanel, tuple | None]] = []
        self._enabled_before_lock: dict[str, bool] = {}
        self._unlock_window: QDialog | None = None  # the sign-in form when a modal window was open at lock time
        self.skip_close_checks = False  # set by the session when it replaces this window (switch user)
        # the session's hooks: sign in another user (a new window), and what follows a restore
        self.switch_user_handler: Callable[[Actor], None] | None = None
        self.history_windows: list[QDialog] = []
        self.last_message: str = ""  # the last refusal or result shown in a message box (tests read it)
        self._title = title or tr("poems-monitor — {db} — {user} ({role})").format(
            db=db.path.name if db.path else db.describe(), user=actor.name, role=actor.role.value)
        if read_only:
            self._title = tr("READ-ONLY (damaged database) — ") + self._title
        self._title += "[*]"  # where Qt puts the unsaved-visit mark (setWindowModified)
        self.setWindowTitle(self._title)
        self.setMinimumSize(960, 640)

        # every write's Changes are published here; the screens given it reload themselves
        self.bus = ChangeBus(self)
        self.bus.changed.connect(self._on_changes)  # the patient list (its rows and counts load here)
        self.patients = PatientListPanel(self)
        self.patients.setMinimumWidth(260)
        self.dashboard = DashboardView(db, actor, as_of=as_of, bus=self.bus)
        self._entry: QWidget | None = None  # the visit entry form, built when first needed
        self._entry_placeholder = QWidget()
        self.centre = QTabWidget()
        self.centre.setDocumentMode(True)
        self.centre.addTab(self.dashboard, tr("Dashboard"))
        self.centre.addTab(self._entry_placeholder, tr("Visit entry"))
        self.centre.currentChanged.connect(self._on_centre_tab)
        self._last_tab = TAB_DASHBOARD

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.patients)
        self.splitter.addWidget(self.centre)
        # A smaller window takes a share of its width from the list too (1366 px screens keep the
        # dashboard about 950 px wide), a larger one gives most of the extra to the dashboard.
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([440, 1160])

        self._worklist: QWidget | None = None  # the clinic worklist, built when first shown (start-up time)
        self._worklist_placeholder = QWidget()
        self.review = ReviewPanel(db, actor, bus=self.bus)
        if read_only:
            self.review.may_sign = False
        self.review.openVisit.connect(self.open_visit)
        self.review.countChanged.connect(self._on_review_count)
        self.views = QStackedWidget()
        self.views.setObjectName("centre")
        self.views.addWidget(self.splitter)
        self.views.addWidget(self._worklist_placeholder)
        self.views.addWidget(self.review)
        # the lock panel replaces everything that shows patient data while the window is locked
        self.lock_panel = LockPanel(self)
        self.lock_panel.unlockRequested.connect(lambda name, pw: self.try_unlock(name, pw, self.lock_panel))
        self.shell = QStackedWidget()
        self.shell.addWidget(self.views)
        self.shell.addWidget(self.lock_panel)
        self.setCentralWidget(self.shell)

        self._build_actions()
        self._build_status_bar()
        self.patients.patientActivated.connect(self.open_patient)
        self.patients.set_patients(list_patients(self.db))
        self.review.refresh()
        self.live_updates = start_live_updates(self, db, self.bus)  # other workstations' saves (clinic server)
        if not background:
            self.refresh_overview()  # else: started once the window is on screen (see _prepare)
        if remember_layout:
            self._restore_layout()

        self.idle_minutes: float | None = None
        self.idle_watcher: IdleWatcher | None = None
        self.set_idle_lock(idle_lock_ms)
        if self._backups:
            self._backup_timer = QTimer(self)
            self._backup_timer.timeout.connect(self.refresh_backup_status)
            self._backup_timer.start(BACKUP_STATUS_REFRESH_MS)

    # --- construction ----------------------------------------------------------------------------
    @property
    def entry(self) -> QWidget:
        """The visit entry form (built on first use, so start-up stays quick)."""
        if self._entry is None:
            self._entry = self._make_entry()
            self.centre.blockSignals(True)
            current = self.centre.currentIndex()
            self.centre.removeTab(TAB_ENTRY)
            self.centre.insertTab(TAB_ENTRY, self._entry, tr("Visit entry"))
            self.centre.setCurrentIndex(current)
            self.centre.blockSignals(False)
            self._entry_placeholder.deleteLater()
        return self._entry

    @property
    def worklist(self) -> QWidget:
        """The clinic worklist view (built on first use: its modules and widgets are not needed
        for the window's first paint)."""
        if self._worklist is None:
            self._worklist = self._make_worklist()
            current = self.views.currentIndex()
            self.views.removeWidget(self._worklist_placeholder)
            self.views.insertWidget(VIEW_WORKLIST, self._worklist)
            self.views.setCurrentIndex(current)
            self._worklist_placeholder.deleteLater()
        return self._worklist

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().showEvent(event)
        if not self._prepared:
            self._prepared = True
            QTimer.singleShot(0, self._prepare)  # after the first paint: charts, then the entry form

    def _prepare(self) -> None:
        self.dashboard.prepare()
        if self._background:
            self.refresh_overview()
        # The visit entry form is built on first use: building it here froze a just-opened
        # window for about a second on a 2-core machine.

    def _make_entry(self) -> QWidget:
        form_class = _optional("poems_monitor.ui.entry", "VisitEntryForm")
        if form_class is None:
            return _placeholder(tr("Visit entry is not available in this build."))
        try:
            kwargs = {"today": self._as_of} if self._as_of else {}
            form = form_class(self.db, self.actor, **kwargs)
        except TypeError:
            form = form_class(self.db, self.actor)
        if hasattr(form, "saved"):
            form.saved.connect(self._on_visit_saved)
        if hasattr(form, "dirtyChanged"):
            form.dirtyChanged.connect(self._on_dirty)
        return form

    def _make_worklist(self) -> QWidget:
        view_class = _optional("poems_monitor.ui.worklist", "WorklistView")
        if view_class is None:
            return _placeholder(tr("The clinic worklist is not available in this build."))
        view = view_class(self.db, self.actor, as_of=self._as_of, bus=self.bus)
        if hasattr(view, "openPatient"):
            view.openPatient.connect(self.open_from_worklist)
        return view

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip or text.replace("&", "").rstrip("…"))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work even with the menu bar hidden
        return action

    def _build_actions(self) -> None:
        may_record = self.actor.may(Permission.RECORD) and not self.read_only
        a = self.actions_by_name = {}
        a["new_patient"] = self._action(tr("New &patient…"), self.new_patient, "Ctrl+Shift+N")
        a["new_visit"] = self._action(tr("New &visit"), self.new_visit, QKeySequence.StandardKey.New,
                                      tr("Enter a new visit for the selected patient"))
        a["save"] = self._action(tr("&Save visit\tCtrl+S"), self.save_visit, None, tr("Save the visit being entered"))
        a["treatment"] = self._action(tr("Add &treatment…"), self.new_treatment, "Ctrl+T")
        a["event"] = self._action(tr("Add &event…"), self.new_event, "Ctrl+E")
        a["find"] = self._action(tr("&Find patient"), self.find_patient, QKeySequence.StandardKey.Find)
        a["patients"] = self._action(tr("&Patients"), lambda: self.show_view(VIEW_PATIENTS), "Ctrl+1")
        a["worklist"] = self._action(tr("Clinic &worklist"), lambda: self.show_view(VIEW_WORKLIST), "Ctrl+2")
        a["dashboard"] = self._action(tr("&Dashboard"), lambda: self.show_tab(TAB_DASHBOARD), "Ctrl+D")
        a["entry"] = self._action(tr("Visit &entry"), lambda: self.show_tab(TAB_ENTRY), "Ctrl+Shift+E")
        a["review"] = self._action(tr("To &review"), lambda: self.show_view(VIEW_REVIEW), "Ctrl+3",
                                   tr("Visits entered by nurses that wait for a physician's sign-off"))
        a["refresh"] = self._action(tr("&Refresh"), self.refresh_all, QKeySequence.StandardKey.Refresh)
        a["history"] = self._action(tr("&History of changes…"), self.show_history, "Ctrl+H",
                                    tr("Every change to the selected patient's record: old, new, who, when, why"))
        a["backup"] = self._action(tr("&Back up now…"), self.backup_now, None,
                                   tr("Write a checked copy of the clinic database (administrators)"))
        a["restore"] = self._action(tr("&Restore…"), self.restore_backup, None,
                                    tr("Replace the clinic database by a checked backup (administrators)"))
        a["check"] = self._action(tr("&Check database"), self.check_database, None,
                                  tr("Full check of the database file, its schema and the audit trail"))
        a["import_labs"] = self._action(tr("&Import lab results (CSV)…"), self.import_lab_results, None,
                                        tr("Preview every row of a laboratory CSV file, then import all rows or none"))
        a["preview"] = self._action(tr("Print pre&view of the summary…"), self.preview_summary, None,
                                    tr("The printable patient summary, as it will print"))
        a["print"] = self._action(tr("&Print the summary…"), self.print_summary, QKeySequence.StandardKey.Print)
        a["save_pdf"] = self._action(tr("Save the summary as P&DF…"), self.save_summary_pdf, None,
                                     tr("Write the patient summary to a PDF file (A4 or Letter)"))
        a["export_chart"] = self._action(tr("E&xport a chart…"), self.export_chart, None,
                                         tr("Save a dashboard chart as PNG at print resolution, or SVG"))
        a["lock"] = self._action(tr("&Lock"), lambda: self.lock(), "Ctrl+L", tr("Hide patient data until you sign in again"))
        a["sign_out"] = self._action(tr("Sign &out / switch user…"), lambda: self.lock(signed_out=True), "Ctrl+Shift+L",
                                     tr("Sign out; you or another user signs in"))
        a["accounts"] = self._action(tr("&Accounts…"), self.manage_accounts, None,
                                     tr("Add accounts, change roles, set new passwords, deactivate (administrators)"))
        a["accounts"].setVisible(self.actor.may(Permission.MANAGE_USERS))
        a["accounts"].setEnabled(self.actor.may(Permission.MANAGE_USERS) and not self.read_only)
        for key, permission in (("backup", Permission.BACKUP), ("restore", Permission.RESTORE)):
            allowed = self.actor.may(permission) and self.db.path is not None and not self.read_only
            a[key].setEnabled(allowed)
            if not self.actor.may(permission):
                a[key].setStatusTip(a[key].statusTip() + " — " + tr("not for your role ({role})").format(
                    role=self.actor.role.value))
        for key in ("lock", "sign_out"):
            a[key].setEnabled(self.signed_in)
        a["quit"] = self._action(tr("&Quit"), self.close, "Ctrl+Q")
        a["quit"].setMenuRole(QAction.MenuRole.QuitRole)
        a["about"] = self._action(tr("&About poems-monitor"), self.about)
        a["shortcuts"] = self._action(tr("&Keyboard shortcuts"), self.show_shortcuts, QKeySequence.StandardKey.HelpContents,
                                      tr("Every keyboard shortcut of this window"))
        for key in ("new_patient", "new_visit", "save", "treatment", "event", "import_labs"):
            a[key].setEnabled(may_record)
        group = QActionGroup(self)
        for key in ("patients", "worklist", "review"):
            a[key].setCheckable(True)
            group.addAction(a[key])
        a["patients"].setChecked(True)

        bar = self.menuBar()
        file_menu = bar.addMenu(tr("&File"))
        for key in ("new_patient", "new_visit", "save"):
            file_menu.addAction(a[key])
        file_menu.addSeparator()
        file_menu.addAction(a["import_labs"])
        file_menu.addSeparator()
        for key in ("backup", "restore", "check", "accounts"):
            file_menu.addAction(a[key])
        file_menu.addSeparator()
        for key in ("lock", "sign_out"):
            file_menu.addAction(a[key])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        patient_menu = bar.addMenu(tr("&Patient"))
        for key in ("find", "dashboard", "entry", "history", "treatment", "event"):
            patient_menu.addAction(a[key])
        patient_menu.addSeparator()
        for key in ("preview", "print", "save_pdf", "export_chart"):
            patient_menu.addAction(a[key])
        view_menu = bar.addMenu(tr("&View"))
        for key in ("patients", "worklist", "review", "refresh"):
            view_menu.addAction(a[key])
        help_menu = bar.addMenu(tr("&Help"))
        help_menu.addAction(a["shortcuts"])
        help_menu.addAction(a["about"])

        tools = QToolBar(tr("Main"), self)
        tools.setObjectName("mainToolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for key in ("patients", "worklist", "review"):
            tools.addAction(a[key])
        tools.addSeparator()
        for key in ("new_patient", "new_visit", "treatment", "event", "history"):
            tools.addAction(a[key])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)
        self.toolbar = tools

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.db_label = QLabel(tr("Database: {db}").format(db=self.db.describe()))
        self.db_label.setToolTip(self.db.describe())
        self.user_label = QLabel(tr("Signed in: {name} ({role})").format(name=self.actor.name, role=self.actor.role.value))
        self.user_label.setObjectName("userLabel")
        self.backup_status = BackupStatus()
        self.backup_status.clicked.connect(self._on_backup_status_clicked)
        self.backup_status.setVisible(False)
        # the last save's confirmation (saved, out of range, new flags) stays in view after the
        # window shows the dashboard, until another patient is opened or the next save
        self.last_save = QLabel("")
        self.last_save.setObjectName("last_save")
        self.last_save.setVisible(False)
        bar.addPermanentWidget(self.last_save, 1)
        bar.addPermanentWidget(self.backup_status)
        bar.addPermanentWidget(self.db_label)
        bar.addPermanentWidget(self.user_label)
        if self._backups:
            self.refresh_backup_status()

    # --- layout memory ---------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        s = settings()
        geometry = s.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self._first_run_geometry()
        state = s.value("main/state")
        if state is not None:
            self.restoreState(state)
        for key, splitter in (("main/splitter", self.splitter), ("dashboard/splitter", self.dashboard.splitter)):
            value = s.value(key)
            if value is not None:
                splitter.restoreState(value)

    def _first_run_geometry(self) -> None:
        """Most of the screen, centred: the dashboard needs room for its charts."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        width, height = int(area.width() * 0.9), int(area.height() * 0.9)
        self.resize(width, height)
        self.move(area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2)

    def save_layout(self) -> None:
        s = settings()
        s.setValue("main/geometry", self.saveGeometry())
        s.setValue("main/state", self.saveState())
        s.setValue("main/splitter", self.splitter.saveState())
        s.setValue("dashboard/splitter", self.dashboard.splitter.saveState())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if not self.skip_close_checks:
            if self.locked and self._entry_dirty():
                answer = QMessageBox.question(
                    self, tr("Quit"), tr("The window is locked and {user} has a visit that is not saved. Quit and "
                                         "discard it? ({user} can unlock and save it instead.)").format(user=self.actor.name),
                    QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                    QMessageBox.StandardButton.Cancel)
                if answer != QMessageBox.StandardButton.Discard:
                    event.ignore()
                    return
            elif not self.locked and not self._may_leave_entry():
                event.ignore()
                return
        if self._remember_layout:
            if self.locked:
                self.toolbar.setVisible(True)  # remember the layout as it is when unlocked
            self.save_layout()
        if self.idle_watcher is not None:
            self.idle_watcher.stop()
        if self.live_updates is not None:
            self.live_updates.stop()
        for window in self.history_windows:
            window.close()
        if self._backups and not self.skip_close_checks:
            self.run_automatic_backup()
        super().closeEvent(event)

    # --- data ------------------------------------------------------------------------------------
    @property
    def as_of(self) -> date:
        return self._as_of or date.today()

    def refresh_patients(self) -> None:
        self.patients.set_patients(list_patients(self.db))
        self.refresh_overview()

    def refresh_overview(self) -> None:
        """Recompute the flag and overdue counts of every patient, off the GUI thread."""
        if not self._background:
            self._on_overview(clinic_overview(self.db, self.as_of))
            return
        if self._overview_running:
            self._overview_again = True
            return
        self._overview_running = True
        self.statusBar().showMessage(tr("Checking flags and follow-up for every patient…"))
        db, as_of = self.db, self.as_of
        run_background(lambda: clinic_overview(db, as_of), self._on_overview, self._on_overview_failed, owner=self)

    def _on_overview(self, status) -> None:  # noqa: ANN001
        self._overview_running = False
        self.patients.set_status(status)
        self.statusBar().showMessage(tr("Patient list up to date"), 3000)
        self.overviewUpdated.emit()
        if self._overview_again:
            self._overview_again = False
            self.refresh_overview()

    def _on_overview_failed(self, exc: Exception) -> None:
        self._overview_running = False
        self.statusBar().showMessage(tr("Could not check flags: {error}").format(error=exc), 10000)

    def refresh_all(self) -> None:
        """View › Refresh: every screen reloads, as after a restore (another workstation's saves)."""
        self.bus.publish(Changes.everything())

    def _on_changes(self, changes: Changes) -> None:
        """The patient list's subscription to the bus: its rows (names, last visit) when a patient
        changed, the flag and overdue counts also when the protocol did."""
        if changes.any_patient or changes.patient_list:
            self.refresh_patients()
        elif changes.protocol:
            self.refresh_overview()

    # --- navigation ------------------------------------------------------------------------------
    def current_mrn(self) -> str | None:
        return self.dashboard.mrn or self.patients.current_mrn()

    def open_patient(self, mrn: str) -> bool:
        if mrn == self.dashboard.mrn and self.centre.currentIndex() == TAB_DASHBOARD:
            return True
        if not self._may_leave_entry():
            if self.dashboard.mrn:
                self.patients.select(self.dashboard.mrn, emit=False)
            return False
        try:
            self.dashboard.open_patient(mrn)
        except PatientNotFound as exc:
            QMessageBox.warning(self, tr("Patient not found"), str(exc))
            return False
        self.patients.select(mrn, emit=False)
        if self.last_save.property("mrn") != mrn:
            self.last_save.setVisible(False)
        if self.centre.currentIndex() != TAB_DASHBOARD:
            self.centre.blockSignals(True)
            self.centre.setCurrentIndex(TAB_DASHBOARD)
            self.centre.blockSignals(False)
            self._last_tab = TAB_DASHBOARD
        self.statusBar().showMessage(tr("{name} opened in {ms:.0f} ms").format(
            name=self.dashboard.dashboard.name, ms=self.dashboard.last_build_ms + self.dashboard.last_render_ms), 4000)
        return True

    def open_from_worklist(self, mrn: str, where: str = "dashboard") -> None:
        """Open a patient at the right place: `where` is "dashboard", "entry", "flag:<flag_id>" or
        "followup:<item>" (the worklist's double-click)."""
        self.show_view(VIEW_PATIENTS)
        if not self.open_patient(mrn):
            return
        kind, _, target = (where or "dashboard").partition(":")
        if kind == "entry":
            self.new_visit()
        elif kind == "flag" and target:
            self.dashboard.show_flag(target)
        elif kind == "followup":
            self.dashboard.show_followup(target)
        elif kind not in ("dashboard", "") and not target:
            self.dashboard.show_flag(kind)  # a bare flag id

    def show_view(self, index: int) -> None:
        if index == VIEW_WORKLIST:
            self.worklist  # noqa: B018 (built on first use)
        self.views.setCurrentIndex(index)
        self.actions_by_name[{VIEW_WORKLIST: "worklist", VIEW_REVIEW: "review"}.get(index, "patients")].setChecked(True)
        if index == VIEW_WORKLIST and hasattr(self.worklist, "refresh"):
            self.worklist.refresh()
        elif index == VIEW_REVIEW:
            self.review.refresh()

    def show_tab(self, index: int) -> None:
        self.show_view(VIEW_PATIENTS)
        self.centre.setCurrentIndex(index)

    def find_patient(self) -> None:
        self.show_view(VIEW_PATIENTS)
        self.patients.focus_search()

    def _on_centre_tab(self, index: int) -> None:
        if self._last_tab == TAB_ENTRY and index != TAB_ENTRY and not self._may_leave_entry():
            self.centre.blockSignals(True)
            self.centre.setCurrentIndex(TAB_ENTRY)
            self.centre.blockSignals(False)
            return
        self._last_tab = index
        if index == TAB_ENTRY and self.current_mrn() and hasattr(self.entry, "load_new"):  # builds the form
            if getattr(self.entry, "mrn", None) != self.current_mrn() and not self._entry_dirty():
                self.entry.load_new(self.current_mrn())

    # --- visit entry -----------------------------------------------------------------------------
    def _entry_dirty(self) -> bool:
        if self._entry is None:
            return False
        return bool(getattr(self._entry, "has_unsaved_changes", lambda: False)())

    def _may_leave_entry(self) -> bool:
        if not self._entry_dirty():
            return True
        if self.centre.currentIndex() != TAB_ENTRY:
            self.centre.blockSignals(True)
            self.centre.setCurrentIndex(TAB_ENTRY)
            self.centre.blockSignals(False)
            self._last_tab = TAB_ENTRY
        return bool(self.entry.maybe_leave())

    def new_visit(self) -> None:
        mrn = self.current_mrn()
        if not mrn:
            QMessageBox.information(self, tr("New visit"), tr("Choose a patient first."))
            return
        if not hasattr(self.entry, "load_new"):
            return
        if not self._may_leave_entry():
            return
        self.centre.blockSignals(True)
        self.centre.setCurrentIndex(TAB_ENTRY)
        self.centre.blockSignals(False)
        self._last_tab = TAB_ENTRY
        self.entry.load_new(mrn)

    def edit_visit(self, visit_id: int) -> None:
        if hasattr(self.entry, "load_visit") and self._may_leave_entry():
            self.show_tab(TAB_ENTRY)
            self.entry.load_visit(visit_id)

    def save_visit(self) -> None:
        if self.centre.currentIndex() == TAB_ENTRY and hasattr(self.entry, "save"):
            self.entry.save()

    def _on_visit_saved(self, _visit_id: int) -> None:
        """The form saved: the screens hear what changed on the bus (the open dashboard, the patient
        list, the worklist and the review list reload themselves); then the window shows the saved
        patient's dashboard with the save's confirmation."""
        mrn = getattr(self.entry, "mrn", None) or self.current_mrn()
        changes = getattr(self.entry, "last_changes", None) or (
            Changes.of_patient(mrn, visit_reviews=True) if mrn else Changes())
        self.bus.publish(changes)
        if mrn:
            if not Changes.of_patient(mrn).patient_changed(self.dashboard.mrn):
                self.dashboard.open_patient(mrn)  # navigation: the dashboard showed another patient
            self._confirm_save(mrn, self.dashboard.dashboard)
            # Show what the visit changed: the new values on the charts and any new flags.
            self.show_tab(TAB_DASHBOARD)

    def _confirm_save(self, mrn: str, shown) -> None:  # noqa: ANN001 (a PatientDashboard)
        """The form's confirmation and the flags raised at the saved visit's date, kept in view."""
        text = getattr(self.entry, "confirmation", lambda: "")() or tr("Visit saved.")
        day = getattr(self.entry, "visit_date", None)
        new = [e.flag for e in getattr(shown, "unacknowledged", ()) if day is not None and e.flag.date == day]
        if new:
            text += " " + tr("New flags: {flags}.").format(flags="; ".join(
                f"{f.kind.value.replace('_', ' ')} ({display_name(f.code)})" for f in new))
        self.last_save.setText("✔ " + text)
        self.last_save.setToolTip(text)
        self.last_save.setProperty("mrn", mrn)
        self.last_save.setVisible(True)

    def _on_dirty(self, dirty: bool) -> None:
        index = self.centre.indexOf(self.entry)
        self.centre.setTabText(index, tr("Visit entry •") if dirty else tr("Visit entry"))
        self.setWindowModified(dirty)

    # --- dialogs ---------------------------------------------------------------------------------
    def _dialog(self, name: str, mrn: str | None) -> bool:
        """Run a saving dialog; what its save changed is published on the bus."""
        dialog_class = _optional("poems_monitor.ui.dialogs", name)
        if dialog_class is None:
            QMessageBox.information(self, tr("Not available"), tr("This dialog is not available in this build."))
            return False
        kwargs = {"today": self._as_of} if self._as_of else {}
        try:
            dialog = dialog_class(self.db, self.actor, mrn=mrn, parent=self, **kwargs)
        except TypeError:
            dialog = dialog_class(self.db, self.actor, mrn=mrn, parent=self)
        accepted = bool(dialog.exec())
        if accepted:
            self.bus.publish(getattr(dialog, "changes", None) or Changes(patient_list=True))
        return accepted

    def new_patient(self) -> None:
        before = {r.mrn for r in list_patients(self.db)}
        if self._dialog("PatientDialog", None):
            added = [r.mrn for r in list_patients(self.db) if r.mrn not in before]
            if added:
                self.open_patient(added[0])

    def _patient_dialog(self, name: str) -> None:
        mrn = self.current_mrn()
        if not mrn:
            QMessageBox.information(self, tr("Choose a patient"), tr("Choose a patient first."))
            return
        # the screens reload from the bus; the window only makes sure the patient is on the dashboard
        if self._dialog(name, mrn) and self.dashboard.mrn is None:
            self.dashboard.open_patient(mrn)

    def new_treatment(self) -> None:
        self._patient_dialog("TreatmentDialog")

    def new_event(self) -> None:
        self._patient_dialog("EventDialog")

    # --- printing and export ----------------------------------------------------------------------
    def _summary_target(self) -> str | None:
        mrn = self.current_mrn()
        if mrn is None:
            self.statusBar().showMessage(tr("Choose a patient first."), 4000)
        return mrn

    def preview_summary(self) -> None:
        if (mrn := self._summary_target()) is not None:
            from poems_monitor.ui.report.actions import show_summary_preview

            show_summary_preview(self, self.db, mrn, self._as_of, generated_by=self.actor.name)

    def print_summary(self) -> None:
        if (mrn := self._summary_target()) is not None:
            from poems_monitor.ui.report.actions import print_summary

            print_summary(self, self.db, mrn, self._as_of, generated_by=self.actor.name)

    def save_summary_pdf(self, path: Path | None = None) -> Path | None:
        if (mrn := self._summary_target()) is None:
            return None
        from poems_monitor.ui.report.actions import save_summary_pdf

        written = save_summary_pdf(self, self.db, mrn, self._as_of, generated_by=self.actor.name, path=path)
        if written is not None:
            self.statusBar().showMessage(tr("Summary saved to {path}").format(path=written), 6000)
        return written

    def export_chart(self) -> Path | None:
        if self._summary_target() is None or self.dashboard.dashboard is None:
            return None
        from poems_monitor.ui.report.actions import export_chart_dialog

        return export_chart_dialog(self, self.dashboard.dashboard)

    def manage_accounts(self) -> QDialog | None:
        """File › Accounts… (administrators): the accounts table and its audited changes."""
        if not self.actor.may(Permission.MANAGE_USERS) or self.read_only:
            return None
        from poems_monitor.ui.accounts_dialog import AccountsDialog

        dialog = AccountsDialog(self.db, self.actor, self)
        dialog.open()
        return dialog

    def import_lab_results(self) -> QDialog | None:
        """File › Import lab results: the preview dialog; the screens reload after an import."""
        from poems_monitor.ui.lab_import_dialog import LabImportDialog

        dialog = LabImportDialog(self.db, self.actor, self, today=self._as_of)
        dialog.imported.connect(self.bus.publish)  # the import's summary carries what changed
        dialog.open()
        return dialog

    def show_shortcuts(self) -> None:
        from poems_monitor.ui.shortcuts_help import ShortcutsDialog

        self.entry  # noqa: B018 (the visit form is built on first use: its shortcuts belong in the list too)
        ShortcutsDialog(self).exec()

    def about(self) -> None:
        QMessageBox.about(self, tr("About poems-monitor"), tr(
            "<b>poems-monitor</b><br>Follow-up of patients with POEMS syndrome.<br><br>"
            "Rules are research notes, not clinical guidance: every flag and interval needs clinician review."))

    # --- physician review ------------------------------------------------------------------------
    def _on_review_count(self, n: int) -> None:
        self.actions_by_name["review"].setText(tr("To &review ({n})").format(n=n) if n else tr("To &review"))

    def open_visit(self, mrn: str, visit_id: int) -> None:
        """Open a saved visit in the entry form (from the "To review" list): the patient first."""
        self.show_view(VIEW_PATIENTS)
        if self.open_patient(mrn):
            self.edit_visit(visit_id)

    # --- history of changes ----------------------------------------------------------------------
    def show_history(self) -> QDialog | None:
        """A window with every change to the current patient's record (old, new, who, when, why)."""
        from poems_monitor.ui.history_view import HistoryView

        mrn = self.current_mrn()
        if not mrn:
            QMessageBox.information(self, tr("History of changes"), tr("Choose a patient first."))
            return None
        try:
            patient_id = patient_id_for(self.db, mrn)
        except PatientNotFound as exc:
            QMessageBox.warning(self, tr("Patient not found"), str(exc))
            return None
        name = self.dashboard.dashboard.name if self.dashboard.mrn == mrn and self.dashboard.dashboard else mrn
        window = QDialog(self)
        window.setObjectName("historyWindow")
        window.setWindowTitle(tr("History of changes — {name} ({mrn})").format(name=name, mrn=mrn))
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.view = HistoryView(self.db, patient_id, window)
        layout = QVBoxLayout(window)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(window.view)
        window.resize(1100, 560)
        self.history_windows.append(window)
        window.destroyed.connect(lambda *_: self.history_windows.remove(window) if window in self.history_windows else None)
        window.show()
        return window

    # --- lock, unlock, sign out ------------------------------------------------------------------
    def set_idle_lock(self, idle_lock_ms: int | None) -> None:
        """Lock after `idle_lock_ms` without input anywhere in the app (None or 0: never). Only a
        window whose user signed in with a password locks (the demo clinic has no password)."""
        if self.idle_watcher is not None:
            self.idle_watcher.stop()
            self.idle_watcher.deleteLater()
            self.idle_watcher = None
        self.idle_minutes = None
        if self.signed_in and idle_lock_ms:
            self.idle_minutes = idle_lock_ms / 60000
            self.idle_watcher = IdleWatcher(idle_lock_ms, self)
            self.idle_watcher.idle.connect(lambda: self.lock())
            if self.locked:
                self.idle_watcher.pause()

    def lock(self, *, signed_out: bool = False) -> None:
        """Hide every patient data behind the lock panel (also in the app's other windows) until the
        same user unlocks with their password or another user signs in."""
        if self.locked:
            if signed_out and not self._signed_out:
                self._signed_out = True
                self.lock_panel.set_state(user=self.actor.name, role=self.actor.role.value, signed_out=True)
            return
        self.locked = True
        self._signed_out = signed_out
        self.lock_panel.set_state(user=self.actor.name, role=self.actor.role.value, signed_out=signed_out,
                                  idle_minutes=None if signed_out else self.idle_minutes)
        self._enabled_before_lock = {k: a.isEnabled() for k, a in self.actions_by_name.items()}
        for action in self.actions_by_name.values():
            action.setEnabled(False)
        self.shell.setCurrentWidget(self.lock_panel)
        self.menuBar().setEnabled(False)
        self.toolbar.setVisible(False)
        self.statusBar().clearMessage()
        self._cover_other_windows()
        if self.idle_watcher is not None:
            self.idle_watcher.pause()
        self.setWindowTitle((tr("poems-monitor — locked") if not signed_out else tr("poems-monitor — signed out")) + "[*]")
        self.lock_panel.focus_form()
        log.info("window %s", "signed out" if signed_out else "locked")
        self.lockedChanged.emit(True)

    def _cover_other_windows(self) -> None:
        """Cover the app's other open windows (history, dialogs, message boxes) with a lock panel.
        They stay open underneath, so nothing typed in them is lost when the same user unlocks."""
        for window in QApplication.topLevelWidgets():
            if window is self or not window.isVisible() or window.windowType() in (
                    Qt.WindowType.Popup, Qt.WindowType.ToolTip, Qt.WindowType.SplashScreen):
                continue
            panel = LockPanel(window, compact=True)
            panel.set_state(user=self.actor.name, role=self.actor.role.value, signed_out=self._signed_out,
                            idle_minutes=None if self._signed_out else self.idle_minutes)
            panel.unlockRequested.connect(lambda name, pw, p=panel: self.try_unlock(name, pw, p))
            panel.setGeometry(window.rect())
            keeper = _CoverKeeper(window, panel)
            panel.show()
            panel.raise_()
            self._covers.append((window, panel, keeper))
        if QApplication.activeModalWidget() is not None:
            # A modal window (a dialog, a question) blocks the main window's lock panel, and may be
            # too small for the form: the sign-in form comes in a window of its own, on top.
            dialog = _UnlockWindow(self)
            dialog.setObjectName("unlockWindow")
            dialog.setWindowTitle(tr("poems-monitor is locked"))
            dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
            panel = LockPanel(dialog, compact=True)
            panel.set_state(user=self.actor.name, role=self.actor.role.value, signed_out=self._signed_out,
                            idle_minutes=None if self._signed_out else self.idle_minutes)
            panel.unlockRequested.connect(lambda name, pw, p=panel: self.try_unlock(name, pw, p))
            QVBoxLayout(dialog).addWidget(panel)
            dialog.resize(480, 460)
            dialog.open()
            panel.focus_form()
            self._unlock_window = dialog

    def try_unlock(self, name: str, password: str, panel: LockPanel | None = None) -> bool:
        """The lock panel's "Unlock": the same user unlocks; another user's sign-in goes to the
        session (a new window for them) after asking about unsaved work."""
        panel = panel or self.lock_panel
        try:
            actor = authenticate(self.db, name, password)
        except SignInRefused as refused:
            panel.refuse(str(refused))
            return False
        if actor.name == self.actor.name and actor.role == self.actor.role:
            self.unlock()
            return True
        if self.switch_user_handler is None:
            panel.refuse(tr("Only {user} can unlock this window.").format(user=self.actor.name))
            return False
        if not self._confirm_switch(actor):
            panel.refuse(tr("Still locked for {user}.").format(user=self.actor.name))
            return False
        self.switch_user_handler(actor)
        return True

    def unsaved_work(self) -> list[str]:
        """What a switch of user would discard, in words (empty: nothing unsaved)."""
        work = []
        if self._entry_dirty():
            work.append(tr("a visit being entered for {mrn}").format(mrn=getattr(self._entry, "mrn", None) or "?"))
        dialogs = [w for w, _, _ in self._covers if isinstance(w, QDialog) and w.objectName() != "historyWindow"]
        if dialogs:
            work.append(counted(len(dialogs), "{n} open dialog", "{n} open dialogs"))
        return work

    def _confirm_switch(self, actor: Actor) -> bool:
        work = self.unsaved_work()
        if not work:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, tr("Switch user"), tr(
            "{user} has work in this window that is not saved: {work}.").format(
            user=self.actor.name, work=", ".join(work)), parent=self)
        box.setInformativeText(tr(
            "Signing in as {new} discards it; everything saved stays. Cancel keeps the window locked, so {user} "
            "can unlock it and save.").format(new=actor.name, user=self.actor.name))
        discard = box.addButton(tr("Discard and sign in as {new}").format(new=actor.name), QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is discard

    def unlock(self) -> None:
        if not self.locked:
            return
        self.locked = False
        self._signed_out = False
        self._remove_covers()
        self.shell.setCurrentWidget(self.views)
        for key, action in self.actions_by_name.items():
            action.setEnabled(self._enabled_before_lock.get(key, True))
        self.menuBar().setEnabled(True)
        self.toolbar.setVisible(True)
        self.setWindowTitle(self._title)
        self.lock_panel.set_state(user=self.actor.name, role=self.actor.role.value, signed_out=False)
        if self.idle_watcher is not None:
            self.idle_watcher.resume()
        if self._backups:
            self.refresh_backup_status()
        log.info("window unlocked")
        self.lockedChanged.emit(False)

    def _remove_covers(self) -> None:
        for _window, panel, keeper in self._covers:
            try:
                keeper.release()
                panel.hide()
                panel.deleteLater()
            except RuntimeError:  # the window was closed meanwhile
                pass
        self._covers = []
        if self._unlock_window is not None:
            self._unlock_window.done_with = True
            self._unlock_window.hide()
            self._unlock_window.deleteLater()
            self._unlock_window = None

    def close_covered_dialogs(self) -> None:
        """Close the dialogs that were open when the window locked (the session, before it
        switches user: they belong to the previous user)."""
        for window, _panel, _ in list(self._covers):
            try:
                if isinstance(window, QDialog):
                    window.reject()
                else:
                    window.close()
            except RuntimeError:
                pass
        self._remove_covers()

    # --- backups ---------------------------------------------------------------------------------
    def refresh_backup_status(self) -> str | None:
        """Update the status bar's backup indicator; returns the warning sentence, if any."""
        if not self._backups:
            return None
        try:
            return self.backup_status.update_from(self.db)
        except OSError as exc:  # an unreachable backup folder is itself worth a warning
            self.backup_status.setText(tr("Backup folder unreachable"))
            self.backup_status.setToolTip(str(exc))
            return str(exc)

    def _on_backup_status_clicked(self) -> None:
        if self.actor.may(Permission.BACKUP):
            self.backup_now()
        else:
            QMessageBox.information(self, tr("Backups"), (self.backup_status.warning or self.backup_status.toolTip()) + "\n\n" + tr(
                "An administrator makes backups (File > Back up now…); the app also makes one when it closes, at most "
                "once a day."))

    def run_automatic_backup(self):  # noqa: ANN201 (services.backup.BackupResult | None)
        """The daily backup on close (services.backup.automatic_backup): at most one a day, rotated."""
        from poems_monitor.services.backup import BackupRefused, automatic_backup

        if self.db.path is None or self.read_only:
            return None
        self.statusBar().showMessage(tr("Making the daily backup…"))
        QApplication.processEvents()
        try:
            result = automatic_backup(self.db)
        except (BackupRefused, OSError) as exc:
            log.warning("automatic backup failed: %s", exc)
            self._tell(QMessageBox.Icon.Warning, tr("Automatic backup failed"), tr(
                "The daily backup could not be made: {error}\nThe database itself is unharmed. Tell whoever looks "
                "after this workstation.").format(error=exc))
            return None
        if result is not None:
            log.info("automatic backup written (%d kB)", result.size // 1024)
        return result

    def backup_now(self, dest: Path | None = None):  # noqa: ANN201 (the worker relay, or None)
        """File > Back up now…: a checked copy, written off the GUI thread (administrators; the
        service refuses anyone else)."""
        from poems_monitor.services.backup import BackupRefused, backup_to
        from poems_monitor.ui.backup_ui import ask_backup_file

        if self.db.path is None:
            self._tell(QMessageBox.Icon.Information, tr("Back up"), tr(
                "A shared server database is backed up with the server's own tools (for PostgreSQL: pg_dump)."))
            return None
        if not self.actor.may(Permission.BACKUP):  # the service refuses too; say it before asking for a file
            try:
                backup_to(self.db, self.actor, dest or self.db.path.with_suffix(".refused"))
            except (PermissionDenied, BackupRefused) as exc:
                self._tell(QMessageBox.Icon.Warning, tr("Back up"), str(exc))
            return None
        if dest is None:
            dest = ask_backup_file(self, self.db)
            if dest is None:
                return None
        self.statusBar().showMessage(tr("Backing up to {file}…").format(file=dest))
        db, actor = self.db, self.actor

        def done(result) -> None:  # noqa: ANN001
            self.refresh_backup_status()
            self.statusBar().showMessage(tr("Backup written to {file}, checked").format(file=result.path), 8000)
            self.last_message = tr("Backup written to {file} ({kb} kB), checked.").format(
                file=result.path, kb=max(1, result.size // 1024))

        def failed(exc: Exception) -> None:
            self.statusBar().clearMessage()
            self._tell(QMessageBox.Icon.Warning, tr("Back up"), str(exc) if isinstance(exc, (BackupRefused, PermissionDenied))
                       else tr("The backup failed: {error}").format(error=exc))

        return run_background(lambda: backup_to(db, actor, dest), done, failed, owner=self)

    def restore_backup(self, source: Path | None = None, *, confirm: bool = True) -> bool:
        """File > Restore…: the service checks the backup completely, keeps the replaced file beside
        it and records the restore; then the database is reopened and every screen reloaded."""
        from poems_monitor.services.backup import BackupRefused, restore_from
        from poems_monitor.ui.backup_ui import ask_restore_file, confirm_restore

        if self.db.path is None:
            self._tell(QMessageBox.Icon.Information, tr("Restore"), tr(
                "A shared server database is restored with the server's own tools (for PostgreSQL: pg_restore)."))
            return False
        if not self.actor.may(Permission.RESTORE):  # refused by the service too
            try:
                restore_from(self.db.path, self.actor, source or self.db.path)
            except (PermissionDenied, BackupRefused) as exc:
                self._tell(QMessageBox.Icon.Warning, tr("Restore"), str(exc))
            return False
        if source is None:
            source = ask_restore_file(self, self.db.path)
            if source is None:
                return False
        if confirm and not confirm_restore(self, source, self.db.path):
            return False
        if not self._may_leave_entry():
            return False
        self.statusBar().showMessage(tr("Checking the backup and restoring…"))
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.db.engine.dispose()  # none of this window's connections holds the file meanwhile
            result = restore_from(self.db.path, self.actor, source)
        except (PermissionDenied, BackupRefused) as exc:
            QApplication.restoreOverrideCursor()
            self.statusBar().clearMessage()
            self._tell(QMessageBox.Icon.Warning, tr("Restore refused"), str(exc))
            return False
        QApplication.restoreOverrideCursor()
        self.reopen_database()
        kept = tr(" The replaced database was kept as {file}.").format(file=result.replaced_kept_as) \
            if result.replaced_kept_as else ""
        self._tell(QMessageBox.Icon.Information, tr("Restore"), tr("Restored from {file}.").format(file=source.name) + kept)
        return True

    def reopen_database(self) -> None:
        """After a restore: drop every pooled connection (the next ones open the restored file,
        already upgraded by the restore), then reload every screen. When the signed-in account
        does not exist in the restored database, the window signs out."""
        self.db.engine.dispose()
        self.bus.publish(Changes.everything())  # (the restore's result says the same: the whole record)
        self.refresh_backup_status()
        if self.signed_in and not any(a.name == self.actor.name and a.role == self.actor.role and a.active
                                      for a in list_users(self.db)):
            self.lock(signed_out=True)

    def check_database(self):  # noqa: ANN201 (the worker relay)
        """File > Check database: the full check (integrity, foreign keys, schema, audit chain), off
        the GUI thread."""
        from poems_monitor.services.integrity import check_report
        from poems_monitor.ui.backup_ui import show_check_report

        self.statusBar().showMessage(tr("Checking the database…"))
        db = self.db

        def done(report) -> None:  # noqa: ANN001
            self.statusBar().clearMessage()
            self.last_message = "; ".join(report.problems) or tr("sound")
            show_check_report(self, db, report)

        return run_background(lambda: check_report(db), done,
                              lambda exc: self._tell(QMessageBox.Icon.Critical, tr("Check database"), str(exc)), owner=self)

    def _tell(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        self.last_message = text
        {QMessageBox.Icon.Warning: QMessageBox.warning, QMessageBox.Icon.Critical: QMessageBox.critical}.get(
            icon, QMessageBox.information)(self, title, text)
