"""Issue 10, defect 10: Features by visit shows years of visits at 1366x768, with dates a person
reads (2023-06-14), rows and headers that are not clipped, scrolling, and the newest visit first
or last as the physician chooses (remembered)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from PySide6.QtCore import QPoint, Qt

from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.dashboard.view import TAB_FEATURES, DashboardView
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, patient, visit

FIRST = date(2019, 1, 15)
VISITS = 32  # eight years of quarterly visits


@pytest.fixture
def long_course(db, admin):
    visits = [visit((FIRST + timedelta(days=91 * i)).isoformat(), platelets=300 + i,
                    features={**BASELINE_FEATURES, "pleural_effusion": "present" if i >= 20 else "absent"})
              for i in range(VISITS)]
    import_patients(db, [patient(*visits, mrn="H-000700", name="Long Course")], admin, reason="test")
    return db


def _features_view(qtbot, db, actor):
    view = DashboardView(db, actor, as_of=TODAY)
    qtbot.addWidget(view)
    view.resize(1366 - 440, 768 - 90)  # the dashboard's share of a 1366x768 window beside the patient list
    view.show()
    qtbot.waitExposed(view)
    view.open_patient("H-000700")
    view.tabs.setCurrentIndex(TAB_FEATURES)
    qtbot.wait(10)
    return view.features


def _fully_visible_columns(table) -> list[int]:
    viewport = table.viewport().rect()
    return [c for c in range(table.model().columnCount())
            if viewport.contains(table.visualRect(table.model().index(1, c)))]


def test_dates_are_readable_and_nothing_is_clipped(qtbot, long_course, physician):
    grid = _features_view(qtbot, long_course, physician)
    table, model = grid.table, grid.model
    header = table.horizontalHeader()
    labels = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert len(labels) == VISITS
    assert all(len(label) == 10 and label[4] == "-" and label[7] == "-" for label in labels)  # 2019-01-15
    assert FIRST.isoformat() in labels
    fm = header.fontMetrics()
    assert header.height() >= max(fm.horizontalAdvance(label) for label in labels)  # drawn upright in full
    rows = table.verticalHeader()
    for r in range(model.rowCount()):
        assert rows.sectionSize(r) >= max(rows.sectionSizeFromContents(r).height(), rows.fontMetrics().height()), r
    names = [model.headerData(r, Qt.Orientation.Vertical) for r in range(model.rowCount())]
    bold = rows.font()
    bold.setBold(True)
    from PySide6.QtGui import QFontMetrics

    widest = max(QFontMetrics(bold).horizontalAdvance(n) for n in names)
    assert rows.width() >= widest  # every feature and criterion name in full


def test_years_of_visits_in_view_and_the_rest_by_scrolling(qtbot, long_course, physician):
    grid = _features_view(qtbot, long_course, physician)
    table = grid.table
    visible = _fully_visible_columns(table)
    assert len(visible) >= 12, len(visible)  # three years of quarterly visits at once
    bar = table.horizontalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.minimum())
    assert 0 in _fully_visible_columns(table)
    bar.setValue(bar.maximum())
    assert VISITS - 1 in _fully_visible_columns(table)


def test_newest_first_or_last_by_choice_and_remembered(qtbot, long_course, physician):
    grid = _features_view(qtbot, long_course, physician)
    model = grid.model
    newest = (FIRST + timedelta(days=91 * (VISITS - 1))).isoformat()
    assert not grid.newest_first.isChecked()
    assert model.headerData(VISITS - 1, Qt.Orientation.Horizontal) == newest
    assert VISITS - 1 in _fully_visible_columns(grid.table)  # opens on the latest visits
    qtbot.mouseClick(grid.newest_first, Qt.MouseButton.LeftButton, pos=QPoint(8, grid.newest_first.height() // 2))
    assert grid.newest_first.isChecked()
    assert model.headerData(0, Qt.Orientation.Horizontal) == newest
    assert 0 in _fully_visible_columns(grid.table)
    # the state follows the columns: the newly acquired pleural effusion is still at its visit
    row = next(r for r in range(model.rowCount()) if "Pleural effusion" in (model.headerData(r, Qt.Orientation.Vertical) or ""))
    new_at = (FIRST + timedelta(days=91 * 20)).isoformat()
    col = next(c for c in range(VISITS) if model.headerData(c, Qt.Orientation.Horizontal) == new_at)
    assert model.index(row, col).data() == "★"
    assert model.index(row, col + 1).data() == "○"  # the visit before it, now to its right
    # a new dashboard (the next patient, or tomorrow) keeps the choice
    again = _features_view(qtbot, long_course, physician)
    assert again.newest_first.isChecked() and again.model.headerData(0, Qt.Orientation.Horizontal) == newest


def test_a_derived_row_is_named_as_the_language_orders_it(qtbot, long_course, physician):
    """"{name} (derived)" is one translatable label (it was a fragment glued after the name)."""
    from poems_monitor import i18n

    grid = _features_view(qtbot, long_course, physician)
    model = grid.model
    group, i = next((g, i) for g, i in model._rows if i is not None and g.rows[i].derived)
    row = model._rows.index((group, i))
    name = group.rows[i].name
    assert model.headerData(row, Qt.Orientation.Vertical) == f"   {name} (derived)"
    try:
        i18n.set_language("fr")
        assert model.headerData(row, Qt.Orientation.Vertical) == f"   {name} (déduit)"
        i18n.set_language("ja")
        assert model.headerData(row, Qt.Orientation.Vertical) == f"   {name}（導出）"
    finally:
        i18n.set_language("en")


def test_a_heading_note_is_drawn_in_full_when_the_patient_has_few_visits(qtbot, db, admin, physician):
    """Two visits are two narrow columns: the criterion heading's note ("mandatory criterion ·
    since ...") is drawn past them to the table's edge instead of being cut to "manc"."""
    visits = [visit(day, features=BASELINE_FEATURES) for day in ("2026-03-06", "2026-09-06")]
    import_patients(db, [patient(*visits, mrn="H-000700", name="Few Visits")], admin, reason="test")
    grid = _features_view(qtbot, db, physician)
    table, model = grid.table, grid.model
    heading = next(r for r in range(model.rowCount()) if model.is_heading(r) and model.index(r, 0).data())
    note = model.index(heading, 0).data()
    columns_end = table.columnViewportPosition(model.columnCount() - 1) + table.columnWidth(model.columnCount() - 1)
    assert table.fontMetrics().horizontalAdvance(note) > columns_end  # the case: the note is wider than the visits
    image = table.viewport().grab().toImage()
    top = table.rowViewportPosition(heading)
    band = {image.pixelColor(x, top + table.rowHeight(heading) // 2).rgb()
            for x in range(columns_end + 2, min(table.fontMetrics().horizontalAdvance(note), image.width() - 1))}
    assert len(band) > 1, "nothing drawn past the last visit column: the note is cut"
