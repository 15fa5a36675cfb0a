"""Units as the clinic works (issue 15), against a real SQLite file: the [units] table is an
audited, physician-only protocol change; a visit typed in the clinic's unit is stored canonical
with the number as typed kept; CSV files stay canonical; the dashboard, flag texts, the previous
value and the PDF summary speak the clinic's unit."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import select

from poems_monitor.domain.protocol import ProtocolError, default_protocol_text
from poems_monitor.models import AuditEntry, Observation
from poems_monitor.services.access import PermissionDenied
from poems_monitor.services.csv_export import export_clinic_csv
from poems_monitor.services.dashboard import build_dashboard
from poems_monitor.services.patient_summary import build_patient_summary
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.protocol_store import current_protocol, protocol_status, save_protocol
from poems_monitor.services.visits import EnteredValue, VisitInput, last_recorded, record_visit
from tests.conftest import TODAY
from tests.si_clinic import MRN, SI, make_si_clinic



@pytest.fixture
def clinic(db, nurse, physician):
    return make_si_clinic(db, nurse, physician)


def _observation(db, code):  # noqa: ANN001, ANN202
    with db.read() as session:
        return session.execute(select(Observation.__table__).where(
            Observation.__table__.c.code == code, Observation.__table__.c.superseded_at.is_(None))).one()


def test_the_units_table_is_an_audited_physician_only_protocol_change(db, nurse, physician):
    with pytest.raises(PermissionDenied):
        save_protocol(db, nurse, SI, "I prefer SI")
    assert current_protocol(db).units.as_table() == {}
    save_protocol(db, physician, SI, "the laboratory reports SI units")
    assert current_protocol(db).units.label("creatinine") == "µmol/L"
    with db.read() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.entity == "protocol")).scalars().one()
    assert entry.reason == "the laboratory reports SI units" and entry.user == "dr-berg"
    assert 'creatinine = "umol/L"' in json.loads(entry.new)["text"]
    # a unit the catalogue cannot convert to is refused whole; the SI protocol stays in force
    with pytest.raises(ProtocolError, match="Creatinine cannot be shown in 'mmol/mol'"):
        save_protocol(db, physician, SI.replace('creatinine = "umol/L"', 'creatinine = "mmol/mol"'), "typo")
    assert protocol_status(db).text == SI


def test_typed_in_micromoles_is_stored_canonical_and_exported_canonical(clinic, nurse, tmp_path):
    saved = record_visit(clinic, nurse, MRN, VisitInput(TODAY, (
        EnteredValue("creatinine", 88.4, "umol/L"), EnteredValue("hemoglobin", 131, "g/L"))), today=TODAY)
    row = _observation(clinic, "creatinine")
    assert row.unit == "mg/dL" and row.value_num == pytest.approx(0.99977, abs=1e-5)  # 88.4 / 88.42
    assert row.entered_num == 88.4 and row.entered_unit == "umol/L"
    assert _observation(clinic, "hemoglobin").value_num == pytest.approx(13.1)

    out = tmp_path / "export"
    export_clinic_csv(clinic, out)
    with open(out / "values_long.csv", encoding="utf-8", newline="") as fh:
        values = {r["code"]: r for r in csv.DictReader(fh)}
    assert values["creatinine"]["unit"] == "mg/dL"
    assert float(values["creatinine"]["value"]) == pytest.approx(0.99977, abs=1e-5)
    assert values["creatinine"]["entered_value"] == "88.4" and values["creatinine"]["entered_unit"] == "umol/L"
    assert values["hemoglobin"]["unit"] == "g/dL" and float(values["hemoglobin"]["value"]) == pytest.approx(13.1)
    with open(out / "observation.csv", encoding="utf-8", newline="") as fh:
        stored = {r["code"]: r for r in csv.DictReader(fh)}
    assert stored["creatinine"]["unit"] == "mg/dL"
    assert saved.visit_id


def test_what_the_clinic_reads_is_in_its_unit(clinic, nurse):
    record_visit(clinic, nurse, MRN, VisitInput(date(2026, 9, 1), (
        EnteredValue("creatinine", 88.4, "umol/L"), EnteredValue("hemoglobin", 13.1, "g/dL"),
        EnteredValue("glucose_fasting", 99, "mg/dL"))), today=TODAY)
    # the previous value beside the field of the next visit
    previous = last_recorded(clinic, MRN, TODAY)
    assert previous["creatinine"].text == "88.4 µmol/L"  # as typed
    assert previous["hemoglobin"].text == "131 g/L"  # typed in g/dL, read in g/L
    assert previous["glucose_fasting"].text == "5.5 mmol/L"
    # the dashboard's haemoglobin series (chart, table and tooltip)
    d = build_dashboard(clinic, MRN, TODAY, fresh=True)
    hb = d.series["hemoglobin"]
    assert hb.unit == "g/L" and hb.points[-1].value == 131 and hb.points[-1].shown == "131"
    assert hb.points[-1].entered == "13.1 g/dL"
    assert d.thresholds.hemoglobin_high == 160  # the protocol's 16.0 g/dL, drawn in g/L
    # the PDF summary's latest values
    latest = {v.code: v for v in build_patient_summary(clinic, MRN, TODAY).latest}
    assert (latest["creatinine"].value, latest["creatinine"].unit) == ("88.4", "µmol/L")
    assert latest["creatinine"].reference == "44–106"  # 0.5–1.2 mg/dL
    assert (latest["hemoglobin"].value, latest["hemoglobin"].unit, latest["hemoglobin"].reference) == (
        "131", "g/L", "120–160")


def test_a_flag_quotes_values_in_the_clinic_unit_and_the_rule_stays_canonical(clinic, admin):
    from poems_monitor.services.timeline_io import import_patients
    from tests.unit.timeline_builders import patient, visit

    # an imported creatinine of 12 mg/dL (critical above 10 mg/dL), never confirmed at entry
    import_patients(clinic, [patient(visit("2026-10-01", creatinine=12.0), mrn="H-000500", name="Lab File")],
                    admin, reason="lab file")
    d = build_dashboard(clinic, "H-000500", TODAY, fresh=True)
    critical = next(e.flag for e in d.flags if e.flag.code == "creatinine")
    assert "Creatinine 1061 µmol/L" in critical.message and "critical limit 884 µmol/L" in critical.message
    assert critical.evidence["value"] == 12.0 and critical.evidence["critical_limit"] == 10  # canonical


def test_the_cli_shows_the_units(clinic, db_path):
    shown = subprocess.run([sys.executable, "-m", "poems_monitor", "protocol", "show", "--db", str(db_path)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "creatinine" in shown.stdout and "µmol/L" in shown.stdout
    as_json = subprocess.run([sys.executable, "-m", "poems_monitor", "protocol", "show", "--json", "--db", str(db_path)],
                             capture_output=True, text=True, timeout=120)
    data = json.loads(as_json.stdout)
    assert data["units"]["creatinine"] == {"unit": "umol/L", "label": "µmol/L", "canonical": "mg/dL"}
    conventional = db_path.parent / "conventional.toml"
    conventional.write_text(default_protocol_text(), encoding="utf-8")
    checked = subprocess.run([sys.executable, "-m", "poems_monitor", "protocol", "check", str(conventional),
                              "--db", str(db_path)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert "unit of Creatinine: µmol/L -> mg/dL" in checked.stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_the_pdf_summary_prints_the_clinic_unit(qapp, clinic, nurse, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    record_visit(clinic, nurse, MRN, VisitInput(TODAY, (EnteredValue("creatinine", 88.4, "umol/L"),)), today=TODAY)
    target = tmp_path / "summary.pdf"
    write_patient_summary(clinic, MRN, target, "A4", TODAY, generated_by="dr-berg")
    text = subprocess.run(["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True,
                          check=True).stdout
    line = next(t for t in text.splitlines() if "Creatinine" in t)
    assert "88.4" in line and "µmol/L" in line and "mg/dL" not in line


def test_the_summary_says_how_a_value_was_entered_as_a_person_writes_it(clinic, nurse):
    record_visit(clinic, nurse, MRN, VisitInput(TODAY, (EnteredValue("glucose_fasting", 79.0, "mg/dL"),
                                                        EnteredValue("platelets", 250, "10*3/uL"))), today=TODAY)
    latest = {v.code: v for v in build_patient_summary(clinic, MRN, TODAY).latest}
    assert (latest["glucose_fasting"].value, latest["glucose_fasting"].entered) == ("4.4", "79 mg/dL")
    assert latest["platelets"].entered == "250 ×10³/µL"


def test_chart_lines_follow_the_clinic_unit_of_pasp(db, nurse, physician):
    create_patient(db, nurse, PatientInput(MRN, "Jane Example", "female", date(1971, 4, 2), date(2019, 3, 14)),
                   today=TODAY)
    save_protocol(db, physician, default_protocol_text() + '\n[units]\npasp = "kPa"\n', "echo lab reports kPa")
    record_visit(db, nurse, MRN, VisitInput(TODAY, (EnteredValue("pasp", 6.0, "kPa"),)), today=TODAY)
    d = build_dashboard(db, MRN, TODAY, fresh=True)
    assert d.series["pasp"].unit == "kPa" and d.series["pasp"].points[-1].value == 6.0
    assert d.thresholds.pasp_pulmonary_hypertension == pytest.approx(50 / 7.50062, rel=1e-5)  # 50 mmHg
    assert d.thresholds.references["pasp"][1] == pytest.approx(36 / 7.50062, rel=1e-5)
