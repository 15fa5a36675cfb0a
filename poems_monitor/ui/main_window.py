"""The main window: patient list on the left, the selected patient's dashboard and visit entry in
the centre, the clinic worklist and the physician's "To review" list as further views.

Owns navigation between the views and the centre's tabs, and opening a patient. The rest is
its shell (`ui.shell`: commands and menus, the lock, backups and the check, the menus' dialogs
and documents, the centre's tabs, the remembered layout), built here and wired to the screens,
which reload themselves from the change bus (`ui.changes`). Every screen gets the database and
the actor through its constructor; the entry form and the worklist are built when first shown
(start-up time); the patient list's counts are computed off the GUI thread. Who may do what is
decided in the services. Switching user is the session's job (`ui.shell.session`): a new window
for the new actor, so no screen ever keeps the previous user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QStackedWidget, QWidget

from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor
from poems_monitor.services.changes import Changes
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.patients import list_patients
from poems_monitor.settings_catalog import DASHBOARD_SPLITTER, MAIN_SPLITTER, Setting
from poems_monitor.ui.changes import ChangeBus
from poems_monitor.ui.dashboard.view import DashboardView
from poems_monitor.ui.live_listener import start_live_updates
from poems_monitor.ui.patients.panel import PatientListPanel
from poems_monitor.ui.shell import layout_memory
from poems_monitor.ui.shell.actions import Allowed, build_actions, build_menus
from poems_monitor.ui.shell.centre_tabs import TAB_DASHBOARD, TAB_ENTRY, CentreTabs
from poems_monitor.ui.shell.clinic_overview import ClinicOverview
from poems_monitor.ui.shell.commands import WindowCommands
from poems_monitor.ui.shell.lock_controller import LockController
from poems_monitor.ui.shell.maintenance import Maintenance
from poems_monitor.ui.shell.record_commands import RecordCommands
from poems_monitor.ui.shell.status_line import StatusLine

if TYPE_CHECKING:
    from poems_monitor.ui.entry import VisitEntryForm
    from poems_monitor.ui.review_panel import ReviewPanel
    from poems_monitor.ui.worklist import WorklistView

log = logging.getLogger(__name__)

VIEW_PATIENTS, VIEW_WORKLIST, VIEW_REVIEW = 0, 1, 2
PREPARE_AT_LATEST_MS = 1000  # what waits for the first paint starts at the latest this long after shown


class MainWindow(QMainWindow):
    """`signed_in`: the actor signed in with a password (enables Lock and Sign out, and the idle
    lock after `idle_lock_ms`); `backups`: this window looks after backups (automatic backup on
    close, the overdue warning); `read_only`: the database was opened read-only (damaged file);
    `defer_until_painted` (the app's start): what the first paint does not need waits until after it
    (see `_prepare`): the patient list's rows, the "To review" list (built then), the backup check,
    the lock panel."""

    overviewUpdated = Signal()
    firstPainted = Signal()  # the first paint pass has ended (the start-up's dashboard is on screen)

    def __init__(self, db: Database, actor: Actor, *, as_of: date | None = None, title: str | None = None,
                 background: bool = True, remember_layout: bool = True, signed_in: bool = False,
                 idle_lock_ms: int | None = None, backups: bool = False, read_only: bool = False,
                 defer_until_painted: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.db = db
        self.actor = actor
        self._as_of = as_of
        self._background = background
        self._remember_layout = remember_layout
        self._prepared = self._prepare_done = self._lists_loaded = False
        self.signed_in = signed_in
        self.read_only = read_only
        self.skip_close_checks = False  # set by the session when it replaces this window (switch user)
        self._close_checked = False  # the unsaved-visit questions were answered and the daily backup made
        self._title = title or tr("poems-monitor — {db} — {user} ({role})").format(
            db=db.path.name if db.path else db.describe(), user=actor.name, role=actor.role.label)
        if read_only:
            self._title = tr("READ-ONLY (damaged database) — ") + self._title
        self._title += "[*]"  # where Qt puts the unsaved-visit mark (setWindowModified)
        self.setWindowTitle(self._title)
        self.setMinimumSize(800, 480)  # fits a 1366x768 screen at 150 % (911x512 logical pixels)

        # every write's Changes are published here; the screens given it reload themselves
        self.bus = ChangeBus(self)
        self.bus.changed.connect(self._on_changes)  # the patient list (its rows and counts load here)
        # Containers first, each screen added once to its place: a widget tree added to a parent is
        # styled again (the app's style sheet) each time it moves one level up (cold start).
        self.views = QStackedWidget()
        self.views.setObjectName("centre")
        # the shell: the lock (its panel replaces the views), maintenance, the menus' commands
        self.lock_controller = LockController(self, self.views, db, actor, signed_in=signed_in,
                                              unsaved_entry=lambda: self.centre.unsaved_entry())
        self.shell = self.lock_controller.stack
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.views.addWidget(self.splitter)
        self.patients = PatientListPanel(self.splitter)
        self.overview = ClinicOverview(self, db, lambda: self.as_of, self.patients.model.total, background=background)
        self.overview.updated.connect(self.patients.set_status)
        self.overview.done.connect(self.overviewUpdated)
        self.patients.setMinimumWidth(188)  # with the dashboard, fits 911 px (1366x768 at 150 %)
        self.dashboard = DashboardView(db, actor, as_of=as_of, bus=self.bus)
        if background:  # when idle, the dashboards the arrow keys open next are built ahead
            self.dashboard.neighbours = self.patients.neighbours
        self.centre = CentreTabs(self.dashboard, self._make_entry)  # (the entry form is built when first needed)
        self.centre.entryShown.connect(self._on_entry_shown)
        self.centre.dirtyChanged.connect(self.setWindowModified)
        self.splitter.addWidget(self.patients)
        self.splitter.addWidget(self.centre)
        # A smaller window takes a share of its width from the list too (1366 px screens keep the
        # dashboard about 950 px wide), a larger one gives most of the extra to the dashboard.
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([440, 1160])
        self._worklist: WorklistView | None = None  # the clinic worklist, built when first shown (start-up time)
        self._worklist_placeholder = QWidget()
        self.views.addWidget(self._worklist_placeholder)
        self._review: ReviewPanel | None = None  # "To review", built with the lists (after the first paint at start)
        self._review_placeholder = QWidget()
        self.views.addWidget(self._review_placeholder)
        self.maintenance = Maintenance(self, db, actor, backups=backups, read_only=read_only,
                                       may_proceed=self.centre.may_leave_entry, reload=lambda: self.bus.publish(Changes.everything()),
                                       account_gone=(lambda: self.lock(signed_out=True)) if signed_in else None)
        self.backup_status = self.maintenance.status
        self.lock_controller.lockedChanged.connect(lambda locked: locked or self.maintenance.refresh_backup_status())
        self.commands = WindowCommands(self, db, actor, self.dashboard, current_mrn=self.current_mrn, as_of=as_of, read_only=read_only)
        self.record = RecordCommands(self, db, actor, current_mrn=self.current_mrn, as_of=as_of,
                                     publish=self.bus.publish, patient_added=self._patient_added,
                                     patient_changed=self._patient_changed)
        self.actions_by_name = build_actions(self, self._slots(), Allowed(actor, read_only, signed_in))
        self.toolbar = build_menus(self, self.actions_by_name)
        self.status_line = StatusLine(self, db, actor, self.backup_status)
        self.last_save, self.db_label, self.user_label = (self.status_line.last_save, self.status_line.db_label,
                                                          self.status_line.user_label)
        self.patients.patientActivated.connect(self.open_patient)
        if not defer_until_painted:
            self._load_lists()
        # other workstations' saves (clinic server), not heard while the window is locked
        self.live_updates = start_live_updates(self, db, self.bus, self.lock_controller.lockedChanged)
        if not background:
            self.refresh_overview()  # else: started once the window is on screen (see _prepare)
        if remember_layout:
            layout_memory.restore_layout(self, self._splitters())
        self.set_idle_lock(idle_lock_ms)

    # --- construction ----------------------------------------------------------------------------
    def _slots(self) -> dict[str, Callable[[], object]]:
        """What each command of `shell.actions` does in this window."""
        c, m, r = self.commands, self.maintenance, self.record
        return {
            "new_patient": r.new_patient, "new_visit": self.new_visit, "save": self.save_visit,
            "treatment": r.new_treatment, "event": r.new_event, "find": self.find_patient,
            "patients": lambda: self.show_view(VIEW_PATIENTS), "worklist": lambda: self.show_view(VIEW_WORKLIST),
            "dashboard": lambda: self.show_tab(TAB_DASHBOARD), "entry": lambda: self.show_tab(TAB_ENTRY),
            "review": lambda: self.show_view(VIEW_REVIEW), "refresh": self.refresh_all, "history": c.show_history,
            "backup": m.backup_now, "restore": m.restore_backup, "check": m.check_database,
            "import_labs": r.import_lab_results, "preview": c.preview_summary, "print": c.print_summary,
            "save_pdf": c.save_summary_pdf, "export_chart": c.export_chart, "lock": self.lock,
            "sign_out": lambda: self.lock(signed_out=True), "accounts": c.manage_accounts, "quit": self.close,
            "about": c.about, "guide": c.show_user_guide, "shortcuts": self.show_shortcuts,
            "settings": lambda: c.show_settings(self.set_idle_lock if self.lock_controller.idle_watcher else None),
            "units": lambda: c.show_units(self.bus.publish),
        }

    # The visit entry form and the worklist are imported where they are first built: the window's
    # first paint does not need them (cold start). A direct import, so bundlers and the import
    # contracts see it, and a missing module fails loudly instead of leaving a placeholder.
    def _make_entry(self) -> VisitEntryForm:
        from poems_monitor.ui.entry import VisitEntryForm

        form = VisitEntryForm(self.db, self.actor, today=self._as_of)
        form.saved.connect(self._on_visit_saved)
        return form

    @property
    def entry(self) -> VisitEntryForm:
        """The visit entry form (built on first use, so start-up stays quick)."""
        return self.centre.form

    @property
    def worklist(self) -> WorklistView:
        """The clinic worklist view (built on first use: its widgets are not needed for the
        window's first paint)."""
        if self._worklist is None:
            from poems_monitor.ui.worklist import WorklistView

            self._worklist = WorklistView(self.db, self.actor, as_of=self._as_of, bus=self.bus)
            self._worklist.openPatient.connect(self.open_from_worklist)
            self._replace_placeholder(self._worklist_placeholder, self._worklist, VIEW_WORKLIST)
        return self._worklist

    @property
    def review(self) -> ReviewPanel:
        """The physician's "To review" list (a view of its own): built with the window's lists, after
        the first paint when the app starts (`defer_until_painted`), or when first asked for."""
        if self._review is None:
            from poems_monitor.ui.review_panel import ReviewPanel

            self._review = ReviewPanel(self.db, self.actor, bus=self.bus)
            if self.read_only:
                self._review.may_sign = False
            self._review.openVisit.connect(self.open_visit)
            self._review.countChanged.connect(self._on_review_count)
            self._replace_placeholder(self._review_placeholder, self._review, VIEW_REVIEW)
        return self._review

    def _replace_placeholder(self, placeholder: QWidget, view: QWidget, index: int) -> None:
        """Put a view built on first use where its placeholder stood, the shown view unchanged."""
        current = self.views.currentIndex()
        self.views.removeWidget(placeholder)
        self.views.insertWidget(index, view)
        self.views.setCurrentIndex(current)
        placeholder.deleteLater()

    def build_lazy_parts(self) -> None:
        """Build the parts made on first use (entry form, worklist) now: Help › Keyboard shortcuts
        lists their shortcuts, which exist only once they are built. Loads no data."""
        _ = self.entry, self.worklist

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().showEvent(event)
        if not self._prepared:
            self._prepared = True
            # after the first paint pass (the window paints first in it, the dashboard after): the rest
            # of the window's data, the charts, then the clinic overview, whose thread or process
            # would otherwise share the machine with the first paint (a slower cold start)
            self.installEventFilter(self)
            QTimer.singleShot(0, self, lambda: QTimer.singleShot(PREPARE_AT_LATEST_MS, self, self._prepare))  # (no paint)

    def eventFilter(self, watched, event) -> bool:  # noqa: ANN001, N802 (Qt API)
        if event.type() == QEvent.Type.Paint and watched is self:
            self.removeEventFilter(self)
            # one turn of the event loop ends the pass (and runs what it queued); the next is after it
            QTimer.singleShot(0, self, lambda: QTimer.singleShot(0, self, self._prepare))
        return super().eventFilter(watched, event)

    def _prepare(self) -> None:
        if self._prepare_done:
            return
        self._prepare_done = True
        self.firstPainted.emit()
        if not self._lists_loaded:  # (defer_until_painted; the focus stays where it is)
            self._load_lists()
            _ = self.lock_panel  # (built now: locking stays instant)
        self.dashboard.prepare()
        if self._background:
            self.refresh_overview()
        # The visit entry form is built on first use: building it here froze a just-opened
        # window for about a second on a 2-core machine.

    def _load_lists(self) -> None:
        """Beside the dashboard: the patient list (its search index), the "To review" list, the backup indicator."""
        self._lists_loaded = True
        self.patients.set_patients(list_patients(self.db))
        # The open patient becomes the selected row, unless a search was typed before the rows came
        # (at start they come after the first paint): selecting would clear what was typed.
        if self.dashboard.mrn and not self.patients.search.text():
            self.patients.select(self.dashboard.mrn, emit=False)
        self.review.refresh()
        self.maintenance.refresh_backup_status()  # (nothing when this window does not look after backups)

    # --- layout memory and closing ---------------------------------------------------------------
    def _splitters(self) -> dict[Setting[bytes | None], QSplitter]:
        return {MAIN_SPLITTER: self.splitter, DASHBOARD_SPLITTER: self.dashboard.splitter}

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.maintenance.closing_backup is not None:  # closing already, once the daily backup is written
            self.statusBar().showMessage(tr("Backing up…"))
            event.ignore()
            return
        if not self.skip_close_checks and not self._close_checked:
            if self.locked and self.centre.has_unsaved_entry():
                answer = QMessageBox.question(
                    self, tr("Quit"), tr("The window is locked and {user} has a visit that is not saved. Quit and "
                                         "discard it? ({user} can unlock and save it instead.)").format(user=self.actor.name),
                    QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                    QMessageBox.StandardButton.Cancel)
                if answer != QMessageBox.StandardButton.Discard:
                    event.ignore()
                    return
            elif not self.locked and not self.centre.may_leave_entry():
                event.ignore()
                return
        if self.maintenance.backups and not self.skip_close_checks and not self._close_checked:
            # The daily backup runs in the background; the window closes itself when it is written.
            if self.maintenance.backup_before_close(self.close):
                self._close_checked = True
                event.ignore()
                return
        if self._remember_layout:
            self.lock_controller.show_toolbars()  # remember the layout as it is when unlocked
            layout_memory.save_layout(self, self._splitters())
        self.lock_controller.stop()
        if self.live_updates is not None:
            self.live_updates.stop()
        self.commands.close_windows()
        super().closeEvent(event)

    # --- data ------------------------------------------------------------------------------------
    @property
    def as_of(self) -> date:
        return self._as_of or date.today()

    def refresh_patients(self) -> None:
        self.patients.set_patients(list_patients(self.db))
        self.refresh_overview()

    def refresh_overview(self) -> None:
        """Recompute the flag and overdue counts of every patient (off the GUI thread in the background)."""
        self.overview.refresh()

    @property
    def _overview_running(self) -> bool:
        return self.overview.running

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
        if not self.centre.may_leave_entry():
            if self.dashboard.mrn:
                self.patients.select(self.dashboard.mrn, emit=False)
            return False
        try:
            self.dashboard.open_patient(mrn)
        except PatientNotFound as exc:
            QMessageBox.warning(self, tr("Patient not found"), str(exc))
            return False
        self.patients.select(mrn, emit=False)
        self.status_line.patient_opened(mrn)
        self.centre.show_quietly(TAB_DASHBOARD)
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
        elif index == VIEW_REVIEW:
            self.review  # noqa: B018 (likewise, before the lists if asked that early)
        self.views.setCurrentIndex(index)
        self.actions_by_name[{VIEW_WORKLIST: "worklist", VIEW_REVIEW: "review"}.get(index, "patients")].setChecked(True)
        if index == VIEW_WORKLIST:
            self.worklist.refresh()
        elif index == VIEW_REVIEW:
            self.review.refresh()

    def show_tab(self, index: int) -> None:
        self.show_view(VIEW_PATIENTS)
        self.centre.setCurrentIndex(index)

    def find_patient(self) -> None:
        self.show_view(VIEW_PATIENTS)
        self.patients.focus_search()

    def _on_entry_shown(self) -> None:
        mrn = self.current_mrn()
        if mrn and self.entry.mrn != mrn and not self.centre.has_unsaved_entry():  # (builds the form)
            self.entry.load_new(mrn)

    # --- visit entry -----------------------------------------------------------------------------
    def new_visit(self) -> None:
        mrn = self.current_mrn()
        if not mrn:
            QMessageBox.information(self, tr("New visit"), tr("Choose a patient first."))
            return
        if not self.centre.may_leave_entry():
            return
        self.centre.show_quietly(TAB_ENTRY)
        self.entry.load_new(mrn)

    def edit_visit(self, visit_id: int) -> None:
        if self.centre.may_leave_entry():
            self.show_tab(TAB_ENTRY)
            self.entry.load_visit(visit_id)

    def save_visit(self) -> None:
        if self.centre.currentIndex() == TAB_ENTRY:
            self.entry.save()

    def _on_visit_saved(self, _visit_id: int) -> None:
        """The form saved: the screens hear what changed on the bus (the open dashboard, the patient
        list, the worklist and the review list reload themselves); then the window shows the saved
        patient's dashboard with the save's confirmation."""
        mrn = self.entry.mrn or self.current_mrn()
        changes = self.entry.last_changes or (Changes.of_patient(mrn, visit_reviews=True) if mrn else Changes())
        self.bus.publish(changes)
        if mrn:
            if not Changes.of_patient(mrn).patient_changed(self.dashboard.mrn):
                self.dashboard.open_patient(mrn)  # navigation: the dashboard showed another patient
            self.status_line.confirm_save(mrn, self.entry.confirmation(), self.entry.visit_date, self.dashboard.dashboard)
            # Show what the visit changed: the new values on the charts and any new flags.
            self.show_tab(TAB_DASHBOARD)

    # --- after a dialog wrote --------------------------------------------------------------------
    # (the screens have reloaded themselves from the bus; the window only navigates)
    def _patient_added(self, mrn: str | None) -> None:
        if mrn:
            self.open_patient(mrn)

    def _patient_changed(self, mrn: str) -> None:
        if self.dashboard.mrn is None:
            self.dashboard.open_patient(mrn)

    def show_shortcuts(self) -> None:
        self.entry  # noqa: B018 (the visit form is built on first use: its shortcuts belong in the list too)
        self.commands.show_shortcuts()

    # --- physician review ------------------------------------------------------------------------
    def _on_review_count(self, n: int) -> None:
        self.actions_by_name["review"].setText(tr("To &review ({n})").format(n=n) if n else tr("To &review"))

    def open_visit(self, mrn: str, visit_id: int) -> None:
        """Open a saved visit in the entry form (from the "To review" list): the patient first."""
        self.show_view(VIEW_PATIENTS)
        if self.open_patient(mrn):
            self.edit_visit(visit_id)

    # --- the shell's parts, as the window's callers and tests know them --------------------------
    @property
    def lock_panel(self) -> QWidget:
        return self.lock_controller.panel

    @property
    def locked(self) -> bool:
        return self.lock_controller.locked

    def lock(self, *, signed_out: bool = False) -> None:
        self.lock_controller.lock(signed_out=signed_out)

    def set_idle_lock(self, idle_lock_ms: int | None) -> None:
        self.lock_controller.set_idle_lock(idle_lock_ms)
