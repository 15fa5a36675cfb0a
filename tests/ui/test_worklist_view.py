"""The clinic worklist screen: loads in the background from the services, filters by item,
status and flags, counts, sorts, and opens the patient of a row by double-click or Enter."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt

from poems_monitor.domain.timeline import EventRecord
from poems_monitor.services.flag_review import acknowledge_flag
from poems_monitor.services.patients import PatientInput, add_event, create_patient
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from poems_monitor.ui.worklist import WorklistModel, WorklistView
from poems_monitor.ui.worklist.model import FLAG, ROW_ROLE, SORT_ROLE
from tests.conftest import TODAY


@pytest.fixture
def clinic(db, nurse):
    """Two patients: Ann, last seen early in 2025 (overdue), with a DVT (a thrombosis-watch flag);
    Ben, seen last month (nothing overdue yet for the haematology work-up: blood count and IFE)."""
    create_patient(db, nurse, PatientInput("H-000001", "Ann Overdue", "female", date(1960, 1, 1)), today=TODAY)
    create_patient(db, nurse, PatientInput("H-000002", "Ben Recent", "male", date(1965, 5, 5)), today=TODAY)
    record_visit(db, nurse, "H-000001", VisitInput(date(2025, 1, 10), values=(
        EnteredValue("platelets", 300, "10*9/L"), EnteredValue("hemoglobin", 13.0, "g/dL"),
        EnteredValue("ife", "lambda"))), today=TODAY)
    record_visit(db, nurse, "H-000002", VisitInput(date(2026, 10, 20), values=(
        EnteredValue("platelets", 280, "10*9/L"), EnteredValue("ife", "lambda"))), today=TODAY)
    add_event(db, nurse, "H-000001", EventRecord("dvt", date(2025, 3, 1), "left leg"), today=TODAY)
    return db


@pytest.fixture
def view(qtbot, clinic, nurse):
    widget = WorklistView(clinic, nurse, as_of=TODAY)
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    qtbot.waitExposed(widget)
    with qtbot.waitSignal(widget.loaded, timeout=10000):
        widget.refresh()
    return widget


def shown_rows(view):
    proxy = view.proxy
    return [proxy.index(r, 0).data(ROW_ROLE) for r in range(proxy.rowCount())]


def proxy_row_of(view, predicate) -> int:
    for r, row in enumerate(shown_rows(view)):
        if predicate(row):
            return r
    raise AssertionError("no such row")


def test_the_worklist_lists_overdue_items_and_unacknowledged_flags(view):
    rows = shown_rows(view)
    overdue = [r for r in rows if r.mrn == "H-000001" and r.item == "hematology"]
    assert overdue and overdue[0].status == "overdue" and overdue[0].last_done == date(2025, 1, 10)
    flags = [r for r in rows if r.kind == FLAG and r.item == "thrombosis_watch"]
    assert flags and flags[0].mrn == "H-000001" and flags[0].name == "Ann Overdue"
    assert not [r for r in rows if r.mrn == "H-000002" and r.item == "hematology"]
    counts = view.counts()
    assert "overdue" in view.summary.text() and f"<b>{counts['overdue']}</b> overdue" in view.summary.text()
    assert f"showing {len(rows)} of {len(rows)}" in view.summary.text()
    # statuses are words with a symbol, not only a colour
    status = view.proxy.index(proxy_row_of(view, lambda r: r.status == "overdue"), WorklistModel.STATUS)
    assert status.data() == "‼ Overdue"


def test_double_click_on_an_overdue_item_opens_the_patient_there(qtbot, view):
    row = proxy_row_of(view, lambda r: r.mrn == "H-000001" and r.item == "hematology")
    index = view.proxy.index(row, WorklistModel.ITEM)
    view.table.scrollTo(index)
    rect = view.table.visualRect(index)
    with qtbot.waitSignal(view.openPatient) as opened:
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == ["H-000001", "followup:hematology"]


def test_enter_on_a_flag_row_opens_the_patient_at_the_flag(qtbot, view):
    row = proxy_row_of(view, lambda r: r.kind == FLAG)
    flag = shown_rows(view)[row]
    view.table.setFocus()
    view.table.selectRow(row)
    with qtbot.waitSignal(view.openPatient) as opened:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert opened.args == [flag.mrn, f"flag:{flag.flag_id}"]


def test_filters_by_status_item_flags_and_text(qtbot, view):
    total = view.proxy.rowCount()
    view.status_filter.setCurrentIndex(view.status_filter.findData("overdue"))
    assert shown_rows(view) and all(r.status == "overdue" for r in shown_rows(view))
    view.status_filter.setCurrentIndex(0)
    view.item_filter.setCurrentIndex(view.item_filter.findData("hematology"))
    assert shown_rows(view) and all(r.item == "hematology" for r in shown_rows(view))
    view.item_filter.setCurrentIndex(view.item_filter.findData("flags"))
    assert shown_rows(view) and all(r.kind == FLAG for r in shown_rows(view))
    view.flags_check.setChecked(False)
    assert shown_rows(view) == []
    assert view.empty.isVisible() and "Nothing matches" in view.empty.text()
    view.item_filter.setCurrentIndex(0)
    assert shown_rows(view) and not [r for r in shown_rows(view) if r.kind == FLAG]
    view.flags_check.setChecked(True)
    qtbot.keyClicks(view.search, "ben")
    assert shown_rows(view) and {r.mrn for r in shown_rows(view)} == {"H-000002"}
    view.search.clear()
    assert view.proxy.rowCount() == total
    assert f"showing {total} of {total}" in view.summary.text()


def test_columns_sort_by_their_sort_role(view):
    view.table.sortByColumn(WorklistModel.DUE, Qt.SortOrder.AscendingOrder)
    dues = [view.proxy.index(r, WorklistModel.DUE).data(SORT_ROLE) for r in range(view.proxy.rowCount())]
    assert dues == sorted(dues)
    view.table.sortByColumn(WorklistModel.STATUS, Qt.SortOrder.AscendingOrder)
    statuses = [r.status for r in shown_rows(view)]
    order = ["overdue", "never_done", "due", "due_soon", FLAG]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)


def test_an_acknowledged_flag_leaves_the_worklist_on_refresh(qtbot, view, clinic, physician):
    flag = next(r for r in shown_rows(view) if r.kind == FLAG)
    acknowledge_flag(clinic, physician, flag.mrn, flag.flag_id, "anticoagulated", as_of=TODAY)
    with qtbot.waitSignal(view.loaded, timeout=10000):
        view.refresh()
    assert flag.flag_id not in {r.flag_id for r in shown_rows(view)}


def test_the_item_models_pass_the_model_tester(qtmodeltester, view):
    qtmodeltester.check(view.model)
    qtmodeltester.check(view.proxy)


def test_an_empty_clinic_says_so(qtbot, db, nurse):
    widget = WorklistView(db, nurse, as_of=TODAY)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.loaded, timeout=10000) as loaded:
        widget.refresh()
    assert loaded.args == [0]
    assert "Nothing is due" in widget.empty.text()


def test_while_the_rules_run_the_worklist_shows_it_is_computing_and_keeps_its_rows(view, qtbot):
    before = shown_rows(view)
    assert before and not view.busy.isVisible()
    with qtbot.waitSignal(view.loaded, timeout=10000):
        view.refresh()  # (off the GUI thread: the test goes on while it runs)
        assert view.busy.isVisible() and not view.refresh_button.isEnabled()
        assert view.as_of_label.text().startswith("Loading the worklist")
        assert shown_rows(view) == before  # the old rows stay until the new ones arrive
    assert not view.busy.isVisible() and view.refresh_button.isEnabled()
    assert shown_rows(view) == before


def _many_rows(n: int) -> tuple:
    """`n` worklist rows of n // 4 patients, statuses and items interleaved as a clinic's are."""
    from poems_monitor.ui.worklist.rows import WorklistRow

    statuses = ("overdue", "never_done", "due", "due_soon")
    items = ("hematology", "vegf", "echo", "pft")
    return tuple(
        WorklistRow("followup", f"H-{i // 4:06d}", f"Patient {i // 4}", items[i % 4], statuses[(i // 4) % 4],
                    date(2026, 1, 1 + i % 28), None, "every 6 months")
        for i in range(n))


def test_a_keystroke_in_a_large_worklist_writes_the_counts_once(qtbot, db, nurse):
    """26,588 rows froze the 2,000-patient clinic's worklist for over a minute on the first
    character typed: the proxy removed the rows in thousands of ranges and the counts were
    recounted over every row for each range. The counts are written once per keystroke (and
    per choice in a filter), and they are right."""
    from poems_monitor.ui.worklist.rows import WorklistData

    view = WorklistView(db, nurse, as_of=TODAY)
    qtbot.addWidget(view)
    view.resize(1400, 900)
    view.show()
    qtbot.waitExposed(view)
    rows = _many_rows(4000)
    view.set_data(WorklistData(TODAY, rows))
    written: list[str] = []
    set_text = view.summary.setText

    def counting_set_text(text: str) -> None:
        written.append(text)
        set_text(text)

    view.summary.setText = counting_set_text
    qtbot.keyClicks(view.search, "7")
    expected = sum(1 for r in rows if "7" in r.mrn.lower() or "7" in r.name.lower())
    assert 0 < expected < len(rows)
    assert view.proxy.rowCount() == expected
    assert len(written) == 1
    assert f"showing {expected:,} of {len(rows):,}" in view.summary.text()
    assert "<b>1,000</b> overdue" in view.summary.text()  # grouped digits
    written.clear()
    view.status_filter.setCurrentIndex(view.status_filter.findData("overdue"))
    assert len(written) == 1
    shown = sum(1 for r in rows if r.status == "overdue" and "7" in r.mrn)
    assert f"showing {shown:,} of {len(rows):,}" in view.summary.text()


def test_the_selected_row_stays_selected_through_a_filter_and_a_sort_where_it_is_still_shown(qtbot, db, nurse):
    from poems_monitor.ui.worklist.rows import WorklistData

    view = WorklistView(db, nurse, as_of=TODAY)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.set_data(WorklistData(TODAY, _many_rows(400)))
    target = proxy_row_of(view, lambda r: r.mrn == "H-000042" and r.item == "echo")
    view.table.selectRow(target)
    qtbot.keyClicks(view.search, "42")
    assert (view.current_row().mrn, view.current_row().item) == ("H-000042", "echo")
    assert {r.mrn for r in shown_rows(view)} == {"H-000042"}
    view.table.sortByColumn(WorklistModel.ITEM, Qt.SortOrder.DescendingOrder)
    assert [r.item for r in shown_rows(view)] == ["vegf", "pft", "hematology", "echo"]
    assert (view.current_row().mrn, view.current_row().item) == ("H-000042", "echo")
    view.search.clear()
    assert view.proxy.rowCount() == 400
    assert (view.current_row().mrn, view.current_row().item) == ("H-000042", "echo")
    view.search.setText("H-000043")
    assert view.current_row() is None
