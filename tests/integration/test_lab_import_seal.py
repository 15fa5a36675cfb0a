"""The lab import reads each touched patient's record once at the end (not twice: the committed
record, then the new seal), and tamper detection is as strong as before: the seal it writes is
the seal a re-read of every row gives, `check` finds the record sound, and an edit, a deletion or
an insertion made by another process to a touched patient's rows before the import is still found
(named in the import's audit entry and by `check`)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Boolean

from poems_monitor.persistence.db import open_database
from poems_monitor.services import lab_import, record_seal
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.integrity import check
from poems_monitor.services.lab_import import import_lab_csv_file
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY
from tests.integration.test_seal_as_written import SQL_CLIENT, seal_by_rereading

VALUES = (("calcium", "9.5", "mg/dL"), ("creatinine", "0.9", "mg/dL"))


@pytest.fixture
def clinic(db, admin, monkeypatch):
    monkeypatch.setattr(lab_import, "LAB_BATCH_ROWS", 3)  # several batches, each touching several patients
    patients = [p for p in generate_patients(4, 7, TODAY) if not any(e.type == "death" for e in p.events)]
    import_patients(db, patients, admin, reason="clinic")
    return db, patients


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """How many times each patient's record was read (by the check or the seal)."""
    counted: Counter = Counter()
    for name in ("record_rows", "_rows_for_sealing"):
        real = getattr(record_seal, name)

        def spy(session, patient_ids=None, *args, _real=real, **kw):
            counted.update(patient_ids or ())
            return _real(session, patient_ids, *args, **kw)

        monkeypatch.setattr(record_seal, name, spy)
    return counted


def test_the_content_without_fingerprints_is_the_canonical_content(clinic):
    db, _patients = clinic
    with db.read() as session:
        tables = {t.name: t for t, _ in record_seal.PATIENT_TABLES}
        n = 0
        for table in tables.values():
            query, _ = record_seal._base_query(table, record_seal._PATIENT_COLUMN[table.name], "sqlite")
            for row in session.execute(query):
                width = len(table.columns)
                assert record_seal.canonical_content(row[:width], table) == record_seal.canonical(row[:width], table)[0]
                n += 1
    assert n > 1000


def lab_file(path: Path, patients, *, on_a_stored_visit: bool = True) -> Path:
    """New values on a new day for every patient, and (for the first) on a day it has a visit."""
    lines = [f"{p.mrn},{(TODAY + timedelta(days=1)).isoformat()},{code},{value},{unit}"
             for p in patients for code, value, unit in VALUES]
    if on_a_stored_visit:
        first = patients[0]
        stored_day = first.visits[-1].date
        lines.append(f"{first.mrn},{stored_day.isoformat()},vegf_plasma,250,pg/mL")
    path.write_text("\n".join(["mrn,date,code,value,unit", *lines]) + "\n", encoding="utf-8")
    return path


def test_each_touched_record_is_read_once_and_sealed_as_a_re_read_seals_it(clinic, admin, tmp_path, reads):
    db, patients = clinic
    summary = import_lab_csv_file(db, admin, lab_file(tmp_path / "labs.csv", patients), "iso")
    assert summary.values_added == 2 * len(patients) + 1
    touched = {pid for pid in reads}
    assert len(touched) == len(patients)
    assert set(reads.values()) == {1}, reads  # once each, not the committed record then the new seal
    chain, now, stored, fields_now = seal_by_rereading(db)
    assert chain == now and stored == fields_now
    assert check(db) == []


@pytest.mark.parametrize("script, expected", [
    ("UPDATE observation SET value_num = value_num + 1 WHERE id = (SELECT min(o.id) FROM observation o "
     "JOIN visit v ON v.id = o.visit_id WHERE v.patient_id = {pid})", "value_num changed outside poems-monitor"),
    ("DELETE FROM observation WHERE id = (SELECT min(o.id) FROM observation o JOIN visit v ON v.id = o.visit_id "
     "WHERE v.patient_id = {pid})", "was deleted outside poems-monitor"),
    ("UPDATE visit SET note = 'edited elsewhere' WHERE id = (SELECT max(id) FROM visit WHERE patient_id = {pid})",
     "note changed outside poems-monitor"),
    ("INSERT INTO observation (visit_id, code, value_num, unit, derived, confirmed_at_entry, entered_at, entered_by) "
     "VALUES ((SELECT min(id) FROM visit WHERE patient_id = {pid}), 'platelets', 100, '10*9/L', 0, 0, "
     "'2026-01-01 00:00:00.000000', 'x')", "was added outside poems-monitor"),
])
def test_an_edit_by_another_process_before_the_lab_import_is_still_found(clinic, admin, db_path, tmp_path, script,
                                                                         expected):
    db, patients = clinic
    pid = sqlite3.connect(db_path).execute("SELECT id FROM patient WHERE mrn = ?", (patients[0].mrn,)).fetchone()[0]
    db.dispose()
    subprocess.run([sys.executable, "-c", SQL_CLIENT, str(db_path), script.format(pid=pid)], check=True, timeout=60)
    db = open_database(db_path)
    try:
        import_lab_csv_file(db, admin, lab_file(tmp_path / "labs.csv", patients), "iso")
        problems = check(db)
    finally:
        db.dispose()
    # The import sealed over the change, but its audit entry says what it found, and `check` repeats it.
    assert any("the seal found" in p and f"(patient {pid})" in p and expected in p for p in problems), problems
    found = sqlite3.connect(db_path).execute(
        "SELECT state FROM audit_entry WHERE state LIKE '%\"found\"%' ORDER BY id DESC LIMIT 1").fetchone()
    assert found is not None and expected in found[0]


def test_the_sealing_read_gives_the_rows_a_read_through_sqlalchemy_gives(clinic, db_path):
    """`_rows_for_sealing` reads through the driver's cursor: the same rows, contents and
    fingerprints (of the rows asked for) as `record_rows` (through SQLAlchemy), also for a
    boolean stored as 1 and a REAL column holding an integer-valued number."""
    db, _patients = clinic
    con = sqlite3.connect(db_path)
    con.execute("UPDATE observation SET derived = 1, value_num = 7.0 WHERE id = (SELECT min(id) FROM observation)")
    con.commit()
    con.close()
    with db.read() as session:
        ids = record_seal._patients_in_record(session)
        through_sqlalchemy = list(record_seal.record_rows(session, ids, global_scopes=False))
        every_row = {table.name: 0 for table, _via in record_seal.PATIENT_TABLES}
        with_fields = sorted(record_seal._rows_for_sealing(session, ids, every_row))
        without = sorted(record_seal._rows_for_sealing(session, ids, {}))
        one_visit = min(int(r[2]) for r in through_sqlalchemy if r[1] == "visit")
        only_one = sorted(record_seal._rows_for_sealing(session, ids, {}, {("visit", one_visit)}))
        dialect = session.connection().dialect
    assert len(through_sqlalchemy) > 1000 and any('"derived":true' in r[3] for r in through_sqlalchemy)
    expected = sorted((int(scope.removeprefix("patient:")), tbl, int(row_id), content, fields)
                      for scope, tbl, row_id, content, fields in through_sqlalchemy)
    assert with_fields == expected
    assert without == [(*r[:4], None) for r in expected]
    assert only_one == [r if r[1:3] == ("visit", one_visit) else (*r[:4], None) for r in expected]
    for table, _via in record_seal.PATIENT_TABLES:  # only booleans are converted by a read through SQLAlchemy
        converted = [c.name for c in record_seal._stored_form(table, "sqlite")
                     if c.type._cached_result_processor(dialect, None) is not None]
        assert all(isinstance(table.c[name].type, Boolean) for name in converted), (table.name, converted)
