"""Units as the clinic works (issue 15) on the screens, with an SI protocol saved in a real SQLite
file: the entry form offers the clinic's unit, accepts a value typed in it and stores it
canonical; limits are said in the unit the nurse sees; the dashboard's table, tooltip and axis
show the clinic's unit."""

from __future__ import annotations


import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from poems_monitor.models import Observation
from poems_monitor.ui.charts.chart_table import T_NOTE, T_SERIES, T_UNIT, T_VALUE
from poems_monitor.ui.dashboard.view import DashboardView
from tests.conftest import TODAY
from tests.si_clinic import MRN, make_si_clinic



@pytest.fixture
def clinic(db, nurse, physician):
    return make_si_clinic(db, nurse, physician)


@pytest.fixture
def form(open_entry_form, clinic, nurse):
    return open_entry_form(clinic, nurse, size=(1366, 768))


def stored(db, code):  # noqa: ANN001, ANN201
    with db.read() as session:
        return session.execute(select(Observation.__table__).where(Observation.__table__.c.code == code)).one()


def test_the_nurse_types_in_the_clinic_unit_and_the_database_keeps_the_canonical_one(qtbot, form, clinic):
    form.load_new(MRN)
    creatinine, hb = form.rows["creatinine"], form.rows["hemoglobin"]
    assert creatinine.unit_combo.currentText() == "µmol/L"  # offered first: the clinic's unit
    assert hb.unit_combo.currentText() == "g/L"
    assert "ref 44–106" in creatinine.status.text()  # the reference range in µmol/L
    creatinine.editor.setFocus()
    qtbot.keyClicks(creatinine.editor, "88.4")
    assert "mg/dL" not in creatinine.status.text()  # typed in the clinic's unit: no conversion to read
    qtbot.keyClicks(hb.editor, "131")
    with qtbot.waitSignal(form.saved, timeout=3000):
        form.save()
    row = stored(clinic, "creatinine")
    assert row.unit == "mg/dL" and row.value_num == pytest.approx(88.4 / 88.42, abs=1e-5)
    assert (row.entered_num, row.entered_unit) == (88.4, "umol/L")
    assert stored(clinic, "hemoglobin").value_num == pytest.approx(13.1)
    # reopened, the visit reads as typed
    assert creatinine.editor.text() == "88.4" and creatinine.unit_combo.currentData() == "umol/L"


def test_limits_are_said_in_the_unit_the_nurse_sees(qtbot, form):
    form.load_new(MRN)
    creatinine = form.rows["creatinine"]
    qtbot.keyClicks(creatinine.editor, "3000")
    assert "not possible: above 2653 µmol/L" in creatinine.status.text()  # 30 mg/dL
    assert "2653 µmol/L" in creatinine.editor.toolTip()
    creatinine.editor.clear()
    qtbot.keyClicks(creatinine.editor, "900")
    assert "critical (above 884)" in creatinine.status.text()  # 10 mg/dL
    # a unit other than the clinic's is still accepted, and read in the clinic's unit
    creatinine.unit_combo.setCurrentIndex(creatinine.unit_combo.findData("mg/dL"))
    creatinine.editor.clear()
    qtbot.keyClicks(creatinine.editor, "1.2")
    assert "1.2 mg/dL = 106 µmol/L" in creatinine.status.text()


def test_the_dashboard_table_tooltip_and_axis_show_the_clinic_unit(qtbot, form, clinic, physician):
    form.load_new(MRN)
    form.rows["hemoglobin"].unit_combo.setCurrentIndex(form.rows["hemoglobin"].unit_combo.findData("g/dL"))
    qtbot.keyClicks(form.rows["hemoglobin"].editor, "13.1")
    with qtbot.waitSignal(form.saved, timeout=3000):
        form.save()
    view = DashboardView(clinic, physician, as_of=TODAY)
    qtbot.addWidget(view)
    view.resize(1366, 768)
    view.show()
    view.open_patient(MRN)
    chart = view.charts.charts["blood"]
    model = chart.table_model
    hb_row = next(r for r in range(model.rowCount()) if model.index(r, T_SERIES).data() == "Haemoglobin")
    assert model.index(hb_row, T_VALUE).data() == "131"
    assert model.index(hb_row, T_UNIT).data() == "g/L"
    assert "entered as 13.1 g/dL" in model.index(hb_row, T_NOTE).data()
    assert "<b>131</b> g/L" in model.index(hb_row, T_VALUE).data(Qt.ItemDataRole.ToolTipRole)
    assert chart.plot.getAxis("right").labelText == "g/L"


def test_a_physician_changes_the_units_with_a_reason_and_it_is_audited(qtbot, clinic, physician):
    import json

    from poems_monitor.models import AuditEntry
    from poems_monitor.services.protocol_store import current_protocol
    from poems_monitor.ui.units_dialog import UnitsDialog

    dialog = UnitsDialog(clinic, physician)
    qtbot.addWidget(dialog)
    dialog.show()
    chooser = dialog.choosers["creatinine"]
    assert chooser.currentText() == "µmol/L" and chooser.isEnabled()
    chooser.setCurrentIndex(chooser.findData("mg/dL"))  # back to conventional
    dialog.save()  # no reason: refused, nothing changes
    assert dialog.problem.isVisible() and "reason" in dialog.problem.text()
    assert current_protocol(clinic).units.unit("creatinine") == "umol/L"
    qtbot.keyClicks(dialog.reason, "the new laboratory reports mg/dL")
    dialog.save()
    assert dialog.result() == dialog.DialogCode.Accepted
    units = current_protocol(clinic).units
    assert units.unit("creatinine") == "mg/dL" and units.unit("hemoglobin") == "g/L"  # only what was changed
    with clinic.read() as session:
        last = session.execute(select(AuditEntry).where(AuditEntry.entity == "protocol")
                               .order_by(AuditEntry.id.desc())).scalars().first()
    assert last.reason == "the new laboratory reports mg/dL" and last.user == "dr-berg"
    assert 'creatinine = "umol/L"' in json.loads(last.old)["text"]
    assert 'creatinine' not in json.loads(last.new)["text"].split("[units]")[1]


def test_a_nurse_sees_the_units_but_cannot_change_them(qtbot, clinic, nurse):
    from poems_monitor.ui.units_dialog import UnitsDialog

    dialog = UnitsDialog(clinic, nurse)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.choosers["hemoglobin"].currentText() == "g/L"
    assert not dialog.choosers["hemoglobin"].isEnabled()
    assert "Only a physician or an administrator" in dialog.findChild(type(dialog.problem), "units_read_only").text()
