"""The patient dashboard driven as a physician and a nurse would: header texts, every chart
with data, switching a chart to its table, acknowledging a flag (physician) and being refused
(nurse), and patients with one visit or no values at all."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox
from sqlalchemy import select

from poems_monitor.models import AuditEntry, FlagReview
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.charts.trend_chart import CHART_SPECS
from poems_monitor.ui.dashboard import flags_panel
from poems_monitor.ui.dashboard.view import TAB_FEATURES, TAB_TRENDS, DashboardView
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, patient, treatment, visit


@pytest.fixture
def clinic(db, admin):
    patients = generate_patients(4, seed=11, today=TODAY)
    lone = patient(visit("2024-05-05", platelets=250, hemoglobin=14.0), mrn="H-000200", name="One Visit", sex="male")
    empty = patient(mrn="H-000300", name="No Values", sex="unknown", diagnosis=None)
    rich = patient(
        visit("2021-01-10", vegf_plasma=1240, platelets=520, hemoglobin=13.0, fvc_pct=85, dlco_pct=70, tlc_pct=90,
              onls_arm=2, onls_leg=3, pasp=40, lvef=60, features={**BASELINE_FEATURES, "sclerotic_bone_lesions": "present",
                                                                   "peripheral_edema": "present"}),
        visit("2021-07-10", vegf_plasma=300, platelets=380, hemoglobin=12.5, fvc_pct=80, dlco_pct=58, tlc_pct=88,
              onls_arm=2, onls_leg=2, pasp=38, lvef=58, features={"pleural_effusion": "present"}),
        treatments=[treatment("lenalidomide_dexamethasone", "2021-02-01", prophylaxis="none")],
        mrn="H-000100", name="Rita Rich",
    )
    import_patients(db, [*patients, lone, empty, rich], admin, reason="test")
    return db


def make_view(qtbot, db, actor):
    view = DashboardView(db, actor, as_of=TODAY)
    qtbot.addWidget(view)
    view.resize(1400, 900)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_header_texts_and_every_chart_has_data(qtbot, clinic, physician):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000100")
    texts = view.header.texts()
    assert texts["name"] == "Rita Rich"
    assert texts["identity"].startswith("H-000100 · 55 y · female")
    assert "Criteria fulfilled since 2021-01-10" in texts["criteria"]
    assert "Lenalidomide–dexamethasone since 2021-02-01" in texts["therapy"]
    assert texts["prophylaxis"] == "None"
    assert "2021-07-10" in texts["last_visit"]
    assert "new" in texts["flags"]
    for spec in CHART_SPECS:
        chart = view.charts.charts[spec.key]
        assert chart.data_item_count() > 0, spec.key
        items = chart.plot.listDataItems()
        if chart.right_vb is not None:
            items += [i for i in chart.right_vb.addedItems if hasattr(i, "getData")]
        assert sum(len(i.getData()[0]) for i in items if i.getData()[0] is not None) == chart.data_item_count(), spec.key
    # x-axes linked: zooming one zooms all
    first = view.charts.charts["vegf"]
    first.vb.setXRange(1.6e9, 1.62e9, padding=0)
    for chart in view.charts.charts.values():
        lo, hi = chart.vb.viewRange()[0]
        assert abs(lo - 1.6e9) < 1e6 and abs(hi - 1.62e9) < 1e6
    # the features tab, once clicked, shows the newly acquired pleural effusion
    qtbot.mouseClick(view.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=view.tabs.tabBar().tabRect(TAB_FEATURES).center())
    assert view.tabs.currentWidget() is view.features
    model = view.features.model
    row = next(r for r in range(model.rowCount()) if "Pleural effusion" in (model.headerData(r, Qt.Orientation.Vertical) or ""))
    assert model.index(row, 1).data() == "★"


def test_chart_switches_to_a_table_of_the_same_values(qtbot, clinic, physician, qtmodeltester):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000100")
    chart = view.charts.charts["vegf"]
    assert not chart.showing_table
    qtbot.mouseClick(chart.table_button, Qt.MouseButton.LeftButton)
    assert chart.showing_table and chart.table_button.text() == "Chart"
    model = chart.table_model
    qtmodeltester.check(model)
    rows = [(model.index(r, 0).data(), model.index(r, 2).data(), model.index(r, 3).data()) for r in range(model.rowCount())]
    assert rows == [("2021-07-10", "300", "pg/mL"), ("2021-01-10", "1240", "pg/mL")]
    assert "plasma" in model.index(0, 4).data()
    qtbot.mouseClick(chart.table_button, Qt.MouseButton.LeftButton)
    assert not chart.showing_table
    qtmodeltester.check(view.features.model)


def test_physician_acknowledges_a_flag(qtbot, clinic, physician, monkeypatch):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000100")
    entry = view.dashboard.unacknowledged[0]
    card = view.flags.cards[entry.flag.flag_id]
    assert card.acknowledgeable and card.ack_enabled
    monkeypatch.setattr(flags_panel, "ask_comment", lambda e, parent: "Seen in clinic; aspirin started")
    button = view.flags.button_rect(entry.flag.flag_id)  # the card's button, painted in the list
    with qtbot.waitSignal(view.flagAcknowledged, timeout=5000):
        qtbot.mouseClick(view.flags.list.viewport(), Qt.MouseButton.LeftButton, pos=button.center())
    with clinic.read() as session:
        review = session.execute(select(FlagReview.__table__)).one()
        audit = session.execute(select(AuditEntry.__table__).where(AuditEntry.__table__.c.action == "acknowledge")).one()
    assert review.comment == "Seen in clinic; aspirin started" and review.reviewed_by == physician.name
    assert audit.entity == "flag"
    shown = view.flags.cards[entry.flag.flag_id]  # still shown, now as acknowledged
    assert not shown.acknowledgeable and view.flags.button_rect(entry.flag.flag_id) is None
    assert "Acknowledged by dr-berg" in shown.review_text and "aspirin started" in shown.review_text
    view.flags.show_acknowledged.setChecked(False)
    assert entry.flag.flag_id not in view.flags.cards


def test_nurse_is_refused(qtbot, clinic, nurse, monkeypatch):
    view = make_view(qtbot, clinic, nurse)
    view.open_patient("H-000100")
    entry = view.dashboard.unacknowledged[0]
    card = view.flags.cards[entry.flag.flag_id]
    assert card.acknowledgeable and not card.ack_enabled
    assert "may not acknowledge" in card.ack_tooltip
    asked = []
    monkeypatch.setattr(flags_panel, "ask_comment", lambda e, parent: asked.append(e) or "comment")
    button = view.flags.button_rect(entry.flag.flag_id)
    qtbot.mouseClick(view.flags.list.viewport(), Qt.MouseButton.LeftButton, pos=button.center())
    assert asked == []  # the disabled button does nothing
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    assert view.acknowledge(entry.flag.flag_id, "trying anyway") is False  # the service refuses too
    assert warnings and "may not" in warnings[0]
    with clinic.read() as session:
        assert session.execute(select(FlagReview.__table__)).all() == []


@pytest.mark.parametrize("mrn", ["H-000200", "H-000300"])
def test_one_visit_and_no_values_render(qtbot, clinic, physician, mrn):
    view = make_view(qtbot, clinic, physician)
    view.open_patient(mrn)
    image = view.grab()
    assert not image.isNull()
    counts = {k: c.data_item_count() for k, c in view.charts.charts.items()}
    if mrn == "H-000300":
        assert set(counts.values()) == {0}
        assert view.header.texts()["last_visit"] == "no visit yet"
        assert view.flags.cards == {}
    else:
        assert counts["blood"] == 2 and counts["vegf"] == 0


def test_demo_patient_with_years_of_data_renders(qtbot, clinic, physician):
    view = make_view(qtbot, clinic, physician)
    from poems_monitor.services.dashboard import richest_patient

    d = view.open_patient(richest_patient(clinic))
    assert len(d.visit_dates) > 5
    assert sum(c.data_item_count() for c in view.charts.charts.values()) > 50


def test_flag_acknowledged_from_the_keyboard(qtbot, clinic, physician, monkeypatch):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000100")
    entry = view.dashboard.unacknowledged[0]
    assert view.show_flag(entry.flag.flag_id)  # the card is current and the list has the focus
    monkeypatch.setattr(flags_panel, "ask_comment", lambda e, parent: "discussed")
    with qtbot.waitSignal(view.flagAcknowledged, timeout=5000):
        qtbot.keyClick(view.flags.list, Qt.Key.Key_Return)
    assert not view.flags.cards[entry.flag.flag_id].acknowledgeable
    assert "discussed" in view.flags.model.index(0).data() or any(
        "discussed" in c.review_text for c in view.flags.cards.values())


def test_therapy_and_event_labels_never_overlap(qapp):
    """Lines of therapy weeks apart (induction, ASCT, consolidation): their labels are stacked in
    rows or left out (the name stays in the tooltip), never drawn over each other."""
    from PySide6.QtGui import QColor, QFontMetricsF

    from poems_monitor.ui.charts.trend_chart import DAY, CourseOverlay

    overlay = CourseOverlay()
    grey = QColor("#808080")
    overlay.bands = [(0.0, 90 * DAY, grey, "Len-Dex"), (130 * DAY, 300 * DAY, grey, "VCd"),
                     (2000 * DAY, 2400 * DAY, grey, "Dara")]
    overlay.lines = [(110 * DAY, grey, Qt.PenStyle.SolidLine, "ASCT", True),
                     (115 * DAY, grey, Qt.PenStyle.SolidLine, "RT", True),
                     (20 * DAY, grey, Qt.PenStyle.DotLine, "✚ DVT", False),
                     (120 * DAY, grey, Qt.PenStyle.DotLine, "◆ ES", False)]
    metrics = QFontMetricsF(overlay.label_font)
    for width in (300.0, 600.0, 1200.0):
        x_px = lambda x, w=width: x / (2600 * DAY) * w  # noqa: E731
        for top in (True, False):
            rows = CourseOverlay.max_rows(130, overlay.line_height(), top)
            placed = overlay.place_rows(overlay._row_labels(x_px, 0.0, width, top), 0.0, width, rows, metrics)
            assert placed and all(0 <= row < rows and 0 <= x and x + w <= width for _, row, x, w in placed)
            for i, (_, row, x, w) in enumerate(placed):
                for _, other_row, ox, ow in placed[i + 1:]:
                    assert row != other_row or x + w <= ox or ox + ow <= x, (width, top)
    # a wide chart has room for every label, a narrow one stacks them in two rows
    assert overlay.rows_needed((0.0, 2600 * DAY), 1200, 130) == (2, 1)
    assert overlay.rows_needed((0.0, 2600 * DAY), 300, 130)[0] == 2


def test_vegf_log_axis_labels_are_plain_numbers_and_apart(qapp):
    from PySide6.QtGui import QFontMetricsF

    from poems_monitor.ui.charts.trend_chart import ChartAxis

    axis = ChartAxis("left")
    axis.setLogMode(False, True)
    gap = QFontMetricsF(axis.font()).height() * 1.5
    for lo, hi, size in ((1.9, 3.3, 120), (2.0, 3.0, 400), (1.0, 4.5, 100), (2.4, 2.9, 90)):
        (_, values), = axis.logTickValues(lo, hi, size, [])
        assert values, (lo, hi, size)
        assert all(b - a >= gap / size * (hi - lo) - 1e-9 for a, b in zip(values, values[1:])), (lo, hi, size)
    assert axis.logTickStrings([2.0, 3.0, 3.0 + 0.30103, 1.0], 1, None) == ["100", "1000", "2000", "10"]
    floor = ChartAxis("left", 0.0)
    assert all(v >= 0 for _, values in floor.tickValues(-3, 12, 150) for v in values)


def test_axis_title_follows_its_text_and_scale_and_is_laid_out_only_when_it_changes(qapp):
    """A change of range that leaves an axis' title as it was does not lay the title out again
    (a patient switch changes every axis' range); a range that scales the ticks (values under 1,
    pyqtgraph's "(x0.001)") and a new title still show."""
    from poems_monitor.ui.charts.trend_chart import ChartAxis

    axis = ChartAxis("left")
    axis.setLabel("g/dL")
    laid_out = []
    set_html = axis.label.setHtml
    axis.label.setHtml = lambda html: (laid_out.append(html), set_html(html))
    axis.setRange(0, 50)
    axis.setRange(2, 40)
    assert laid_out == [] and "g/dL" in axis.label.toPlainText()
    axis.setRange(0, 0.5)  # ticks scaled: the title says so
    assert len(laid_out) == 1 and "(x0.001)" in axis.label.toPlainText()
    axis.setRange(0, 60)
    assert len(laid_out) == 2 and axis.label.toPlainText().strip() == "g/dL"
    axis.setLabel("mg/L")
    assert axis.label.toPlainText().strip() == "mg/L"


def test_header_colours_follow_the_patient_and_are_not_restyled_when_unchanged(qtbot, clinic, physician):
    """The header's coloured values (criteria not fulfilled: warning) follow the patient shown;
    showing a patient whose colours are the same does not restyle the labels (a style sheet set
    again, even the same, polishes the label again)."""
    from PySide6.QtCore import QEvent, QObject

    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000300")  # no values: criteria not fulfilled
    criteria = view.header.criteria.value
    assert "color" in criteria.styleSheet()
    view.open_patient("H-000100")  # fulfilled: the text's own colour
    assert criteria.styleSheet() == ""

    restyled = []

    class Styles(QObject):
        def eventFilter(self, watched, event):  # noqa: ANN001, N802 (Qt API)
            if event.type() == QEvent.Type.StyleChange:
                restyled.append(watched.objectName())
            return False

    watcher = Styles()
    for label in view.header.findChildren(QLabel):
        label.installEventFilter(watcher)
    view.show_dashboard(view.dashboard)
    assert restyled == []
    view.open_patient("H-000300")
    assert "fieldValue" in restyled and "color" in criteria.styleSheet()


def test_empty_chart_says_so_in_its_middle(qtbot, clinic, physician):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000300")
    for chart in view.charts.charts.values():
        assert chart._overlay.empty_text == "No values recorded"
        lo, hi = chart.vb.viewRange()[1]
        assert hi > lo
    view.open_patient("H-000100")
    assert all(c._overlay.empty_text == "" for c in view.charts.charts.values())


def test_followup_card_height_follows_its_text_and_font(qtbot, clinic, physician):
    """The follow-up card remembers its laid-out height per width (a patient switch asked Qt to lay
    its table out again many times); a new patient's text or a new font gives the new height."""
    from PySide6.QtWidgets import QLabel

    view = make_view(qtbot, clinic, physician)
    body = view.followup.body

    def fresh_height(width: int) -> int:
        label = QLabel()
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.setFont(body.font())
        label.setText(body.text())
        return label.heightForWidth(width)

    heights = {}
    for mrn in ("H-100000", "H-000300", "H-100001"):
        view.open_patient(mrn)
        heights[mrn] = body.heightForWidth(260)
        assert heights[mrn] == fresh_height(260), mrn
        assert body.heightForWidth(400) == fresh_height(400), mrn
    assert heights["H-000300"] < heights["H-100000"]  # "No follow-up scheduled." against a table
    font = body.font()
    font.setPointSizeF(font.pointSizeF() * 1.5)
    body.setFont(font)
    assert body.heightForWidth(260) == fresh_height(260) > heights["H-100001"]


def _window_after_overview(qtbot, clinic, user):  # noqa: ANN001, ANN202
    """The main window at 1366x768 once the clinic overview's first counts have arrived (they
    re-lay the patient list out once: on a slow run they came in the middle of a switch)."""
    from poems_monitor.ui.main_window import MainWindow

    window = MainWindow(clinic, user, as_of=TODAY)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    with qtbot.waitSignal(window.overviewUpdated, timeout=30000):
        window.show()
    qtbot.waitExposed(window)
    return window


def test_switching_patients_paints_each_chart_in_view_once(qtbot, clinic, physician):
    """A click on another patient paints each chart in view once (re-enabling updates after the
    dashboard was filled repainted every chart a second time, and a layout after the first paint
    some a third: the switch took twice the time of painting its charts)."""
    from PySide6.QtCore import QEvent, QObject

    from poems_monitor.services.dashboard import forget_dashboards

    window = _window_after_overview(qtbot, clinic, physician)
    viewports = {chart.plot_widget.viewport(): key for key, chart in window.dashboard.charts.charts.items()}
    painted: list[str] = []

    class Paints(QObject):
        def eventFilter(self, watched, event):  # noqa: ANN001, N802 (Qt API)
            if event.type() == QEvent.Type.Paint and watched in viewports:
                painted.append(viewports[watched])
            return False

    watcher = Paints()
    for viewport in viewports:
        viewport.installEventFilter(watcher)
    for before, after in (("H-100000", "H-100001"), ("H-100001", "H-100000"), ("H-100002", "H-100003")):
        window.patients.select(before)
        qtbot.waitUntil(lambda: window.dashboard.mrn == before)  # noqa: B023
        for _ in range(20):  # until the charts are quiet (a loaded machine paints the last layout late)
            painted.clear()
            qtbot.wait(250)
            if not painted:
                break
        forget_dashboards()  # a first open: built, then drawn
        visible = {key for vp, key in viewports.items() if not vp.visibleRegion().isEmpty()}
        painted.clear()
        window.patients.select(after)
        qtbot.waitUntil(lambda: visible <= set(painted))  # noqa: B023
        qtbot.wait(200)  # (any later paint)
        assert visible and sorted(painted) == sorted(visible), f"{after}: {painted}"


def test_a_switch_lays_the_dashboard_out_before_its_first_paint(qtbot, clinic, physician):
    """Opening another patient lays the whole dashboard out before it is painted: no layout
    request reaches the dashboard once it has painted (Qt delivered them one level up the
    widgets per pass of the event loop, the upper levels after the first paint: the header,
    flags, charts and response table were laid out and painted again about 40 ms later)."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication, QWidget

    window = _window_after_overview(qtbot, clinic, physician)
    dashboard = window.dashboard
    events: list[tuple[QEvent.Type, str]] = []

    class Watch(QObject):
        def eventFilter(self, watched, event):  # noqa: ANN001, N802 (Qt API)
            kind = event.type()
            if kind in (QEvent.Type.Paint, QEvent.Type.LayoutRequest) and isinstance(watched, QWidget) and (
                    watched is dashboard or dashboard.isAncestorOf(watched)):
                events.append((kind, type(watched).__name__))
            return False

    watch = Watch()
    QApplication.instance().installEventFilter(watch)
    try:
        # different header texts, one with a single visit and one with none: the sizes change
        for before, after in (("H-000100", "H-000200"), ("H-000200", "H-000300"), ("H-000300", "H-100001")):
            window.patients.select(before)
            qtbot.waitUntil(lambda: dashboard.mrn == before)  # noqa: B023
            qtbot.wait(300)
            events.clear()
            window.patients.select(after)
            qtbot.waitUntil(lambda: any(kind == QEvent.Type.Paint for kind, _ in events))  # noqa: B023
            qtbot.wait(300)
            first_paint = next(i for i, (kind, _) in enumerate(events) if kind == QEvent.Type.Paint)
            late = [name for kind, name in events[first_paint:] if kind == QEvent.Type.LayoutRequest]
            assert dashboard.mrn == after and not late, f"{after}: laid out after the first paint: {late}"
    finally:
        QApplication.instance().removeEventFilter(watch)


def test_after_a_switch_each_chart_shows_the_patients_span_and_values(qtbot, clinic, physician):
    """Once the next patient's charts have painted, the date range is that patient's span (first
    visit, treatment or event to today, padded) and every value of each chart in view is inside
    its y range: the ranges are applied once, at the charts' final sizes, and nothing from the
    patient shown before remains."""
    import math

    from poems_monitor.ui.charts.chart_spec import to_x
    from poems_monitor.ui.charts.trend_chart import x_range_for

    window = _window_after_overview(qtbot, clinic, physician)
    charts = window.dashboard.charts.charts
    for before, after in (("H-000200", "H-000100"), ("H-000100", "H-100001"), ("H-100001", "H-000200")):
        window.patients.select(before)
        qtbot.waitUntil(lambda: window.dashboard.mrn == before)  # noqa: B023
        window.patients.select(after)
        qtbot.waitUntil(lambda: window.dashboard.mrn == after)  # noqa: B023
        qtbot.wait(100)
        d = window.dashboard.dashboard
        lo, hi = x_range_for(d)
        shown = charts["vegf"].vb.viewRange()[0]
        assert shown == pytest.approx([lo, hi], abs=60.0), after  # (seconds: a minute of a span of years)
        for key, chart in charts.items():
            if chart.plot_widget.visibleRegion().isEmpty():
                continue  # below the fold
            x0, x1 = chart.vb.viewRange()[0]
            for s in chart.series:
                right = chart.right_vb is not None and s.code in chart.spec.right_codes
                y0, y1 = (chart.right_vb if right else chart.vb).viewRange()[1]
                for p in s.points:
                    assert x0 <= to_x(p.date) <= x1, (after, key, p.date)
                    y = p.value if right or not chart.spec.log_y else math.log10(max(p.value, 1e-3))
                    assert y0 <= y <= y1, (after, key, s.code, p.value)


def _feature_grid(view) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """What the features tab shows: its visit dates (columns) and its row names."""
    model = view.features.model
    dates = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    rows = [model.headerData(r, Qt.Orientation.Vertical) or "" for r in range(model.rowCount())]
    return dates, rows


def test_features_tab_shows_the_patient_opened_while_it_was_hidden(qtbot, clinic, physician):
    """The features grid is filled when its tab is shown, not at every switch: a patient opened
    on the trends tab is the one the features tab shows when clicked (and the grid is not redone
    while hidden); a patient opened on the features tab is shown there at once."""
    view = make_view(qtbot, clinic, physician)
    tab_bar = view.tabs.tabBar()

    def click_tab(index: int) -> None:
        qtbot.mouseClick(tab_bar, Qt.MouseButton.LeftButton, pos=tab_bar.tabRect(index).center())
        assert view.tabs.currentIndex() == index

    view.open_patient("H-000200")
    click_tab(TAB_FEATURES)
    assert _feature_grid(view)[0] == ["2024-05-05"]
    click_tab(TAB_TRENDS)
    resets = []
    view.features.model.modelReset.connect(lambda: resets.append(view.mrn))
    view.open_patient("H-000100")
    assert resets == []  # hidden: not redone
    click_tab(TAB_FEATURES)
    assert resets == ["H-000100"]
    dates, rows = _feature_grid(view)
    assert dates == ["2021-01-10", "2021-07-10"] and any("Pleural effusion" in r for r in rows)
    view.open_patient("H-000200")  # on the features tab: shown at once
    assert _feature_grid(view)[0] == ["2024-05-05"]
    click_tab(TAB_TRENDS)
    click_tab(TAB_FEATURES)  # nothing new to show: not redone
    assert resets == ["H-000100", "H-000200"]


def test_arrow_key_opens_a_neighbour_built_ahead_and_a_changed_record_is_built_again(qtbot, clinic, physician, admin,
                                                                                       monkeypatch):
    """Once a dashboard is shown and the window is idle, the dashboards of the patients above and
    below it in the list are built off the GUI thread; the Down arrow then shows the next patient
    without building it on the GUI thread. A record changed after it was built ahead (another
    workstation's save) is built again when opened: the stamp proves what is remembered current."""
    import threading
    from datetime import date

    from poems_monitor.domain.timeline import EventRecord
    from poems_monitor.services import dashboard as dashboard_service
    from poems_monitor.services.dashboard import build_dashboard, forget_dashboards
    from poems_monitor.services.patients import add_event
    from poems_monitor.ui.patients.model import COL_MRN, MRN_ROLE

    window = _window_after_overview(qtbot, clinic, physician)
    forget_dashboards()
    panel, view = window.patients, window.dashboard
    shown = [panel.proxy.index(r, COL_MRN).data(MRN_ROLE) for r in range(panel.proxy.rowCount())]
    assert len(shown) >= 4
    assert panel.neighbours(shown[1]) == [shown[2], shown[0]]
    with qtbot.waitSignal(view.prefetched, timeout=10000) as built:
        panel.select(shown[1])
    assert set(built.args[0]) == {shown[0], shown[2]}

    on_gui_thread = []
    real = dashboard_service.dashboard_from_record

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if threading.current_thread() is threading.main_thread():
            on_gui_thread.append(args[0].mrn)
        return real(*args, **kwargs)

    monkeypatch.setattr(dashboard_service, "dashboard_from_record", counted)
    panel.table.setFocus()
    with qtbot.waitSignal(view.loaded, timeout=10000):
        qtbot.keyClick(panel.table, Qt.Key.Key_Down)
    assert view.mrn == shown[2] and on_gui_thread == []  # shown from what was built ahead
    assert view.header.texts()["identity"].startswith(shown[2])

    # built ahead, then changed elsewhere: opened, it is built again and shows the change
    qtbot.waitUntil(lambda: not view.prefetch_pending(), timeout=10000)
    before = len(build_dashboard(clinic, shown[3], TODAY).events)  # (what was built ahead)
    assert on_gui_thread == []
    add_event(clinic, admin, shown[3], EventRecord("dvt", date(2025, 3, 1), note="left leg"), today=TODAY)
    with qtbot.waitSignal(view.loaded, timeout=10000):
        qtbot.keyClick(panel.table, Qt.Key.Key_Down)
    assert view.mrn == shown[3] and on_gui_thread == [shown[3]]
    assert len(view.dashboard.events) == before + 1 and any(e.note == "left leg" for e in view.dashboard.events)


def test_qt_paints_on_the_gui_thread_without_its_painting_pool(qapp):
    """The app turns Qt's pool of painting threads off before any window paints (on 2 cores the
    hand-over made a chart's faint grid lines 8 times slower): Qt reads the setting once, from the
    environment, at its first fill."""
    import os

    import poems_monitor.ui  # noqa: F401 (sets it on import, before any screen exists)

    assert os.environ.get("QT_NO_GUI_THREADPOOL") == "1"
