"""The streamed timeline export (services/timeline_export.py) on real SQLite files: it writes the
bytes that the timeline records formatted by json write (`patient_to_json` of `load_timelines`,
then `json.dump(indent=1)`), for every field of the format, for rows no longer current (left out),
a few rows at a time, without building the records; a round trip is byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from poems_monitor.persistence.db import open_database
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.services import timeline_export
from poems_monitor.services.timeline_io import (
    export_timeline, export_timeline_file, import_timeline_file, write_json_atomically,
)
from tests.conftest import TODAY

# Every field of the format, with text json must escape, values entered in other units, a
# categorical value, a derived score, and optional fields both present and absent.
EVERY_FIELD = {
    "format": "poems-monitor/timeline",
    "version": 1,
    "patients": [
        {"mrn": "B-2", "name": "Zoë \"Zed\" O'Neil \\ 山田", "sex": "male", "birth_date": "1960-02-29",
         "diagnosis_date": "2019-03-14",
         "visits": [
             {"date": "2019-03-14",
              "observations": [
                  {"code": "vegf_serum", "value": 1.25, "unit": "ng/mL", "lab": "Lab \"North\"", "method": "ELISA"},
                  {"code": "creatinine", "value": 88, "unit": "umol/L"},
                  {"code": "hemoglobin", "value": 123, "unit": "g/L"},
                  {"code": "ife", "value": "lambda"},
                  {"code": "onls_arm", "value": 2},
                  {"code": "onls_leg", "value": 3},
                  {"code": "platelets", "value": 1000, "unit": "10*9/L", "qualifier": ">"},
                  {"code": "m_protein", "value": 0.1, "unit": "g/dL", "qualifier": "<"},
              ],
              "features": {"polyneuropathy": "present", "castleman_disease": "unknown",
                           "monoclonal_plasma_cell_disorder": "absent"},
              "exams": [{"kind": "echo", "result": "abnormal", "note": "PAH suspected\ttab"},
                        {"kind": "pft", "result": "pending"}],
              "note": "first visit\nsecond line, é"},
             {"date": "2019-06-01"},
             {"date": "2020-01-15", "observations": [{"code": "vegf_serum", "value": 640, "unit": "pg/mL"}],
              "features": {"polyneuropathy": "present"}},
         ],
         "treatments": [
             {"regimen": "melphalan_dexamethasone", "start": "2019-04-01", "stop": "2019-09-30",
              "thromboprophylaxis": "aspirin", "engraftment_date": "2019-04-20", "melphalan_mg": 140,
              "note": "ASCT"},
             {"regimen": "other", "start": "2020-02-01", "name": "trial drug \u2028 X", "melphalan_mg": 12.5},
             {"regimen": "lenalidomide_dexamethasone", "start": "2020-02-01"},
         ],
         "events": [{"type": "dvt", "date": "2019-05-20", "note": "left leg"},
                    {"type": "pe", "date": "2019-05-21", "note": ""}]},
        {"mrn": "a-1", "name": "Ann", "sex": "female", "birth_date": "1971-04-02",
         "visits": [], "treatments": [], "events": []},
        {"mrn": "A-3", "name": "=HYPERLINK(\"x\")", "sex": "female", "birth_date": "1980-01-01",
         "visits": [{"date": "2021-05-05", "observations": [{"code": "vegf_serum", "value": 150.5, "unit": "pg/mL"}]}],
         "treatments": [], "events": []},
    ],
}


@pytest.fixture
def clinic(db, nurse, tmp_path):
    source = tmp_path / "every-field.json"
    source.write_text(json.dumps(EVERY_FIELD, ensure_ascii=False), encoding="utf-8")
    import_timeline_file(db, source, nurse, today=TODAY)
    return db


def records_dumped(db, tmp_path: Path, mrn: str | None = None) -> bytes:
    """What json writes for the timeline records, the way the export was written before it streamed."""
    reference = tmp_path / "records.json"
    write_json_atomically(reference, export_timeline(db, mrn))
    return reference.read_bytes()


def test_every_field_is_written_as_json_writes_the_records(clinic, tmp_path):
    out = tmp_path / "clinic.json"
    assert export_timeline_file(clinic, out) == 3
    assert out.read_bytes() == records_dumped(clinic, tmp_path)
    document = json.loads(out.read_text(encoding="utf-8"))
    assert [p["mrn"] for p in document["patients"]] == ["A-3", "B-2", "a-1"]  # MRN order, as stored
    first = document["patients"][1]["visits"][0]
    assert first["observations"][0] == {"code": "vegf_serum", "value": 1.25, "unit": "ng/mL",
                                        "specimen": "serum", "lab": 'Lab "North"', "method": "ELISA"}
    assert "onls" not in [o["code"] for o in first["observations"]]  # derived: computed again on import
    assert document["patients"][1]["treatments"][0]["melphalan_mg"] == 140


def test_rows_no_longer_current_are_left_out(clinic, tmp_path):
    with clinic.write() as session:
        session.execute(text("UPDATE observation SET superseded_at = '2024-01-01 00:00:00.000000', "
                             "superseded_by = 'x' WHERE code = 'creatinine'"))
        session.execute(text("UPDATE feature_status SET superseded_at = '2024-01-01 00:00:00.000000', "
                             "superseded_by = 'x' WHERE code = 'castleman_disease'"))
        session.execute(text("UPDATE event SET deleted_at = '2024-01-01 00:00:00.000000', deleted_by = 'x' "
                             "WHERE type = 'pe'"))
        session.execute(text("UPDATE treatment SET deleted_at = '2024-01-01 00:00:00.000000', deleted_by = 'x' "
                             "WHERE regimen = 'other'"))
    out = tmp_path / "clinic.json"
    export_timeline_file(clinic, out)
    assert out.read_bytes() == records_dumped(clinic, tmp_path)
    patient = json.loads(out.read_text(encoding="utf-8"))["patients"][1]
    assert "creatinine" not in [o["code"] for o in patient["visits"][0]["observations"]]
    assert "castleman_disease" not in patient["visits"][0]["features"]
    assert [e["type"] for e in patient["events"]] == ["dvt"]
    assert [t["regimen"] for t in patient["treatments"]] == ["melphalan_dexamethasone", "lenalidomide_dexamethasone"]


def test_one_patient(clinic, tmp_path):
    out = tmp_path / "one.json"
    assert export_timeline_file(clinic, out, "B-2") == 1
    assert out.read_bytes() == records_dumped(clinic, tmp_path, "B-2")


def test_one_patient_is_found_whatever_the_case_of_the_mrn_typed(clinic, tmp_path):
    """`export --mrn b-2` finds B-2, as every other command does (MRNs are compared folded)."""
    out = tmp_path / "one.json"
    assert export_timeline_file(clinic, out, "b-2") == 1
    assert [p["mrn"] for p in json.loads(out.read_text(encoding="utf-8"))["patients"]] == ["B-2"]
    assert out.read_bytes() == records_dumped(clinic, tmp_path, "b-2")


def test_a_few_rows_at_a_time_and_no_records_built(clinic, tmp_path, monkeypatch):
    """Each table's cursor is read FETCH_ROWS rows at a time (the clinic is never held in memory)
    and the export never builds the timeline records."""
    monkeypatch.setattr(timeline_export, "FETCH_ROWS", 2)
    expected = records_dumped(clinic, tmp_path)

    def refused(*args, **kwargs):
        raise AssertionError("the streamed export built the timeline records")

    monkeypatch.setattr(repo, "load_timelines", refused)
    out = tmp_path / "clinic.json"
    export_timeline_file(clinic, out)
    assert out.read_bytes() == expected


def test_progress_is_reported_per_patient_batch(clinic, tmp_path, monkeypatch):
    monkeypatch.setattr(timeline_export, "PROGRESS_EVERY", 2)
    seen: list[tuple[int, int]] = []
    export_timeline_file(clinic, tmp_path / "clinic.json", progress=lambda label, done, total: seen.append((done, total)))
    assert seen == [(2, 3), (3, 3)]


def test_export_import_export_is_byte_identical(clinic, tmp_path, nurse):
    first = tmp_path / "first.json"
    export_timeline_file(clinic, first)
    other = open_database(tmp_path / "other.sqlite")
    try:
        assert import_timeline_file(other, first, nurse, today=TODAY).patients_created == 3
        second = tmp_path / "second.json"
        export_timeline_file(other, second)
        assert second.read_bytes() == first.read_bytes()
    finally:
        other.dispose()
