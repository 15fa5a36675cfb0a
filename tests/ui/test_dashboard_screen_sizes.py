"""The dashboard in a main window of the sizes clinics use (1366x768 maximised and at 90 %, and
1920x1080), in the app's own theme (its fonts and paddings decide the sizes): every chart keeps a
readable plot, the header stays low, the response per line stays in view with the charts, a long
therapy text is elided with the full text on hover, and the patient list keeps a readable Name
column."""

from __future__ import annotations

import pytest

from poems_monitor.domain.timeline import TreatmentRecord
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.charts.panel import PLOT_MIN_HEIGHT
from poems_monitor.ui.main_window import MainWindow
from poems_monitor.ui.patients.model import COL_NAME
from poems_monitor.ui.theme import apply_theme
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, d, event, patient, visit

HEADER_MAX_HEIGHT = 110  # px: the name and three short lines (it was 170 px at 1229x690)
NAME_MIN_WIDTH = 80  # px of the patient list's Name column (about ten letters; "am" before)


@pytest.fixture(autouse=True)
def themed(qapp):
    """The light theme as the app applies it, undone afterwards (other tests run unthemed)."""
    style, palette, font, sheet = qapp.style().name(), qapp.palette(), qapp.font(), qapp.styleSheet()
    apply_theme(qapp, dark=False)
    yield
    qapp.setStyleSheet(sheet)
    qapp.setFont(font)
    qapp.setPalette(palette)
    qapp.setStyle(style)


@pytest.fixture
def clinic(db, admin):
    mdex = TreatmentRecord("melphalan_dexamethasone", d("2018-01-01"), d("2018-12-01"), melphalan_mg=900)
    asct = TreatmentRecord("asct", d("2019-06-01"), d("2019-06-02"), melphalan_mg=360, engraftment_date=d("2019-06-13"))
    treated = patient(
        visit("2017-12-01", platelets=300, hemoglobin=13.5, vegf_plasma=900, features=BASELINE_FEATURES),
        visit("2021-01-01", platelets=70, hemoglobin=13.0, vegf_plasma=150, fvc_pct=80, dlco_pct=60),
        visit("2024-05-01", platelets=480, hemoglobin=16.5, vegf_plasma=800, onls_arm=2, onls_leg=2),
        treatments=[mdex, asct], events=[event("relapse", "2024-05-01")],
        mrn="H-000700", name="Maria-Fernanda Oyelaran-Whitfield",
    )
    import_patients(db, [treated], admin, reason="test")
    return db


def open_window(qtbot, db, actor, width, height):
    win = MainWindow(db, actor, as_of=TODAY)
    qtbot.addWidget(win)
    win.resize(width, height)
    win.show()
    qtbot.waitExposed(win)
    assert win.open_patient("H-000700")
    qtbot.wait(100)  # let the layout settle
    return win


@pytest.mark.parametrize("size", [(1366, 768), (1229, 690), (1920, 1080)])
def test_charts_keep_a_readable_plot_and_the_header_stays_low(qtbot, clinic, physician, size):
    win = open_window(qtbot, clinic, physician, *size)
    view = win.dashboard
    header = view.header
    assert header.isVisible() and header.height() <= HEADER_MAX_HEIGHT, f"header {header.height()} px"
    for key, chart in view.charts.charts.items():
        assert chart.plot_widget.height() >= PLOT_MIN_HEIGHT, f"{key}: plot {chart.plot_widget.height()} px"
        assert chart.vb.sceneBoundingRect().height() >= PLOT_MIN_HEIGHT - 30, f"{key}: data area too low"
    assert view.followup.height() >= PLOT_MIN_HEIGHT  # the follow-up card is a card, not a sliver
    # The response per line stays in view below the charts, whatever the page scrolls to.
    table = view.response
    assert table.isVisible() and table.model().rowCount() >= 1
    page = view.trends_page
    top_left = table.mapTo(page, table.rect().topLeft())
    assert top_left.y() >= page.scroll.geometry().bottom() and top_left.y() + table.height() <= page.height()
    if size == (1920, 1080):  # a large screen shows every chart without scrolling
        assert page.scroll.verticalScrollBar().maximum() == 0
    # The patient list keeps a Name column a person can read.
    assert win.patients.table.columnWidth(COL_NAME) >= NAME_MIN_WIDTH


def test_low_screen_scrolls_the_trends_page_and_the_wheel_over_a_chart_scrolls_it(qtbot, clinic, physician):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    win = open_window(qtbot, clinic, physician, 1366, 768)
    view = win.dashboard
    bar = view.trends_page.scroll.verticalScrollBar()
    assert bar.maximum() > 0  # five charts and the card do not fit at 1366x768: the page scrolls
    chart = view.charts.charts["vegf"]
    x_range = chart.vb.viewRange()[0]
    viewport = chart.plot_widget.viewport()
    centre = QPointF(viewport.rect().center())
    wheel = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert bar.value() > 0  # the page moved down
    assert chart.vb.viewRange()[0] == x_range  # and the chart did not zoom
    view.show_followup("imaging")  # opened from the worklist: the card is brought into view
    card = view.followup
    top = card.mapTo(view.trends_page.scroll.viewport(), card.rect().topLeft()).y()
    assert 0 <= top < view.trends_page.scroll.viewport().height()


def test_long_therapy_is_elided_with_the_full_text_on_hover(qtbot, clinic, physician):
    win = open_window(qtbot, clinic, physician, 1229, 690)
    header = win.dashboard.header
    therapy = header.therapy.value
    full = header.texts()["therapy"]
    assert full == "None active (last: High-dose melphalan with ASCT, ended 2019-06-02)"  # what it says is unchanged
    assert therapy.is_elided()  # too long for its place at 1229 px
    assert full in therapy.tooltip_shown()
    for label in (header.name, header.identity, header.status, header.melphalan):  # one line each
        assert label.height() <= label.fontMetrics().height() + 4, f"{label.text()!r} wraps"


@pytest.fixture
def two_patients(clinic, admin):
    """The clinic with a second patient treated alike (the screen is laid out alike) whose
    follow-up card says something else (the same items, done on other dates)."""
    mdex = TreatmentRecord("melphalan_dexamethasone", d("2018-02-01"), d("2018-12-01"), melphalan_mg=900)
    asct = TreatmentRecord("asct", d("2019-07-01"), d("2019-07-02"), melphalan_mg=360, engraftment_date=d("2019-07-13"))
    other = patient(
        visit("2017-12-15", platelets=310, hemoglobin=13.4, vegf_plasma=880, features=BASELINE_FEATURES),
        visit("2021-02-01", platelets=80, hemoglobin=13.1, vegf_plasma=160, fvc_pct=81, dlco_pct=61),
        visit("2024-06-01", platelets=470, hemoglobin=16.4, vegf_plasma=790, onls_arm=2, onls_leg=2),
        treatments=[mdex, asct], events=[event("relapse", "2024-06-01")], mrn="H-000701", name="Ama Quist-Oyelaran",
    )
    import_patients(clinic, [other], admin, reason="test")
    return clinic


def test_follow_up_card_below_the_fold_is_drawn_after_the_charts_in_view(qtbot, two_patients, physician):
    """At 1366x768 the follow-up card is below the fold: a patient switch draws it just after the
    charts in view have painted (laying its HTML table out was about a tenth of a switch), and
    it shows the new patient whenever it comes into view, even scrolled to at once."""
    from PySide6.QtCore import QEvent, QObject

    win = open_window(qtbot, two_patients, physician, 1366, 768)
    view = win.dashboard
    body = view.followup.body
    first = body.text()
    in_view = [c.plot_widget.viewport() for c in view.charts.charts.values()
               if not c.plot_widget.viewport().visibleRegion().isEmpty()]
    assert in_view and len(in_view) < len(view.charts.charts)  # the page scrolls: some are below the fold
    seen: dict[object, str] = {}

    class Painted(QObject):
        def eventFilter(self, watched, event):  # noqa: ANN001, ANN202, N802
            if event.type() == QEvent.Type.Paint:
                seen.setdefault(watched, body.text())  # the card's text when the chart first paints
            return False

    watch = Painted()
    for viewport in in_view:
        viewport.installEventFilter(watch)
    assert win.open_patient("H-000701")
    qtbot.waitUntil(lambda: len(seen) == len(in_view))
    assert set(seen.values()) == {first}  # not laid out before the charts in view had painted
    qtbot.waitUntil(lambda: body.text() != first)
    second = body.text()
    assert "No follow-up scheduled" not in second or "No follow-up scheduled" not in first
    # switched back and scrolled to the card before the event loop ran: it shows that patient
    assert win.open_patient("H-000700")
    bar = view.trends_page.scroll.verticalScrollBar()
    bar.setValue(bar.maximum())
    assert body.text() == first
    assert not view.followup.pending()


def test_follow_up_card_in_view_is_drawn_with_the_charts(qtbot, two_patients, physician):
    """On a large screen the follow-up card is in view: it is drawn with the charts, before the
    window paints (a guard: only a card out of view waits)."""
    win = open_window(qtbot, two_patients, physician, 1920, 1080)
    view = win.dashboard
    first = view.followup.body.text()
    assert win.open_patient("H-000701")
    assert view.followup.body.text() != first  # before the event loop runs
