"""CSV export of a demo clinic: every table read back with the csv module, values_long.csv agrees
with the record, the data dictionary covers every catalogue code, and the files are plain
UTF-8 with '.' decimals and ISO dates."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from poems_monitor.domain.catalogue import CRITERIA, EVENT_TYPES, EXAM_KINDS, FEATURES, MEASURES, REGIMENS
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.csv_export import DICTIONARY_COLUMNS, cell, export_clinic_csv
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.users import add_user
from poems_monitor.services.access import Actor, Role
from poems_monitor.persistence.db import open_database
from tests.conftest import TODAY


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One demo clinic exported once for the module (the tests only read the files)."""
    folder = tmp_path_factory.mktemp("csv")
    db = open_database(folder / "clinic.sqlite")
    admin = Actor("test-admin", Role.ADMIN)
    import_patients(db, generate_patients(4, 9, TODAY), admin, reason="demo clinic for tests")
    add_user(db, admin, "nurse-ann", Role.NURSE, "a long enough secret")
    out = folder / "export"
    summary = export_clinic_csv(db, out)
    yield db, out, summary
    db.dispose()


def read(path):  # noqa: ANN001
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_table_is_written_with_all_its_rows(exported):
    db, out, summary = exported
    tables = [t.name for t in SQLModel.metadata.sorted_tables if t.name not in ("rules_cache", "record_seal")]
    with db.read() as session:
        for name in tables:
            rows = read(out / f"{name}.csv")
            n = session.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            assert len(rows) == n, name
            assert summary.files[f"{name}.csv"] == n
    assert not (out / "alembic_version.csv").exists()
    assert not (out / "rules_cache.csv").exists()  # derived data, not part of the record
    assert not (out / "record_seal.csv").exists()  # the seal's copy of every row (password hashes too)
    assert {"data_dictionary.csv", "values_long.csv"} <= set(summary.files)


def test_password_hashes_never_leave_the_database(exported):
    _db, out, _summary = exported
    users = read(out / "app_user.csv")
    assert users and "password_hash" not in users[0]
    assert "argon2" not in (out / "app_user.csv").read_text(encoding="utf-8")


def test_files_are_plain_utf8_with_iso_dates_and_point_decimals(exported):
    _db, out, _summary = exported
    for path in out.glob("*.csv"):
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), path.name  # no BOM: R and pandas read the header as is
        raw.decode("utf-8")
    visits = read(out / "visit.csv")
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v["date"]) for v in visits)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", v["created_at"]) for v in visits)
    observations = read(out / "observation.csv")
    numbers = [o["value_num"] for o in observations if o["value_num"]]
    assert numbers and all(re.fullmatch(r"-?\d+(\.\d+)?(e[+-]\d+)?", n) for n in numbers)
    assert {o["derived"] for o in observations} <= {"true", "false"}


def test_values_long_matches_the_record(exported):
    db, out, _summary = exported
    rows = read(out / "values_long.csv")
    with db.read() as session:
        patients = load_timelines(session)
    expected = {(p.mrn, v.date.isoformat(), o.code): o for p in patients for v in p.visits for o in v.observations}
    assert len(rows) == len(expected)
    for r in rows:
        o = expected[(r["mrn"], r["date"], r["code"])]
        if isinstance(o.value, str):
            assert r["value_text"] == o.value and r["value"] == ""
        else:
            assert float(r["value"]) == pytest.approx(o.value, rel=1e-12)
        assert r["unit"] == o.unit
        assert r["name"] == MEASURES[o.code].name


def test_data_dictionary_covers_every_catalogue_code(exported):
    _db, out, _summary = exported
    rows = read(out / "data_dictionary.csv")
    assert tuple(rows[0]) == DICTIONARY_COLUMNS
    by_kind: dict[str, set[str]] = {}
    for r in rows:
        by_kind.setdefault(r["kind"].split("_")[0] if r["kind"].startswith("measure") else r["kind"], set()).add(r["code"])
    assert by_kind["measure"] == set(MEASURES)
    assert by_kind["feature"] == set(FEATURES)
    assert by_kind["criterion"] == set(CRITERIA)
    assert by_kind["regimen"] == set(REGIMENS)
    assert by_kind["event_type"] == set(EVENT_TYPES)
    assert by_kind["exam_kind"] == set(EXAM_KINDS)
    assert len({(r["code"], r["kind"]) for r in rows}) == len(rows)


def test_data_dictionary_carries_loinc_units_and_limits_with_sources(exported):
    _db, out, _summary = exported
    rows = {r["code"]: r for r in read(out / "data_dictionary.csv") if r["kind"].startswith("measure")}
    vegf = rows["vegf_plasma"]
    assert (vegf["loinc"], vegf["unit"], vegf["specimen"]) == ("75628-8", "pg/mL", "plasma")
    assert vegf["accepted_units"] == "pg/mL | ng/L | ng/mL"
    assert (vegf["absolute_low"], vegf["absolute_high"]) == ("0", "100000")
    assert vegf["reference_high"] == "96.2" and "MAYO-VEGF" in vegf["reference_source"]
    hb = rows["hemoglobin"]
    assert hb["reference_low"] == "" and hb["reference_female_high"] == "16" and hb["reference_male_high"] == "16.5"
    assert "WHO" in hb["reference_male_source"]
    assert rows["platelets"]["critical_high"] == "1000"
    assert rows["ife"]["categories"] == "negative | lambda | kappa | biclonal | positive"
    assert rows["tlc_pct"]["loinc"] == "" and "local code" in rows["tlc_pct"]["loinc_note"]
    for code, m in MEASURES.items():
        assert rows[code]["unit"] == m.unit and rows[code]["loinc"] == (m.loinc or "")


def test_pandas_style_reading_needs_no_options(exported):
    """What pandas.read_csv / R read.csv do by default: comma, header, '.' decimals, empty = missing."""
    _db, out, _summary = exported
    rows = read(out / "values_long.csv")
    numeric = [float(r["value"]) for r in rows if r["value"] != ""]
    assert numeric
    header = (out / "values_long.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "mrn,date,code,name,value,value_text,qualifier,unit,entered_value,entered_unit,specimen,lab,method,derived"


def test_cell_formats():
    assert cell(None) == "" and cell(True) == "true" and cell(1240.0) == "1240" and cell(0.1) == "0.1"
    assert cell(date(2024, 3, 1)) == "2024-03-01"
    assert cell(datetime(2024, 3, 1, 8, 15)) == "2024-03-01T08:15:00Z"


def test_export_into_a_file_path_is_refused(db, tmp_path):
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    with pytest.raises(NotADirectoryError):
        export_clinic_csv(db, target)


def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped(db, tmp_path):
    """Formula injection: a name, note or lab written as a formula is shown, never run; negative
    numbers stay numbers."""
    from poems_monitor.services.csv_export import spreadsheet_safe
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    nurse = Actor("nurse-ann", Role.NURSE)
    create_patient(db, nurse, PatientInput("=1+1", '=HYPERLINK("http://evil","x")', "female", date(1960, 1, 1)),
                   today=TODAY)
    record_visit(db, nurse, "=1+1", VisitInput(date(2024, 3, 1), values=(EnteredValue("platelets", 300, "10*9/L"),),
                                               note="@SUM(A1:A9)"), today=TODAY)
    out = tmp_path / "export"
    export_clinic_csv(db, out)
    (patient,) = read(out / "patient.csv")
    assert patient["mrn"] == "'=1+1" and patient["name"] == '\'=HYPERLINK("http://evil","x")'
    (visit,) = read(out / "visit.csv")
    assert visit["note"] == "'@SUM(A1:A9)"
    (value,) = read(out / "values_long.csv")
    assert value["mrn"] == "'=1+1" and value["value"] == "300"
    assert [spreadsheet_safe(t) for t in ("-5", "-0.25", "-1e3", "-x", "+5", "\tx", "a=b", "")] == [
        "-5", "-0.25", "-1e3", "'-x", "'+5", "'\tx", "a=b", ""]


def test_the_driver_path_writes_what_the_sqlalchemy_path_writes(tmp_path, monkeypatch):
    """On SQLite the export turns what SQLite stores into cells itself (dates, times, booleans,
    numbers, text): every file is byte for byte what the SQLAlchemy path writes, on a demo clinic
    with a correction (superseded rows), accounts, formula-like text and stored oddities."""
    import sqlite3

    from poems_monitor.services import csv_export
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit

    db = open_database(tmp_path / "clinic.sqlite")
    admin = Actor("test-admin", Role.ADMIN)
    import_patients(db, generate_patients(3, 4, TODAY), admin, reason="demo")
    add_user(db, admin, "nurse-ann", Role.NURSE, "a long enough secret")
    nurse = Actor("nurse-ann", Role.NURSE)
    create_patient(db, nurse, PatientInput("-X1", '=HYPERLINK("x")', "female", date(1960, 1, 1)), today=TODAY)
    saved = record_visit(db, nurse, "-X1", VisitInput(date(2024, 3, 1), values=(
        EnteredValue("platelets", 300, "10*9/L"), EnteredValue("vegf_plasma", 1234.5, "pg/mL")),
        note='say "hi",\nthen -2 @x'), today=TODAY)
    correct_visit(db, nurse, saved.visit_id, saved.version, VisitInput(date(2024, 3, 1), values=(
        EnteredValue("platelets", 3e5 / 1000, "10*9/L"), EnteredValue("vegf_plasma", 0.000125, "pg/mL"))),
        "typing error", today=TODAY)
    db.dispose()
    conn = sqlite3.connect(tmp_path / "clinic.sqlite")  # what SQLite may hold beside the app's own forms
    conn.execute("UPDATE observation SET value_num = -1e20 WHERE id = (SELECT min(id) FROM observation)")
    conn.execute("UPDATE observation SET lab = '+cmd' WHERE id = (SELECT max(id) FROM observation)")
    conn.execute("UPDATE visit SET updated_at = '2026-01-02' WHERE id = (SELECT min(id) FROM visit)")
    conn.commit()
    conn.close()
    db = open_database(tmp_path / "clinic.sqlite")
    fast = export_clinic_csv(db, tmp_path / "fast")
    monkeypatch.setattr(csv_export, "_stored_cell", lambda kind: None)
    slow = export_clinic_csv(db, tmp_path / "slow")
    assert fast.files == slow.files and fast.files["observation.csv"] > 40
    for name in slow.files:
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "slow" / name).read_bytes(), name
