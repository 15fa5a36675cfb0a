"""The main window: patient list on the left, the selected patient's dashboard and visit entry in
the centre, the clinic worklist as a second view; menus, shortcuts, status bar, remembered layout.

Owns navigation only. Every screen gets the database and the signed-in actor through its
constructor (no global application object); the patient list's flag and overdue counts are
computed off the GUI thread. Screens built by other modules (visit entry, dialogs, worklist) are
imported when first needed, so a missing or failing one leaves a placeholder, not a broken app.
"""

from __future__ import annotations

import importlib
import logging
from datetime import date

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel, QMainWindow, QMessageBox, QSplitter, QStackedWidget, QTabWidget, QToolBar, QWidget,
)

from poems_monitor.config import app_paths
from poems_monitor.i18n import tr
from poems_monitor.persistence.db import Database
from poems_monitor.services.access import Actor, Permission
from poems_monitor.services.dashboard import clinic_overview
from poems_monitor.services.patients import list_patients
from poems_monitor.ui.dashboard.view import DashboardView
from poems_monitor.ui.patients.panel import PatientListPanel
from poems_monitor.ui.workers import run_background

log = logging.getLogger(__name__)

VIEW_PATIENTS, VIEW_WORKLIST = 0, 1
TAB_DASHBOARD, TAB_ENTRY = 0, 1


def settings() -> QSettings:
    """The workstation's UI settings (window layout), beside the app's other configuration."""
    path = app_paths().config / "ui.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


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


class MainWindow(QMainWindow):
    overviewUpdated = Signal()

    def __init__(self, db: Database, actor: Actor, *, as_of: date | None = None, title: str | None = None,
                 background: bool = True, remember_layout: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.db = db
        self.actor = actor
        self._as_of = as_of
        self._background = background
        self._remember_layout = remember_layout
        self._prepared = False
        self._overview_running = False
        self._overview_again = False
        self.setWindowTitle(title or tr("poems-monitor — {db} — {user}").format(
            db=db.path.name if db.path else db.describe(), user=actor.name))
        self.setMinimumSize(960, 640)

        self.patients = PatientListPanel(self)
        self.patients.setMinimumWidth(260)
        self.dashboard = DashboardView(db, actor, as_of=as_of)
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
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([440, 1160])

        self.worklist = self._make_worklist()
        self.views = QStackedWidget()
        self.views.setObjectName("centre")
        self.views.addWidget(self.splitter)
        self.views.addWidget(self.worklist)
        self.setCentralWidget(self.views)

        self._build_actions()
        self._build_status_bar()
        self.patients.patientActivated.connect(self.open_patient)
        self.dashboard.flagAcknowledged.connect(lambda *_: self.refresh_overview())
        self.patients.set_patients(list_patients(self.db))
        if not background:
            self.refresh_overview()  # else: started once the window is on screen (see _prepare)
        if remember_layout:
            self._restore_layout()

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

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().showEvent(event)
        if not self._prepared:
            self._prepared = True
            QTimer.singleShot(0, self._prepare)  # after the first paint: charts, then the entry form

    def _prepare(self) -> None:
        self.dashboard.prepare()
        if self._background:
            self.refresh_overview()
        QTimer.singleShot(0, lambda: self.entry)

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
        view = view_class(self.db, self.actor, as_of=self._as_of)
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
        may_record = self.actor.may(Permission.RECORD)
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
        a["refresh"] = self._action(tr("&Refresh"), self.refresh_all, QKeySequence.StandardKey.Refresh)
        a["quit"] = self._action(tr("&Quit"), self.close, "Ctrl+Q")
        a["quit"].setMenuRole(QAction.MenuRole.QuitRole)
        a["about"] = self._action(tr("&About poems-monitor"), self.about)
        for key in ("new_patient", "new_visit", "save", "treatment", "event"):
            a[key].setEnabled(may_record)
        group = QActionGroup(self)
        for key in ("patients", "worklist"):
            a[key].setCheckable(True)
            group.addAction(a[key])
        a["patients"].setChecked(True)

        bar = self.menuBar()
        file_menu = bar.addMenu(tr("&File"))
        for key in ("new_patient", "new_visit", "save"):
            file_menu.addAction(a[key])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        patient_menu = bar.addMenu(tr("&Patient"))
        for key in ("find", "dashboard", "entry", "treatment", "event"):
            patient_menu.addAction(a[key])
        view_menu = bar.addMenu(tr("&View"))
        for key in ("patients", "worklist", "refresh"):
            view_menu.addAction(a[key])
        help_menu = bar.addMenu(tr("&Help"))
        help_menu.addAction(a["about"])

        tools = QToolBar(tr("Main"), self)
        tools.setObjectName("mainToolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for key in ("patients", "worklist"):
            tools.addAction(a[key])
        tools.addSeparator()
        for key in ("new_patient", "new_visit", "treatment", "event"):
            tools.addAction(a[key])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)
        self.toolbar = tools

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.db_label = QLabel(tr("Database: {db}").format(db=self.db.describe()))
        self.db_label.setToolTip(self.db.describe())
        self.user_label = QLabel(tr("Signed in: {name} ({role})").format(name=self.actor.name, role=self.actor.role.value))
        bar.addPermanentWidget(self.db_label)
        bar.addPermanentWidget(self.user_label)

    # --- layout memory ---------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        s = settings()
        geometry = s.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("main/state")
        if state is not None:
            self.restoreState(state)
        for key, splitter in (("main/splitter", self.splitter), ("dashboard/splitter", self.dashboard.splitter)):
            value = s.value(key)
            if value is not None:
                splitter.restoreState(value)

    def save_layout(self) -> None:
        s = settings()
        s.setValue("main/geometry", self.saveGeometry())
        s.setValue("main/state", self.saveState())
        s.setValue("main/splitter", self.splitter.saveState())
        s.setValue("dashboard/splitter", self.dashboard.splitter.saveState())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if not self._may_leave_entry():
            event.ignore()
            return
        if self._remember_layout:
            self.save_layout()
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
        self.refresh_patients()
        self.dashboard.reload()
        if hasattr(self.worklist, "refresh"):
            self.worklist.refresh()

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
        except KeyError as exc:
            QMessageBox.warning(self, tr("Patient not found"), str(exc).strip("'\""))
            return False
        self.patients.select(mrn, emit=False)
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
        self.views.setCurrentIndex(index)
        self.actions_by_name["worklist" if index == VIEW_WORKLIST else "patients"].setChecked(True)
        if index == VIEW_WORKLIST and hasattr(self.worklist, "refresh"):
            self.worklist.refresh()

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
        mrn = getattr(self.entry, "mrn", None) or self.current_mrn()
        self.statusBar().showMessage(tr("Visit saved"), 4000)
        if mrn:
            self.dashboard.open_patient(mrn)
        self.patients.set_patients(list_patients(self.db))
        self.refresh_overview()
        if hasattr(self.worklist, "refresh"):
            self.worklist.refresh()

    def _on_dirty(self, dirty: bool) -> None:
        index = self.centre.indexOf(self.entry)
        self.centre.setTabText(index, tr("Visit entry •") if dirty else tr("Visit entry"))
        self.setWindowModified(dirty)

    # --- dialogs ---------------------------------------------------------------------------------
    def _dialog(self, name: str, mrn: str | None) -> bool:
        dialog_class = _optional("poems_monitor.ui.dialogs", name)
        if dialog_class is None:
            QMessageBox.information(self, tr("Not available"), tr("This dialog is not available in this build."))
            return False
        kwargs = {"today": self._as_of} if self._as_of else {}
        try:
            dialog = dialog_class(self.db, self.actor, mrn=mrn, parent=self, **kwargs)
        except TypeError:
            dialog = dialog_class(self.db, self.actor, mrn=mrn, parent=self)
        return bool(dialog.exec())

    def new_patient(self) -> None:
        before = {r.mrn for r in list_patients(self.db)}
        if self._dialog("PatientDialog", None):
            self.refresh_patients()
            added = [r.mrn for r in list_patients(self.db) if r.mrn not in before]
            if added:
                self.open_patient(added[0])

    def _patient_dialog(self, name: str) -> None:
        mrn = self.current_mrn()
        if not mrn:
            QMessageBox.information(self, tr("Choose a patient"), tr("Choose a patient first."))
            return
        if self._dialog(name, mrn):
            self.dashboard.open_patient(mrn)
            self.refresh_overview()

    def new_treatment(self) -> None:
        self._patient_dialog("TreatmentDialog")

    def new_event(self) -> None:
        self._patient_dialog("EventDialog")

    def about(self) -> None:
        QMessageBox.about(self, tr("About poems-monitor"), tr(
            "<b>poems-monitor</b><br>Follow-up of patients with POEMS syndrome.<br><br>"
            "Rules are research notes, not clinical guidance: every flag and interval needs clinician review."))
