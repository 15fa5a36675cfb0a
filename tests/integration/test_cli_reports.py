"""`import-csv`, `export-csv`, `export-fhir` and the reserved `report` through the real entry point
(`python -m poems_monitor` in a subprocess): output, stderr and exit codes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from poems_monitor.persistence.db import open_database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "POEMS_MONITOR_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "poems_monitor", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "clinic.sqlite"
    db = open_database(path)
    import_patients(db, generate_patients(2, 21, TODAY), Actor("test-admin", Role.ADMIN), reason="tests")
    with db.read() as session:
        patients = load_timelines(session)
    db.dispose()
    return folder, path, patients


def observation_count(path: Path) -> int:
    db = open_database(path)
    try:
        with db.read() as session:
            return session.execute(text("SELECT count(*) FROM observation")).scalar_one()
    finally:
        db.dispose()


def test_import_csv_dry_run_then_import_then_duplicates(clinic, tmp_path):
    folder, path, patients = clinic
    p = patients[0]
    day = (max(v.date for v in p.visits) + timedelta(days=1)).strftime("%d/%m/%Y")
    csv_file = tmp_path / "lab.csv"
    csv_file.write_bytes(("\ufeffmrn;date;code;value;unit;specimen\r\n"
                          f"{p.mrn};{day};pth;42,5;pg/mL;\r\n"
                          f"{p.mrn};{day};75628-8;<31;pg/mL;plasma\r\n").encode())
    before = observation_count(path)

    dry = run("import-csv", "--db", str(path), "--date-format", "dmy", "--dry-run", str(csv_file), home=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "2 new, 0 duplicate, 0 conflicting, 0 invalid" in dry.stdout
    assert "Dry run" in dry.stdout
    assert observation_count(path) == before

    done = run("import-csv", "--db", str(path), "--date-format", "dmy", str(csv_file), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 values added" in done.stdout
    assert observation_count(path) == before + 2

    again = run("import-csv", "--db", str(path), "--date-format", "dmy", str(csv_file), home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 new, 2 duplicate" in again.stdout
    assert observation_count(path) == before + 2


def test_import_csv_invalid_rows_exit_2_and_list_every_bad_row(clinic, tmp_path):
    _folder, path, patients = clinic
    p = patients[1]
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("mrn,date,code,value,unit\n"
                        f"{p.mrn},2024-01-05,platelets,400,10*9/L\n"
                        f"{p.mrn},05/01/2024,platelets,400,10*9/L\n"
                        f"{p.mrn},2024-01-05,75628-8,640,pg/mL\n"
                        "H-NOPE,2024-01-05,hemoglobin,13,g/dL\n", encoding="utf-8")
    before = observation_count(path)
    result = run("import-csv", "--db", str(path), str(csv_file), home=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("line 3, column date:") and "[date_format]" in lines[0]
    assert lines[1].startswith("line 4, column code:") and "[ambiguous_loinc]" in lines[1]
    assert lines[2].startswith("line 5, column mrn:") and "[unknown_mrn]" in lines[2]
    assert "nothing was imported" in lines[-1]
    assert "Traceback" not in result.stderr
    assert "1 new, 0 duplicate, 0 conflicting, 3 invalid" in result.stdout
    assert observation_count(path) == before


def test_import_csv_conflict_exits_2(clinic, tmp_path):
    _folder, path, patients = clinic
    p = patients[1]
    v = next(v for v in p.visits if v.value("platelets") is not None)
    csv_file = tmp_path / "conflict.csv"
    csv_file.write_text("mrn,date,code,value,unit\n"
                        f"{p.mrn},{v.date.isoformat()},platelets,{v.value('platelets').value + 7:g},10*9/L\n", encoding="utf-8")
    result = run("import-csv", "--db", str(path), str(csv_file), home=tmp_path)
    assert result.returncode == 2
    assert "[conflicting]" in result.stderr and "nothing is overwritten" in result.stderr


def test_import_csv_missing_file_exits_2(clinic, tmp_path):
    _folder, path, _patients = clinic
    result = run("import-csv", "--db", str(path), str(tmp_path / "none.csv"), home=tmp_path)
    assert result.returncode == 2 and "cannot be read" in result.stderr and "Traceback" not in result.stderr


def test_export_csv(clinic, tmp_path):
    _folder, path, _patients = clinic
    out = tmp_path / "csv-out"
    result = run("export-csv", "--db", str(path), str(out), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "data_dictionary.csv").exists() and (out / "patient.csv").exists()
    with open(out / "patient.csv", encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2


def test_export_fhir(clinic, tmp_path):
    from fhir.resources.R4B.bundle import Bundle

    _folder, path, patients = clinic
    target = tmp_path / "bundle.json"
    result = run("export-fhir", "--db", str(path), "--mrn", patients[0].mrn, str(target), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 patient," in result.stdout
    Bundle.model_validate(json.loads(target.read_text(encoding="utf-8")))
    unknown = run("export-fhir", "--db", str(path), "--mrn", "H-NOPE", str(tmp_path / "x.json"), home=tmp_path)
    assert unknown.returncode == 1 and "H-NOPE" in unknown.stderr and not (tmp_path / "x.json").exists()


def test_report_is_reserved_until_the_pdf_lands(clinic, tmp_path):
    _folder, path, patients = clinic
    result = run("report", "--db", str(path), "--mrn", patients[0].mrn, str(tmp_path / "s.pdf"), home=tmp_path)
    if result.returncode == 0:  # the PDF summary has landed: then it must have written the file
        assert (tmp_path / "s.pdf").exists()
    else:
        assert result.returncode == 1 and "not available yet" in result.stderr
