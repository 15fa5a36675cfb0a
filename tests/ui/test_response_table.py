"""The response per line under the charts and the status in the header, as a physician sees them:
one row per line (latest last), each domain's category, a tooltip with rule, values and dates;
the status beside the criteria; one row only on a low screen."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.dashboard.view import DashboardView
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, event, obs, patient, treatment, visit

FEATURES = {**BASELINE_FEATURES, "sclerotic_bone_lesions": "present", "peripheral_edema": "present"}


@pytest.fixture
def clinic(db, admin):
    two_lines = patient(
        visit("2024-01-05", obs("ife", "lambda"), vegf_plasma=1200, m_protein=0.3, onls_arm=2, onls_leg=3,
              exams=[("imaging", "abnormal")], features=FEATURES),
        visit("2024-04-05", obs("ife", "negative"), vegf_plasma=500, flc_ratio=1.0, onls_arm=1, onls_leg=3),
        visit("2025-03-01", vegf_plasma=900, m_protein=0.8, onls_arm=2, onls_leg=3),
        visit("2025-09-01", vegf_plasma=140, m_protein=0.3, onls_arm=2, onls_leg=2, exams=[("imaging", "pending")]),
        treatments=[treatment("bortezomib_dexamethasone", "2024-01-10", "2024-07-10"),
                    treatment("lenalidomide_dexamethasone", "2025-03-02")],
        events=[event("relapse", "2025-02-20")], mrn="H-000500", name="Rosa Response")
    untreated = patient(visit("2026-10-01", features=BASELINE_FEATURES), mrn="H-000600", name="Una Suspected")
    import_patients(db, [two_lines, untreated], admin, reason="test")
    return db


def make_view(qtbot, db, actor, width=1400, height=900):
    view = DashboardView(db, actor, as_of=TODAY)
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_one_row_per_line_with_categories_and_tooltips(qtbot, clinic, physician):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000500")
    table = view.response
    assert table.isVisible()
    header = [table.model().headerData(c, Qt.Orientation.Horizontal) for c in range(5)]
    assert header == ["Response by line", "VEGF", "Haematologic", "Neurologic", "Radiologic"]
    assert table.texts() == [
        ["2024-01 – 2024-07 · Bortezomib–dexamethasone", "Progression", "Progression", "Stable", "Not evaluable"],
        ["since 2025-03 · Lenalidomide–dexamethasone", "Partial", "Partial", "Improved", "Not evaluable"],
    ]
    vegf = table.tooltip(1, 1)
    assert "partial: fall >= 50 % from baseline (DEFAULT)" in vegf
    assert "baseline 900 pg/mL on 2025-03-01" in vegf and "latest 140 pg/mL on 2025-09-01" in vegf
    radiologic = table.tooltip(1, 4)  # the pending exam is named, not counted
    assert "imaging of 2025-09-01 pending: not counted" in radiologic
    assert "Rule: progression: M-protein >= 25 % and >= 0.5 g/dL above its nadir 0.3 g/dL on 2024-01-05" in table.tooltip(0, 2)
    assert "2024-01-10" in table.tooltip(0, 0)
    status = view.header.texts()["status"]
    assert status == "Status: Responding since 2025-09-01"
    assert "On lenalidomide–dexamethasone since 2025-03-02" in view.header.status.toolTip()


def test_no_line_hides_the_table_and_status_says_suspected(qtbot, clinic, physician):
    view = make_view(qtbot, clinic, physician)
    view.open_patient("H-000600")
    assert not view.response.isVisible() and view.response.texts() == []
    assert view.header.texts()["status"] == "Status: Suspected since 2026-10-01"
    assert "follow closely" in view.header.status.toolTip()


def test_low_screen_shows_the_latest_line_only(qtbot, clinic, physician):
    view = make_view(qtbot, clinic, physician, 1366, 700)
    view.open_patient("H-000500")
    table = view.response
    qtbot.waitUntil(lambda: table.height() < 3 * table.verticalHeader().defaultSectionSize()
                    + table.horizontalHeader().height())
    row_h = table.verticalHeader().defaultSectionSize()
    assert table.height() <= table.horizontalHeader().height() + row_h + 2 * table.frameWidth() + 1
    visible = table.rowAt(table.viewport().height() - 2)
    assert visible == 1  # the latest line is the one in view
    view.resize(1920, 1080)
    qtbot.waitUntil(lambda: table.height() >= table.horizontalHeader().height() + 2 * row_h)
    for c in range(5):  # nothing hidden at full HD: every column fits without a scroll bar
        assert table.columnViewportPosition(c) + table.columnWidth(c) <= table.viewport().width() + 1


def test_header_shows_every_word_on_a_1366_screen(qtbot, clinic, physician):
    """The dashboard part of a 1366x768 window is about 920 px wide: no field name, value or the
    status may be cut (a word wider than its label, or wrapped lines taller than it)."""
    view = make_view(qtbot, clinic, physician, 920, 690)
    view.open_patient("H-000500")
    qtbot.wait(50)  # let the layout settle
    header = view.header
    labels = [header.identity, header.status]
    for f in (header.diagnosis, header.criteria, header.therapy, header.prophylaxis, header.last_visit, header.flags):
        labels += [f.name, f.value]
    for label in labels:
        fm = label.fontMetrics()
        pieces = label.text().replace("\u200b", " ").replace("\u00ad", "- ").split()  # where a line may break
        widest = max((fm.horizontalAdvance(w) for w in pieces), default=0)
        assert widest <= label.contentsRect().width(), f"{label.text()!r} is cut ({widest} > {label.width()} px)"
        if label.wordWrap():
            assert label.heightForWidth(label.width()) <= label.height() + 1, f"{label.text()!r} is cut at the bottom"
