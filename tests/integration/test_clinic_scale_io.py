"""Import and export at clinic scale, on real SQLite files: the streamed export writes exactly the
bytes of the whole-document dump, a round trip is byte-identical, the batched import is one
transaction with one audit entry per patient (the chain verifies), and both report progress.
Batch sizes are made small here so that a demo clinic of a few patients spans several batches."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from poems_monitor.persistence import bulk_insert
from poems_monitor.persistence.db import open_database
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.services import timeline_export, timeline_io
from poems_monitor.services.audit import verify_chain
from poems_monitor.services.csv_export import export_clinic_csv
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import (
    ImportRefused, export_timeline, export_timeline_file, import_patients, import_timeline_file, json_indented,
    write_json_atomically,
)
from tests.conftest import TODAY

TABLES = ("patient", "visit", "observation", "feature_status", "exam", "treatment", "event", "audit_entry")
N_PATIENTS = 11


@pytest.fixture(scope="module")
def demo_patients():
    return generate_patients(N_PATIENTS, 5, TODAY)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(timeline_io, "STORE_BATCH", 3)
    monkeypatch.setattr(timeline_export, "PROGRESS_EVERY", 4)
    monkeypatch.setattr(timeline_export, "FETCH_ROWS", 7)


@pytest.fixture
def demo_db(db, admin, demo_patients, small_batches):
    import_patients(db, list(demo_patients), admin, reason="demo clinic for tests")
    return db


def counts(db) -> dict[str, int]:
    with db.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def whole_document_bytes(db, tmp_path: Path, mrn: str | None = None) -> bytes:
    """What the export wrote before it streamed: the whole document built, then json.dump."""
    reference = tmp_path / "whole.json"
    write_json_atomically(reference, export_timeline(db, mrn))
    return reference.read_bytes()


def test_streamed_export_writes_the_bytes_of_the_whole_document(demo_db, tmp_path):
    out = tmp_path / "clinic.json"
    assert export_timeline_file(demo_db, out) == N_PATIENTS
    assert out.read_bytes() == whole_document_bytes(demo_db, tmp_path)
    assert len(json.loads(out.read_text(encoding="utf-8"))["patients"]) == N_PATIENTS


def test_streamed_export_of_one_patient_and_of_an_empty_clinic(demo_db, demo_patients, tmp_path, db_path):
    mrn = sorted(p.mrn for p in demo_patients)[5]
    out = tmp_path / "one.json"
    assert export_timeline_file(demo_db, out, mrn) == 1
    assert out.read_bytes() == whole_document_bytes(demo_db, tmp_path, mrn)

    empty = open_database(tmp_path / "empty.sqlite")
    assert export_timeline_file(empty, tmp_path / "empty.json") == 0
    assert (tmp_path / "empty.json").read_bytes() == whole_document_bytes(empty, tmp_path)
    assert json.loads((tmp_path / "empty.json").read_text(encoding="utf-8"))["patients"] == []


def test_unknown_mrn_writes_nothing(demo_db, tmp_path):
    out = tmp_path / "none.json"
    with pytest.raises(KeyError):
        export_timeline_file(demo_db, out, "NO-SUCH-MRN")
    assert not out.exists()


def test_export_never_builds_the_clinic_records(demo_db, tmp_path, monkeypatch):
    """The export streams each table's rows to the file (tests/integration/test_timeline_export.py)."""
    expected = whole_document_bytes(demo_db, tmp_path)

    def refused(*args, **kwargs):
        raise AssertionError("the export built the timeline records")

    monkeypatch.setattr(repo, "load_timelines", refused)
    export_timeline_file(demo_db, tmp_path / "clinic.json")
    assert (tmp_path / "clinic.json").read_bytes() == expected


def test_export_import_export_is_byte_identical(demo_db, tmp_path, nurse):
    first = tmp_path / "first.json"
    export_timeline_file(demo_db, first)
    other = open_database(tmp_path / "other.sqlite")
    summary = import_timeline_file(other, first, nurse, today=TODAY)
    assert summary.patients_created == N_PATIENTS
    second = tmp_path / "second.json"
    export_timeline_file(other, second)
    assert second.read_bytes() == first.read_bytes()
    export_clinic_csv(demo_db, tmp_path / "csv1")
    export_clinic_csv(other, tmp_path / "csv2")
    assert (tmp_path / "csv1" / "values_long.csv").read_bytes() == (tmp_path / "csv2" / "values_long.csv").read_bytes()


def test_batched_import_audits_each_patient_and_the_chain_verifies(demo_db, demo_patients):
    with demo_db.read() as session:
        rows = session.execute(text(
            "SELECT a.patient_id, a.new, p.mrn FROM audit_entry a JOIN patient p ON p.id = a.patient_id "
            "WHERE a.action = 'import' ORDER BY a.id")).all()
        assert verify_chain(session) == []
    assert [r.mrn for r in rows] == [p.mrn for p in demo_patients]
    by_mrn = {p.mrn: p for p in demo_patients}
    for r in rows:
        new = json.loads(r.new)
        assert new["values"] == sum(len(v.observations) for v in by_mrn[r.mrn].visits)
    assert counts(demo_db)["observation"] == sum(len(v.observations) for p in demo_patients for v in p.visits)


def test_a_failure_in_a_later_batch_leaves_nothing_written(db, admin, demo_patients, small_batches, monkeypatch):
    before = counts(db)
    real, calls = repo.insert_events, []

    def fail_on_third_batch(session, items, stamp, *stored):
        calls.append(len(items))
        if len(calls) == 3:
            raise OSError("disk full")
        return real(session, items, stamp, *stored)

    monkeypatch.setattr(repo, "insert_events", fail_on_third_batch)
    with pytest.raises(OSError):
        import_patients(db, list(demo_patients), admin, reason="test")
    assert counts(db) == before


def test_a_conflict_with_a_known_patient_refuses_the_new_ones_too(demo_db, demo_patients, admin, tmp_path):
    newcomers = generate_patients(7, 5, TODAY, first_index=N_PATIENTS)
    known = demo_patients[0]
    visit = known.visits[0]
    changed_obs = (replace(visit.observations[0], value=12345.0), *visit.observations[1:])
    conflicting = replace(known, visits=(replace(visit, observations=changed_obs), *known.visits[1:]))
    before = counts(demo_db)
    with pytest.raises(ImportRefused) as refused:
        import_patients(demo_db, [*newcomers, conflicting], admin, reason="test")
    assert any(p.mrn == known.mrn for p in refused.value.problems)
    assert counts(demo_db) == before


def test_import_and_export_report_progress_up_to_the_total(db, admin, demo_patients, small_batches, tmp_path):
    seen: list[tuple[str, int, int]] = []
    import_patients(db, list(demo_patients), admin, reason="test", progress=lambda *a: seen.append(a))
    assert [done for _, done, _ in seen] == [3, 6, 9, 11]
    assert {total for _, _, total in seen} == {N_PATIENTS}
    seen.clear()
    export_timeline_file(db, tmp_path / "clinic.json", progress=lambda *a: seen.append(a))
    assert [done for _, done, _ in seen] == [4, 8, 11]
    seen.clear()
    export_clinic_csv(db, tmp_path / "csv", progress=lambda *a: seen.append(a))
    assert seen[-1][1] == seen[-1][2] and [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    | st.dictionaries(st.integers(), children, max_size=2),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.sampled_from(["", " ", "  "]))
def test_the_fast_formatter_writes_what_json_writes(value, pad):
    expected = json.dumps(value, ensure_ascii=False, indent=1).replace("\n", "\n" + pad)
    assert json_indented(value, pad) == expected


def test_the_driver_executemany_stores_what_core_stores(tmp_path, admin, demo_patients, monkeypatch):
    """Every column of every row as SQLite holds it (typeof and text), with the same write stamp."""
    monkeypatch.setattr(timeline_io, "utcnow", lambda: datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=timezone.utc))

    def stored(path: Path) -> dict[str, list]:
        db = open_database(path)
        import_patients(db, list(demo_patients), admin, reason="same")
        out = {}
        with db.read() as session:
            for table in ("observation", "feature_status", "exam"):
                columns = [row[1] for row in session.execute(text(f"PRAGMA table_info({table})"))]
                shown = ", ".join(f"typeof({c}), quote({c})" for c in columns)
                out[table] = session.execute(text(f"SELECT {shown} FROM {table} ORDER BY id")).all()
        return out

    fast = stored(tmp_path / "driver.sqlite")
    monkeypatch.setattr(bulk_insert, "DRIVER_EXECUTEMANY", False)
    core = stored(tmp_path / "core.sqlite")
    assert len(fast["observation"]) == sum(len(v.observations) for p in demo_patients for v in p.visits)
    assert fast == core


def test_reading_values_through_the_driver_gives_the_records_core_gives(demo_db, monkeypatch):
    with demo_db.read() as session:
        fast = repo.load_timelines(session)
        some = [p.patient_id for p in fast[2:5]]
        fast_some = repo.load_timelines(session, patient_ids=some)
        fast_again = repo.load_timelines(session, patient_ids=some)  # the query compiled once, again
    monkeypatch.setattr(repo, "DRIVER_ROWS", False)  # Core's rows, as on PostgreSQL
    with demo_db.read() as session:
        core = repo.load_timelines(session)
        core_some = repo.load_timelines(session, patient_ids=some)
    assert fast == core and fast_some == core[2:5] == core_some == fast_again
    observations = [o for p in fast for v in p.visits for o in v.observations]
    assert any(o.derived for o in observations)  # the demo stores computed ONLS totals
    assert {type(o.derived) for o in observations} == {bool}  # exported as true/false, never 1/0
    assert json.dumps(timeline_io.timeline_to_json(fast)) == json.dumps(timeline_io.timeline_to_json(core))


def test_batched_import_then_lab_import_keep_the_record_seal_sound(db, admin, demo_patients, small_batches,
                                                                   monkeypatch):
    """The audit entries of a batch go in with one statement and the record is sealed a few
    patients at a time (here 4): `check` finds every scope sealed, after a timeline import and
    after a lab CSV import that adds values to several stored patients, and still names a value
    edited outside the app afterwards."""
    import sqlite3

    from poems_monitor.services import record_seal
    from poems_monitor.services.integrity import check
    from poems_monitor.services.lab_import import import_lab_csv

    monkeypatch.setattr(record_seal, "SEAL_BATCH", 4)
    import_patients(db, list(demo_patients), admin, reason="demo clinic for tests")
    assert check(db) == []
    alive = [p.mrn for p in demo_patients if not any(e.type == "death" for e in p.events)][:6]
    day = TODAY + timedelta(days=5)  # after every demo visit: a new visit for each patient
    lines = [f"{mrn},{day.isoformat()},calcium,9.{i},mg/dL" for i, mrn in enumerate(alive)]
    summary = import_lab_csv(db, admin, "mrn,date,code,value,unit\n" + "\n".join(lines) + "\n", "iso",
                             source="test", today=day)
    assert summary.values_added == len(alive) and len(summary.patients) == len(alive)
    assert check(db) == []
    with db.read() as session:
        entries = session.execute(text("SELECT patient_id, new FROM audit_entry WHERE entity = 'observation' "
                                       "ORDER BY id")).all()
        obs = session.execute(text("SELECT o.id, v.patient_id FROM observation o JOIN visit v ON v.id = o.visit_id "
                                   "WHERE o.code = 'calcium' AND v.date = :d ORDER BY o.id"), {"d": day.isoformat()}).first()
    assert len(entries) == len(alive)  # one entry per patient, each naming the visit it created
    assert all(json.loads(e.new)["visits_created"] == [day.isoformat()] for e in entries)
    db.dispose()
    conn = sqlite3.connect(db.path)
    conn.execute("UPDATE observation SET value_num = 12.5 WHERE id = ?", (obs.id,))
    conn.commit()
    conn.close()
    problems = check(open_database(db.path))
    assert any(f"table observation, row {obs.id} (patient {obs.patient_id})" in p and "value_num" in p
               for p in problems), problems


def test_a_file_is_imported_a_batch_at_a_time_while_it_is_read(demo_db, tmp_path, nurse, monkeypatch):
    """The file import never holds the whole clinic: the first batch (3 patients here) is written
    before the parser has reached the last patient, and every batch is at most STORE_BATCH."""
    source = tmp_path / "clinic.json"
    export_timeline_file(demo_db, source)
    items_read, batches = [0], []
    real_stream, real_store = timeline_io.stream_document, timeline_io.store_patients

    def counting_stream(chunks, key):
        for piece in real_stream(chunks, key):
            items_read[0] += key == "patients" and type(piece).__name__ == "Item"
            yield piece

    def spying_store(session, patients, *args, **kwargs):
        batches.append((len(patients), items_read[0]))
        return real_store(session, patients, *args, **kwargs)

    monkeypatch.setattr(timeline_io, "stream_document", counting_stream)
    monkeypatch.setattr(timeline_io, "store_patients", spying_store)
    other = open_database(tmp_path / "other.sqlite")
    summary = import_timeline_file(other, source, nurse, today=TODAY)
    assert summary.patients_created == N_PATIENTS and summary.mrns == sorted(summary.mrns)
    assert [n for n, _ in batches] == [3, 3, 3, 2]
    assert batches[0][1] < N_PATIENTS  # written while most of the file was still unread
    again = tmp_path / "again.json"
    export_timeline_file(other, again)
    assert again.read_bytes() == source.read_bytes()


def test_a_problem_late_in_the_file_undoes_the_batches_written_before_it(demo_db, tmp_path, nurse):
    source = tmp_path / "clinic.json"
    export_timeline_file(demo_db, source)
    doc = json.loads(source.read_text(encoding="utf-8"))
    doc["patients"][-1]["birth_date"] = "1970-02-30"
    source.write_text(json.dumps(doc), encoding="utf-8")
    other = open_database(tmp_path / "other.sqlite")
    before = counts(other)
    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(other, source, nurse, today=TODAY)
    assert any(p.path.startswith(f"$.patients[{N_PATIENTS - 1}].birth_date") for p in refused.value.problems)
    assert counts(other) == before  # the batches written before the problem was read are rolled back
