"""Inputs bounded and sane (issue 11): hostile timeline files, lab CSV files and command-line
values get a plain sentence and change nothing; none ends in "unexpected error" (exit 4) or a traceback.
Run through the command line as a person types it, against real SQLite files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

PATIENT = {"mrn": "H-000123", "name": "Jane Example", "sex": "female", "birth_date": "1971-04-02",
           "visits": [{"date": "2019-03-14", "observations": [{"code": "platelets", "value": 512, "unit": "10*9/L"}]}]}


def run(*args: str) -> tuple[int, str, str]:
    from poems_monitor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def document(**changes) -> dict:  # noqa: ANN003
    patient = json.loads(json.dumps(PATIENT))
    patient.update(changes)
    return {"format": "poems-monitor/timeline", "version": 1, "patients": [patient]}


def count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def clean(err: str) -> None:
    assert "unexpected error" not in err and "Traceback" not in err, err


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "clinic.sqlite"
    source = tmp_path / "first.json"
    source.write_text(json.dumps(document()), encoding="utf-8")
    code, _, err = run("import", str(source), "--db", str(path))
    assert code == 0, err
    return path


def import_json(db: Path, tmp_path: Path, content: str | bytes) -> tuple[int, str]:
    source = tmp_path / "hostile.json"
    source.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    before = count(db, "patient"), count(db, "observation"), count(db, "audit_entry")
    code, _, err = run("import", str(source), "--db", str(db))
    clean(err)
    assert (count(db, "patient"), count(db, "observation"), count(db, "audit_entry")) == before
    return code, err


HOSTILE_TIMELINES = {
    "birth date in year 1": (json.dumps(document(mrn="H-2", birth_date="0001-01-01")), "birth_date 0001-01-01 is before 1900-01-01"),
    "visit in 1899": (json.dumps(document(mrn="H-2", birth_date="1890-01-01")), "before 1900-01-01"),
    "ISO week date": (json.dumps(document(mrn="H-2", birth_date="1971-W10-1")), "is not a date written YYYY-MM-DD"),
    "full-width digits": (json.dumps(document(mrn="H-2", birth_date="１９７１-０４-０２"), ensure_ascii=False),
                          "is not a date written YYYY-MM-DD"),
    "huge integer": (json.dumps(document(mrn="H-2")).replace("512", "9" * 5000), "finite number"),
    "1e999": (json.dumps(document(mrn="H-2")).replace("512", "1e999"), "finite number"),
    "version true": (json.dumps(document(mrn="H-2")).replace('"version": 1', '"version": true'), "version True is not supported"),
    "lone surrogate in the name": (json.dumps(document(mrn="H-2", name="Jane \ud800")), "lone UTF-16 surrogate"),
    "zero-width space in the MRN": (json.dumps(document(mrn="H-0\u200b00123")), "invisible or control character (U+200B)"),
    "bidi override in the MRN": (json.dumps(document(mrn="\u202eH-000124")), "invisible or control character (U+202E)"),
    "control character in the MRN": (json.dumps(document(mrn="H-\x0700124")), "invisible or control character (U+0007)"),
    "same MRN in another case": (json.dumps({"format": "poems-monitor/timeline", "version": 1,
                                             "patients": [document(mrn="H-7")["patients"][0],
                                                          document(mrn="h-7")["patients"][0]]}),
                                 "MRNs are compared without regard to case"),
    "nested a million deep": ('{"format": "poems-monitor/timeline", "version": 1, "patients": [' + "[" * 1_000_000,
                              "not valid JSON"),
    "UTF-16 file": (json.dumps(document(mrn="H-2")).encode("utf-16"), "not UTF-8"),
    "cut short": (json.dumps(document(mrn="H-2"))[:-20], "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TIMELINES))
def test_hostile_timeline_files_are_refused_with_a_sentence(case, db, tmp_path):
    content, expected = HOSTILE_TIMELINES[case]
    code, err = import_json(db, tmp_path, content)
    assert code == 2, err
    assert expected in err, err


def test_an_mrn_in_another_case_is_the_same_patient(db, tmp_path):
    """h-000123 is H-000123: its conflicting name is reported, no second patient is created."""
    code, err = import_json(db, tmp_path, json.dumps(document(mrn="h-000123", name="Someone Else")))
    assert code == 2 and "name is Someone Else in the file but Jane Example is stored" in err, err
    # and a new value for that patient joins the stored one
    extra = document(mrn="h-000123")
    extra["patients"][0]["visits"].append({"date": "2020-01-02", "observations": [
        {"code": "platelets", "value": 300, "unit": "10*9/L"}]})
    source = tmp_path / "more.json"
    source.write_text(json.dumps(extra), encoding="utf-8")
    code, out, err = run("import", str(source), "--db", str(db))
    assert code == 0, err
    assert count(db, "patient") == 1 and count(db, "observation") == 2
    # a lab row written in lower case meets the stored value instead of adding a second one
    csv_file = tmp_path / "labs.csv"
    csv_file.write_text("mrn,date,code,value,unit\nh-000123,2019-03-14,platelets,600,10*9/L\n", encoding="utf-8")
    code, _, err = run("import-csv", str(csv_file), "--db", str(db))
    assert code == 2 and "conflict" in err.lower(), err
    assert count(db, "observation") == 2


def test_a_flood_of_junk_is_counted_not_listed_and_memory_stays_bounded(db, tmp_path):
    """25 million lines and 5 GB before: now the first 100 problems and a count, in bounded memory."""
    items = 5_000_000  # 10 MB
    source = tmp_path / "junk.json"
    with open(source, "w", encoding="utf-8") as fh:
        fh.write('{"format": "poems-monitor/timeline", "version": 1, "patients": [1')
        fh.write(",1" * (items - 1))
        fh.write("]}")
    from poems_monitor.services.timeline_io import ImportRefused, read_timeline_file

    tracemalloc.start()
    try:
        with pytest.raises(ImportRefused) as refused:
            read_timeline_file(source, __import__("datetime").date(2026, 11, 21))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.total == 1000 and refused.value.stopped and len(refused.value.problems) == 100
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB for a {source.stat().st_size / 1e6:.0f} MB file"
    code, err = import_json(db, tmp_path, source.read_bytes())
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 102 and "and 900 more problems not listed" in lines[-2], lines[-3:]
    assert "1000 problems found, then reading stopped" in lines[-1]


def csv_import(db: Path, tmp_path: Path, content: bytes) -> tuple[int, str]:
    source = tmp_path / "labs.csv"
    source.write_bytes(content)
    before = count(db, "observation")
    code, _, err = run("import-csv", str(source), "--db", str(db))
    clean(err)
    assert count(db, "observation") == before
    return code, err


@pytest.mark.parametrize("case, content, expected", [
    ("Arabic-Indic digits in the value", "mrn,date,code,value,unit\nH-000123,2020-01-01,platelets,٣٠٠,10*9/L\n",
     "is not a number"),
    ("full-width digits in the date", "mrn,date,code,value,unit\nH-000123,２０２０-０１-０１,platelets,300,10*9/L\n",
     "is not a date as YYYY-MM-DD"),
    ("a date in year 1", "mrn,date,code,value,unit\nH-000123,0001-01-01,platelets,300,10*9/L\n", "before 1900-01-01"),
    ("a 5000-digit value", "mrn,date,code,value,unit\nH-000123,2020-01-01,platelets," + "9" * 5000 + ",10*9/L\n",
     "is not a number"),
    ("a field over the csv module's limit", 'mrn,date,code,value,unit\nH-000123,2020-01-01,platelets,"' + "9" * 200_000
     + '",10*9/L\n', "cannot be read as CSV"),
    ("a zero-width space in the MRN", "mrn,date,code,value,unit\nH-000\u200b123,2020-01-01,platelets,300,10*9/L\n",
     "U+200B"),
])
def test_hostile_lab_csv_rows_are_refused_with_a_sentence(case, content, expected, db, tmp_path):
    code, err = csv_import(db, tmp_path, content.encode("utf-8"))
    assert code == 2 and expected in err, err


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_any_line_ending_reads_the_same(newline, db, tmp_path):
    rows = ["mrn,date,code,value,unit", "H-000123,2020-01-01,platelets,300,10*9/L",
            "H-000123,2020-01-01,hemoglobin,12.5,g/dL", ""]
    source = tmp_path / "labs.csv"
    source.write_bytes(newline.join(rows).encode("utf-8"))
    code, out, err = run("import-csv", str(source), "--db", str(db))
    clean(err)
    assert code == 0, err
    assert "2 values added" in out
    assert count(db, "observation") == 3


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-32", "shift_jis-binary"])
def test_other_encodings_are_refused_with_a_sentence(encoding, db, tmp_path):
    body = "mrn,date,code,value,unit\nH-000123,2020-01-01,platelets,300,10*9/L\n"
    data = bytes(range(0x80, 0xA0)) * 3 + body.encode() if encoding == "shift_jis-binary" else body.encode(encoding)
    code, err = csv_import(db, tmp_path, data)
    assert code == 2 and "is not text in UTF-8" in err and "CSV UTF-8" in err, err


def test_dates_on_the_command_line_are_iso_dates_from_1900(db):
    for value in ("2026-W10-1", "２０２６-１１-２１", "0001-01-01", "٢٠٢٦-١١-٢١"):
        code, _, err = run("worklist", "--as-of", value, "--db", str(db))
        clean(err)
        assert code == 2 and "--as-of must be a date written YYYY-MM-DD" in err, (value, err)


@pytest.mark.parametrize("target", ["folder", "device"])
def test_an_export_path_that_is_a_folder_or_a_device_is_refused(target, db, tmp_path):
    path = tmp_path / "out.json"
    if target == "folder":
        path.mkdir()
    else:
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes here")
        os.mkfifo(path)  # a device node needs root; a pipe is the same kind of non-file
    for command in (["export", str(path)], ["export-fhir", str(path)]):
        code, _, err = run(*command, "--db", str(db))
        clean(err)
        assert code == 1 and "nothing was written" in err, (command, err)
    assert path.is_dir() if target == "folder" else path.is_fifo()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.json.")]  # no temporary copy left


def test_a_patient_with_an_old_birth_date_cannot_be_entered(db):
    from datetime import date

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.errors import InputRefused
    from poems_monitor.services.patients import PatientInput, create_patient

    database = open_database(db)
    try:
        for mrn, birth, expected in (("H-9", date(1, 1, 1), "before 1900-01-01"),
                                     ("h-000123", date(1970, 1, 1), "exists already"),
                                     ("H-\u200b9", date(1970, 1, 1), "U+200B")):
            with pytest.raises(InputRefused) as refused:
                create_patient(database, Actor("ann", Role.NURSE), PatientInput(mrn, "X", "female", birth),
                               today=date(2026, 11, 21))
            assert expected in str(refused.value)
    finally:
        database.dispose()


def test_entered_text_is_stored_nfc_and_broken_text_is_refused(db):
    from datetime import date

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.errors import InputRefused
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, open_visit, record_visit

    database = open_database(db)
    nurse = Actor("ann", Role.NURSE)
    try:
        create_patient(database, nurse, PatientInput("H-7", "Zoe\u0308 A\u030angstro\u0308m", "female", date(1970, 1, 1)),
                       today=date(2026, 11, 21))
        with pytest.raises(InputRefused) as refused:
            record_visit(database, nurse, "H-7", VisitInput(date(2024, 1, 1), note="broken \ud800"), today=date(2026, 11, 21))
        assert "lone UTF-16 surrogate" in str(refused.value)
        saved = record_visit(database, nurse, "H-7", VisitInput(date(2024, 1, 2), values=(
            EnteredValue("platelets", 300, "10*9/L"),), note="re\u0301vise\u0301"), today=date(2026, 11, 21))
        assert open_visit(database, saved.visit_id).note == "r\u00e9vis\u00e9"
    finally:
        database.dispose()
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM patient WHERE mrn = 'H-7'")).scalar_one() == "Zo\u00eb \u00c5ngstr\u00f6m"
    engine.dispose()


def test_a_patient_is_found_by_mrn_in_any_case_on_the_command_line(db, tmp_path):
    code, out, err = run("flags", "--mrn", "h-000123", "--json", "--db", str(db))
    assert code == 0, err
    assert {f["mrn"] for f in json.loads(out)["flags"]} <= {"H-000123"}
    target = tmp_path / "one.json"
    code, out, err = run("export", "--mrn", "h-000123", str(target), "--db", str(db))
    assert code == 0, err
    assert [p["mrn"] for p in json.loads(target.read_text(encoding="utf-8"))["patients"]] == ["H-000123"]
    code, _, err = run("flags", "--mrn", "H-999", "--json", "--db", str(db))
    assert code == 1 and "No patient with MRN H-999" in err
