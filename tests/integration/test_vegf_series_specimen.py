"""Issue 10, defect 2: a value's specimen is decided by its series, so a plasma VEGF imported
without a specimen, one entered as "plasma" and one made by the demo generator are one line;
the line (and the printed legend) breaks only on a real change of specimen, lab or method.
Existing records are filled in by migration 0004, audited."""

from __future__ import annotations


import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from poems_monitor.domain.timeline_json import parse_timeline
from poems_monitor.models import AuditEntry, Observation
from poems_monitor.services.dashboard import build_dashboard
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from tests.conftest import TODAY

O = Observation.__table__


def _timeline(*visits: dict, mrn: str = "H-000500") -> dict:
    return {"format": "poems-monitor/timeline", "version": 1, "patients": [{
        "mrn": mrn, "name": "Vera Gates", "sex": "female", "birth_date": "1970-01-01", "visits": list(visits)}]}


def _import(db, actor, document: dict) -> None:
    patients, problems = parse_timeline(document, TODAY)
    assert problems == []
    import_patients(db, patients, actor, reason="test")


def _vegf_specimens(db) -> list[str | None]:
    with db.read() as session:
        return [r[0] for r in session.execute(select(O.c.specimen).where(O.c.code.in_(("vegf_plasma", "vegf_serum"))))]


def test_imported_and_entered_plasma_vegf_are_one_line(db, admin, nurse):
    _import(db, admin, _timeline(
        {"date": "2023-01-10", "observations": [{"code": "vegf_plasma", "value": 900, "unit": "pg/mL"}]},
        {"date": "2023-04-10", "observations": [{"code": "vegf_plasma", "value": 500, "unit": "pg/mL"}]},
    ))
    # the visit form sends the specimen of the row the nurse typed in
    record_visit(db, nurse, "H-000500", VisitInput(date(2023, 7, 10), (
        EnteredValue("vegf_plasma", 300, "pg/mL", specimen="plasma"),)), today=TODAY)
    assert _vegf_specimens(db) == ["plasma"] * 3
    series = build_dashboard(db, "H-000500", TODAY).series["vegf_plasma"]
    assert [p.segment for p in series.points] == [0, 0, 0]
    assert series.breaks == ()


def test_a_real_change_of_lab_or_method_still_breaks_the_line(db, admin):
    _import(db, admin, _timeline(
        {"date": "2023-01-10", "observations": [{"code": "vegf_plasma", "value": 900, "unit": "pg/mL", "lab": "A"}]},
        {"date": "2023-04-10", "observations": [{"code": "vegf_plasma", "value": 500, "unit": "pg/mL", "lab": "B"}]},
        {"date": "2023-07-10", "observations": [{"code": "vegf_plasma", "value": 400, "unit": "pg/mL", "lab": "B",
                                                  "method": "ELISA"}]},
    ))
    series = build_dashboard(db, "H-000500", TODAY).series["vegf_plasma"]
    assert [p.segment for p in series.points] == [0, 1, 2]
    assert [(b.date, b.what, b.before, b.after) for b in series.breaks] == [
        (date(2023, 4, 10), "laboratory", "A", "B"), (date(2023, 7, 10), "method", "not recorded", "ELISA")]


def test_the_dashboard_chart_draws_one_connected_line(qtbot, db, admin, nurse, physician):
    from poems_monitor.ui.dashboard.view import DashboardView

    _import(db, admin, _timeline(
        {"date": "2023-01-10", "observations": [{"code": "vegf_plasma", "value": 900, "unit": "pg/mL"}]},
        {"date": "2023-04-10", "observations": [{"code": "vegf_plasma", "value": 500, "unit": "pg/mL"}]},
    ))
    record_visit(db, nurse, "H-000500", VisitInput(date(2023, 7, 10), (
        EnteredValue("vegf_plasma", 300, "pg/mL", specimen="plasma"),)), today=TODAY)
    view = DashboardView(db, physician, as_of=TODAY)
    qtbot.addWidget(view)
    view.resize(1366, 768)
    view.show()
    view.open_patient("H-000500")
    curve = view.charts.charts["vegf"]._curves["vegf_plasma"]
    assert len(curve.xData) == 3
    connect = curve.opts["connect"]
    assert isinstance(connect, str) and connect == "all"  # one unbroken line through the three values


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_printed_legend_names_only_real_breaks(qapp, db, admin, nurse, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    _import(db, admin, _timeline(
        {"date": "2023-01-10", "observations": [{"code": "vegf_plasma", "value": 900, "unit": "pg/mL"}]},
        {"date": "2023-04-10", "observations": [{"code": "vegf_plasma", "value": 500, "unit": "pg/mL"}]},
    ))
    record_visit(db, nurse, "H-000500", VisitInput(date(2023, 7, 10), (
        EnteredValue("vegf_plasma", 300, "pg/mL", specimen="plasma"),)), today=TODAY)
    _import(db, admin, _timeline(
        {"date": "2023-01-10", "observations": [{"code": "vegf_plasma", "value": 900, "unit": "pg/mL", "lab": "A"}]},
        {"date": "2023-04-10", "observations": [{"code": "vegf_plasma", "value": 500, "unit": "pg/mL", "lab": "B"}]},
        mrn="H-000600"))

    def text(mrn: str) -> str:
        target = tmp_path / f"{mrn}.pdf"
        write_patient_summary(db, mrn, target, "A4", TODAY)
        out = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True).stdout
        return re.sub(r"\s+", " ", out)

    one_line = text("H-000500")
    assert "specimen changed" not in one_line.lower() and "the line breaks on" not in one_line
    broken = text("H-000600")
    assert "VEGF (plasma): the line breaks on 2023-04-10 (laboratory A → B)" in broken
    assert "specimen" not in broken.split("the line breaks on")[1][:40]


def test_demo_values_carry_the_specimen_of_their_series(db, admin):
    from poems_monitor.services.demo_clinic import create_demo_clinic

    create_demo_clinic(db, 6, seed=3, actor=admin, today=TODAY)
    specimens = _vegf_specimens(db)
    assert specimens and None not in specimens
    with db.read() as session:
        rows = session.execute(select(O.c.code, O.c.specimen).where(O.c.code.in_(("vegf_plasma", "vegf_serum")))).all()
    assert {(code, spec) for code, spec in rows} <= {("vegf_plasma", "plasma"), ("vegf_serum", "serum")}


def test_migration_0004_fills_the_specimen_and_audits_it(db_path, admin, tmp_path):
    """A clinic file as poems-monitor 0.1.0 wrote it (schema 0003): its VEGF values carry no
    specimen. Opened by this version, 0004 fills each from its series and audits it."""
    import shutil

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.integrity import check

    shutil.copyfile(Path(__file__).parent.parent / "data" / "clinic-0.1.0-schema-0003.db", db_path)
    with sqlite3.connect(db_path) as conn:
        unknown = conn.execute("SELECT count(*) FROM observation WHERE code LIKE 'vegf_%' AND specimen IS NULL").fetchone()[0]
        platelets = conn.execute("SELECT count(*) FROM observation WHERE code = 'platelets'").fetchone()[0]
    assert unknown > 0

    db = open_database(db_path)  # runs 0004 and the later migrations
    try:
        with db.read() as session:
            rows = session.execute(select(O.c.code, O.c.specimen)).all()
            entry = session.execute(select(AuditEntry).where(AuditEntry.action == "migrate")).scalars().one()
        assert {(code, spec) for code, spec in rows if code.startswith("vegf_")} <= {("vegf_plasma", "plasma"),
                                                                                    ("vegf_serum", "serum")}
        assert sum(1 for code, spec in rows if code.startswith("vegf_")) == unknown
        assert sum(1 for code, spec in rows if code == "platelets" and spec is None) == platelets  # untouched
        assert entry.entity == "observation" and '"count":' in entry.new and "0004" in entry.reason
        assert check(db) == []  # the audit chain and its recorded head still hold
    finally:
        db.dispose()
    # the command line's check agrees
    import os

    result = subprocess.run([sys.executable, "-m", "poems_monitor", "check", "--db", str(db_path)],
                            capture_output=True, text=True, timeout=120, env={**os.environ})
    assert result.returncode == 0, result.stderr


def test_migration_on_an_empty_database_writes_no_audit_entry(db):
    with db.read() as session:
        assert session.execute(select(AuditEntry)).first() is None
