"""The patient dashboard screen: header, trends (charts + follow-up), features timeline, flags.

Owns the layout and the two actions of the screen: open a patient (build the dashboard through
services.dashboard and render it) and acknowledge a flag (services.flag_review, then redraw).
Renders only the frozen `PatientDashboard`; holds no session. Given the window's change bus
(`ui.changes`), it publishes its acknowledgements there and redraws itself when a change
concerns the open patient or the protocol, and only then.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication, QFrame, QLabel, QMessageBox, QScrollArea, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor, Permission, PermissionDenied
from poems_monitor.services.changes import Changes
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.dashboard import PatientDashboard, build_dashboard
from poems_monitor.services.errors import InputRefused, PatientNotFound
from poems_monitor.ui.changes import ChangeBus
from poems_monitor.ui.dashboard.features_grid import FeaturesTimeline
from poems_monitor.ui.dashboard.flags_panel import FlagsPanel
from poems_monitor.ui.dashboard.followup_card import FollowupCard
from poems_monitor.ui.dashboard.header import DashboardHeader
from poems_monitor.ui.dashboard.response_table import ResponseTable
from poems_monitor.ui.theme import SPACING
from poems_monitor.ui.workers import run_background

if TYPE_CHECKING:
    from poems_monitor.ui.charts.panel import ChartsPanel

log = logging.getLogger(__name__)

TAB_TRENDS, TAB_FEATURES = 0, 1
# How long the screen stays as it is after a dashboard was shown before its neighbours in the
# patient list are built ahead (a held arrow key builds nothing it skips over).
PREFETCH_IDLE_MS = 150


class _LayoutRequests(QObject):
    """Counts the layout requests delivered while it is installed on the application."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def lay_out_now(passes: int = 24) -> None:
    """Run every pending layout now, up to the window. A layout whose widget's size hint changed
    (a new text, a line shown or hidden) posts a request to its parent's layout, which the event
    loop would deliver only after the next paint: the window was painted, then laid out level by
    level up to the window and the header, flags, charts and response table painted again about
    40 ms later. Each pass delivers one level (about 1 ms in all above the dashboard's own); the
    loop stops at the first pass that delivered nothing."""
    app = QCoreApplication.instance()
    counter = _LayoutRequests()
    app.installEventFilter(counter)
    try:
        for _ in range(passes):
            before = counter.count
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            if counter.count == before:
                break
    finally:
        app.removeEventFilter(counter)


class _TrendsPage(QWidget):
    """The trends tab: the charts and the follow-up card in a page that scrolls vertically when
    the screen is too low for their minimum height (1366x768), and the response per line pinned
    below it, always in view (told how much height the page has, to show one row or three)."""

    def __init__(self, charts: ChartsPanel, response: ResponseTable, parent: QWidget | None = None):
        super().__init__(parent)
        self._response = response
        self.scroll = _ChartsScroll(charts, self)
        self._wheel = _WheelScrollsPage(self.scroll, self)
        for chart in charts.charts.values():
            chart.plot_widget.viewport().installEventFilter(self._wheel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACING)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(response)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        self._response.fit_to_page(event.size().height())
        super().resizeEvent(event)


class _ChartsScroll(QScrollArea):
    """Scrolls the charts vertically. Two charts side by side while they fit, else one below the
    other (never cut, never scrolled sideways); the charts fill the height shown, or take their
    readable minimum and scroll, never their larger preferred height."""

    moving = Signal()  # about to show another part of the page: scrolled or resized

    def __init__(self, charts: ChartsPanel, parent: QWidget | None = None):
        super().__init__(parent)
        self._charts = charts
        self.setObjectName("trendsScroll")
        self.setAccessibleName(tr("Trend charts"))
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(charts)
        self.verticalScrollBar().valueChanged.connect(self.moving)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        self.moving.emit()
        self.fit(event.size())
        super().resizeEvent(event)

    def fit(self, size: QSize | None = None) -> None:
        """Columns and height for the page's `size` (also after a new patient: legends may wrap
        to more or fewer lines)."""
        size = size or self.size()
        room = size.width() - self.verticalScrollBar().sizeHint().width()
        self._charts.set_columns(2 if room >= self._charts.two_columns_width() else 1)
        self._charts.setMaximumHeight(max(size.height(), self._charts.minimumSizeHint().height()))


class _WheelScrollsPage(QObject):
    """Over a chart, the mouse wheel scrolls the trends page when the page scrolls (a physician
    reading down the charts must not zoom them by accident); Ctrl+wheel still zooms the chart."""

    def __init__(self, scroll: QScrollArea, parent: QObject | None = None):
        super().__init__(parent)
        self._scroll = scroll

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() != QEvent.Type.Wheel or event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return False
        bar = self._scroll.verticalScrollBar()
        if bar.maximum() <= bar.minimum():
            return False  # nothing to scroll: the wheel zooms as before
        QApplication.sendEvent(bar, event)
        return True


class DashboardView(QWidget):
    flagAcknowledged = Signal(str, str)  # mrn, flag_id
    loaded = Signal(str)  # mrn
    prepared = Signal()  # the charts exist (built after the window first shows)
    prefetched = Signal(tuple)  # MRNs whose dashboards were built ahead (tests, the benchmark)

    def __init__(self, db: Database, actor: Actor, as_of: date | None = None, parent: QWidget | None = None,
                 bus: ChangeBus | None = None):
        super().__init__(parent)
        self.db = db
        self.actor = actor
        self._as_of = as_of
        self._bus = bus
        if bus is not None:
            bus.changed.connect(self._on_changes)
        self.dashboard: PatientDashboard | None = None
        self.last_build_ms = 0.0
        self.last_render_ms = 0.0
        # Given by the window: the patients the arrow keys open next from a patient (the list's
        # neighbours). Their dashboards are then built off the GUI thread once the screen is idle,
        # into the service's memo (kept under each patient's stamp: a record changed meanwhile is
        # built again when opened), so that the next arrow key only draws.
        self.neighbours: Callable[[str], Sequence[str]] | None = None
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.setInterval(PREFETCH_IDLE_MS)
        self._prefetch_timer.timeout.connect(self._prefetch_neighbours)
        self.prefetching = False
        self._prefetch_stop: threading.Event | None = None  # set: the running build stops
        # What a switch leaves below the fold (the follow-up card on a low screen) is drawn just
        # after the charts in view have painted.
        self._fill_below_the_fold = QTimer(self)
        self._fill_below_the_fold.setSingleShot(True)
        self._fill_below_the_fold.setInterval(0)
        self._fill_below_the_fold.timeout.connect(self._fill_pending)
        self._switching = False  # within show_dashboard

        self.placeholder = QLabel(tr("Choose a patient on the left (Ctrl+F to search)."), self)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.header = DashboardHeader(self)
        self.followup = FollowupCard()
        self.response = ResponseTable()
        self.features = FeaturesTimeline()
        self._charts: ChartsPanel | None = None  # built on first use: pyqtgraph costs start-up time
        self.trends_page: _TrendsPage | None = None  # made with the charts
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName(tr("Patient views"))
        self.tabs.addTab(QWidget(), tr("Trends"))
        self.tabs.addTab(self.features, tr("Features by visit"))
        # The features grid is filled when its tab is shown (a hidden grid sized to a patient's
        # visits is a tenth of a patient switch, for a tab most switches never show).
        self._features_for: PatientDashboard | None = None
        self.tabs.currentChanged.connect(self._fill_features)
        may = actor.may(Permission.REVIEW)
        refusal = tr("{user} ({role}) may not acknowledge flags: physicians do").format(
            user=actor.name, role=actor.role.label)
        self.flags = FlagsPanel(may, refusal, self.acknowledge, self)
        self.flags.setMinimumWidth(300)  # with the patient list, leaves two charts side by side at 1229 px

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(self.flags)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([880, 380])

        content = QWidget(self)
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.setSpacing(SPACING)
        inner.addWidget(self.header)
        inner.addWidget(self.splitter, 1)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING // 2, SPACING, SPACING, SPACING)
        layout.addWidget(self.stack)

    @property
    def charts(self) -> ChartsPanel:
        """The charts (importing pyqtgraph and building them on first use)."""
        if self._charts is None:
            from poems_monitor.ui.charts.panel import ChartsPanel

            self._charts = ChartsPanel(extra=self.followup)
            current = self.tabs.currentIndex()
            placeholder = self.tabs.widget(TAB_TRENDS)
            self.tabs.removeTab(TAB_TRENDS)
            self.tabs.insertTab(TAB_TRENDS, self._trends_page(self._charts), tr("Trends"))
            self.tabs.setCurrentIndex(current)
            placeholder.deleteLater()
        return self._charts

    def _trends_page(self, charts: ChartsPanel) -> QWidget:
        """The charts with the response per line of therapy below them."""
        self.trends_page = _TrendsPage(charts, self.response, self)
        self.trends_page.scroll.moving.connect(self._page_moving)
        return self.trends_page

    def prepare(self) -> None:
        """Build the charts ahead of the first patient (called when the app is idle after start).

        Also moves everything start-up made (modules, Qt wrappers, pyqtgraph) to the garbage
        collector's permanent generation: otherwise each full collection that happens to fall
        inside "open patient" rescans that whole heap (about a third of the dashboard's build
        time on a loaded 2-core machine)."""
        self.charts  # noqa: B018
        gc.freeze()
        self.prepared.emit()

    @property
    def as_of(self) -> date:
        return self._as_of or date.today()

    @property
    def mrn(self) -> str | None:
        return self.dashboard.mrn if self.dashboard else None

    def open_patient(self, mrn: str, *, fresh: bool = False) -> PatientDashboard:
        """Build and show the dashboard of `mrn` (a few ms of queries and rules, then drawing; a
        patient whose record did not change since it was last built comes from the service's
        memo). `fresh`: build it again regardless (Refresh)."""
        t0 = time.perf_counter()
        d = build_dashboard(self.db, mrn, self.as_of, fresh=fresh)
        self.last_build_ms = (time.perf_counter() - t0) * 1000
        self.show_dashboard(d)
        return d

    def reload(self) -> None:
        if self.dashboard is not None:
            self.open_patient(self.dashboard.mrn, fresh=True)

    def _on_changes(self, changes: Changes) -> None:
        """Redraw when a write changed the open patient, or the protocol its flags come from."""
        mrn = self.mrn
        if mrn is None or not (changes.patient_changed(mrn) or changes.protocol):
            return
        try:
            # a change to the patient's own record is seen by the service's memo; a protocol or a
            # restore is not, so those build afresh
            self.open_patient(mrn, fresh=changes.protocol or changes.all_patients)
        except PatientNotFound:  # gone with a restore, or its MRN corrected
            self.clear()

    def show_dashboard(self, d: PatientDashboard) -> None:
        t0 = time.perf_counter()
        self._switching = True
        try:
            self._show(d)
        finally:
            self._switching = False
        self.last_render_ms = (time.perf_counter() - t0) * 1000
        if self._prefetch_stop is not None:
            self._prefetch_stop.set()  # built for the patient shown before: its neighbours no longer matter
        if self.neighbours is not None:
            self._prefetch_timer.start()  # (again: a switch within the interval postpones it)
        self.loaded.emit(d.mrn)

    def _show(self, d: PatientDashboard) -> None:
        self.dashboard = d
        # (no setUpdatesEnabled(False/True) around this: nothing here paints, and re-enabling
        # updates repaints the whole dashboard once more after the charts' own paint)
        self.header.set_dashboard(d)
        self.flags.set_flags(d.flags)
        self.charts.set_dashboard(d)
        if self.trends_page is not None:
            self.trends_page.scroll.fit()
        if self._below_the_fold(self.followup):
            self.followup.set_dashboard_later(d)  # drawn once the charts in view have painted
            self._fill_below_the_fold.start()
        else:
            self.followup.set_dashboard(d)
        self.response.set_dashboard(d)
        self._features_for = d
        self._fill_features()
        self.stack.setCurrentIndex(1)
        # Lay the new texts out now (the header's, the legends'), then apply the charts' ranges to
        # their final sizes, so that the window paints each chart once: left to the event loop, the
        # layout comes after the first paint and resized charts are painted again.
        lay_out_now()
        if self.followup.pending() and not self._below_the_fold(self.followup):  # the new legends moved it up
            self.followup.fill_pending()
            lay_out_now()
        self.charts.settle()

    def _below_the_fold(self, card: QWidget) -> bool:
        """`card` (on the trends page) is out of view, and whatever it shows cannot move what is in
        view: the charts are at their minimum height (the page scrolls), so a new text of the card
        changes no chart's size. Then it may be drawn after the charts in view have painted."""
        page = self.trends_page
        if page is None or not page.isVisible() or self._charts is None:
            return False
        viewport = page.scroll.viewport()
        top = card.mapTo(viewport, card.rect().topLeft()).y()
        if top < viewport.height() and top + card.height() > 0:
            return False
        return self._charts.height() <= self._charts.minimumSizeHint().height()

    def _fill_pending(self) -> None:
        """Draw what a switch left for after the paint (a zero timer calls it)."""
        self.followup.fill_pending()

    def _page_moving(self) -> None:
        """The trends page is about to show another part (scrolled or resized): nothing left
        undrawn may come into view. (Within a switch, its own layout pass decides.)"""
        if not self._switching:
            self.followup.fill_pending()

    def _prefetch_neighbours(self) -> None:
        """Build the dashboards of the shown patient's neighbours in the list, off the GUI thread
        (one at a time; none while a build is still running)."""
        mrn = self.mrn
        if mrn is None or self.neighbours is None or self.prefetching:
            return
        wanted = [m for m in self.neighbours(mrn) if m and m != mrn]
        if not wanted:
            return
        db, as_of = self.db, self.as_of
        stop = self._prefetch_stop = threading.Event()

        def build() -> tuple[str, ...]:  # worker thread: services only
            built = []
            for other in wanted:
                if stop.is_set():
                    break  # another patient was opened meanwhile: its own neighbours come next
                try:
                    build_dashboard(db, other, as_of)  # remembered by the service
                except PatientNotFound:
                    continue
                built.append(other)
            return tuple(built)

        def finished() -> None:
            self.prefetching = False
            if stop.is_set() and self.dashboard is not None:
                self._prefetch_timer.start()  # the patient shown now: its own neighbours

        def done(built: tuple[str, ...]) -> None:
            finished()
            self.prefetched.emit(built)

        def failed(exc: Exception) -> None:
            finished()
            log.warning("building the neighbours' dashboards ahead failed: %s", exc)

        self.prefetching = True
        run_background(build, done, failed, owner=self)

    def _fill_features(self, *_tab: int) -> None:
        """Give the features grid the shown patient once its tab is the current one."""
        if self._features_for is not None and self.tabs.currentIndex() == TAB_FEATURES:
            d, self._features_for = self._features_for, None
            self.features.set_dashboard(d)

    def prefetch_pending(self) -> bool:
        """Neighbours are about to be, or being, built ahead (tests and the benchmark wait)."""
        return self.prefetching or self._prefetch_timer.isActive()

    def clear(self) -> None:
        self._prefetch_timer.stop()
        self._fill_below_the_fold.stop()
        self.followup.drop_pending()
        self._features_for = None
        self.dashboard = None
        self.stack.setCurrentIndex(0)

    def show_flag(self, flag_id: str) -> bool:
        self.tabs.setCurrentIndex(TAB_TRENDS)
        return self.flags.scroll_to(flag_id)

    def show_followup(self, item: str) -> None:
        """Show the trends page with the follow-up card (an overdue item opened from the worklist)."""
        self.tabs.setCurrentIndex(TAB_TRENDS)
        self.followup.highlight(item)
        if self.trends_page is not None:  # on a low screen the card may be below the fold
            self.trends_page.scroll.ensureWidgetVisible(self.followup)

    def acknowledge(self, flag_id: str, comment: str) -> bool:
        """Acknowledge a flag of the shown patient; tells the user why when refused."""
        if self.dashboard is None:
            return False
        from poems_monitor.services.flag_review import acknowledge_flag

        mrn = self.dashboard.mrn
        try:
            acknowledged = acknowledge_flag(self.db, self.actor, mrn, flag_id, comment, as_of=self.as_of)
        except (PermissionDenied, InputRefused, PatientNotFound) as exc:
            QMessageBox.warning(self, tr("Flag not acknowledged"), str(exc))
            return False
        if self._bus is not None:
            self._bus.publish(acknowledged)  # this screen redraws as a subscriber, like the others
        else:
            self.open_patient(mrn)
        self.show_flag(flag_id)
        self.flagAcknowledged.emit(mrn, flag_id)
        return True
