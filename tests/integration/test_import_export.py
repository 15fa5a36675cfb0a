"""Timeline import and export against real SQLite files: the round trip on a demo clinic, merging
into known patients, conflicts, refused files, and the audit entries of an import."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from poems_monitor.domain.timeline_json import timeline_to_json
from poems_monitor.persistence.db import open_database
from poems_monitor.services.audit import verify_chain
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import (
    ImportRefused, export_timeline, export_timeline_file, import_patients, import_timeline_file,
)
from tests.conftest import TODAY

TABLES = ("patient", "visit", "observation", "feature_status", "exam", "treatment", "event", "audit_entry")
SEED = 11
N_PATIENTS = 8


@pytest.fixture(scope="module")
def demo_patients():
    return generate_patients(N_PATIENTS, SEED, TODAY)


@pytest.fixture
def demo_db(db, admin, demo_patients):
    import_patients(db, list(demo_patients), admin, reason="demo clinic for tests")
    return db


def counts(db) -> dict[str, int]:
    with db.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def write(path: Path, document) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def audit_rows(db, action: str | None = None) -> list:
    query = "SELECT * FROM audit_entry" + (" WHERE action = :a" if action else "") + " ORDER BY id"
    with db.read() as session:
        return session.execute(text(query), {"a": action} if action else {}).mappings().all()


# --- round trip -------------------------------------------------------------------------------------

def test_export_gives_back_exactly_what_was_imported(demo_db, demo_patients):
    exported = export_timeline(demo_db)
    assert exported == timeline_to_json(list(demo_patients))
    assert [p["mrn"] for p in exported["patients"]] == sorted(p.mrn for p in demo_patients)


def test_export_then_import_into_an_empty_database_is_identical(demo_db, tmp_path, nurse):
    first = tmp_path / "clinic.json"
    assert export_timeline_file(demo_db, first) == N_PATIENTS
    document = json.loads(first.read_text(encoding="utf-8"))
    assert document == export_timeline(demo_db)

    fresh = open_database(tmp_path / "other.sqlite")
    try:
        summary = import_timeline_file(fresh, first, nurse, today=TODAY)
        assert summary.patients_created == N_PATIENTS
        second = tmp_path / "again.json"
        export_timeline_file(fresh, second)
        assert json.loads(second.read_text(encoding="utf-8")) == document
        assert counts(fresh)["observation"] == counts(demo_db)["observation"]
    finally:
        fresh.dispose()


def test_reimporting_the_export_adds_nothing(demo_db, tmp_path, nurse):
    path = tmp_path / "clinic.json"
    export_timeline_file(demo_db, path)
    before = counts(demo_db)
    summary = import_timeline_file(demo_db, path, nurse, today=TODAY)
    assert summary.patients_created == 0
    assert summary.patients_extended == 0
    assert summary.patients_unchanged == N_PATIENTS
    assert (summary.visits_added, summary.values_added, summary.treatments_added, summary.events_added) == (0, 0, 0, 0)
    after = counts(demo_db)
    assert {t: after[t] for t in TABLES if t != "audit_entry"} == {t: before[t] for t in TABLES if t != "audit_entry"}
    assert export_timeline(demo_db) == json.loads(path.read_text(encoding="utf-8"))


def test_export_of_one_patient(demo_db, demo_patients):
    mrn = demo_patients[3].mrn
    document = export_timeline(demo_db, mrn)
    assert [p["mrn"] for p in document["patients"]] == [mrn]
    with pytest.raises(KeyError, match="No patient with MRN H-UNKNOWN"):
        export_timeline(demo_db, "H-UNKNOWN")


def test_converted_values_keep_the_entered_value_and_unit(db, tmp_path, nurse):
    document = {"format": "poems-monitor/timeline", "version": 1, "patients": [{
        "mrn": "H-7", "name": "Ida Novak", "sex": "female", "birth_date": "1960-02-03",
        "visits": [{"date": "2024-01-10", "observations": [
            {"code": "hemoglobin", "value": 125, "unit": "g/L"},
            {"code": "creatinine", "value": 88.4, "unit": "umol/L"},
            {"code": "vegf_plasma", "value": 310, "unit": "pg/mL", "lab": "Central lab"},
        ]}],
    }]}
    import_timeline_file(db, write(tmp_path / "t.json", document), nurse, today=TODAY)
    with db.read() as session:
        rows = {r.code: r for r in session.execute(text(
            "SELECT code, value_num, unit, entered_num, entered_unit, specimen, lab FROM observation"))}
    assert (rows["hemoglobin"].value_num, rows["hemoglobin"].unit) == (12.5, "g/dL")
    assert (rows["hemoglobin"].entered_num, rows["hemoglobin"].entered_unit) == (125, "g/L")
    assert rows["creatinine"].value_num == pytest.approx(1.0, abs=0.005)
    assert rows["creatinine"].entered_unit == "umol/L"
    assert rows["vegf_plasma"].lab == "Central lab"
    # and the export writes what was entered
    obs = export_timeline(db)["patients"][0]["visits"][0]["observations"]
    assert {"code": "hemoglobin", "value": 125, "unit": "g/L"} in obs


# --- merging into a known patient ---------------------------------------------------------------------

def _one_patient(db, mrn: str) -> dict:
    document = export_timeline(db, mrn)
    return document


def _free_date(patient: dict) -> str:
    taken = {v["date"] for v in patient["visits"]}
    day = date(2026, 11, 20)
    while day.isoformat() in taken:
        day = day.replace(day=day.day - 1)
    return day.isoformat()


def test_import_into_an_existing_mrn_adds_new_visits_values_and_events(demo_db, demo_patients, tmp_path, nurse):
    mrn = demo_patients[0].mrn
    document = _one_patient(demo_db, mrn)
    patient = document["patients"][0]
    new_date = _free_date(patient)
    patient["visits"].append({"date": new_date, "observations": [
        {"code": "vegf_plasma", "value": 150, "unit": "pg/mL"}, {"code": "weight", "value": 64.5, "unit": "kg"}]})
    first_visit = patient["visits"][0]
    present = {o["code"] for o in first_visit.get("observations", [])}
    added_code = next(c for c in ("incat", "mip", "mep") if c not in present)
    first_visit.setdefault("observations", []).append({"code": added_code, "value": 3})
    patient["events"].append({"type": "hospitalisation", "date": new_date, "note": "pneumonia"})
    before = counts(demo_db)

    summary = import_timeline_file(demo_db, write(tmp_path / "more.json", document), nurse, today=TODAY)

    assert (summary.patients_created, summary.patients_extended, summary.patients_unchanged) == (0, 1, 0)
    assert (summary.visits_added, summary.values_added, summary.events_added) == (1, 3, 1)
    after = counts(demo_db)
    assert after["patient"] == before["patient"]
    assert after["visit"] == before["visit"] + 1
    assert after["observation"] == before["observation"] + 3
    assert after["event"] == before["event"] + 1
    assert after["audit_entry"] == before["audit_entry"] + 1
    # nothing stored was touched, and the export now shows the additions
    stored = export_timeline(demo_db, mrn)["patients"][0]
    assert new_date in {v["date"] for v in stored["visits"]}
    assert {"code": added_code, "value": 3} in stored["visits"][0]["observations"]
    entry = audit_rows(demo_db, "import")[-1]
    assert (entry["user"], entry["entity"], entry["reason"]) == (nurse.name, "patient", "import of more.json")
    assert json.loads(entry["new"])["added"] == {"visits": 1, "values": 3, "treatments": 0, "events": 1}


def test_conflicting_value_is_reported_with_its_path_and_nothing_is_written(demo_db, demo_patients, tmp_path, nurse):
    mrn = demo_patients[1].mrn
    document = _one_patient(demo_db, mrn)
    patient = document["patients"][0]
    visit_index = 2
    visit = patient["visits"][visit_index]
    obs_index = next(i for i, o in enumerate(visit["observations"]) if o["code"] == "platelets")
    stored_value = visit["observations"][obs_index]["value"]
    visit["observations"][obs_index]["value"] = stored_value + 100
    # something new in the same file must not be written either
    patient["visits"].append({"date": _free_date(patient), "observations": [{"code": "weight", "value": 70, "unit": "kg"}]})
    document["patients"].append({"mrn": "H-NEW", "name": "New Person", "sex": "male", "birth_date": "1980-01-01"})
    before = counts(demo_db)

    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(demo_db, write(tmp_path / "conflict.json", document), nurse, today=TODAY)

    (problem,) = refused.value.problems
    assert problem.path == f"$.patients[0].visits[{visit_index}].observations[{obs_index}].value"
    assert problem.mrn == mrn
    assert problem.message.startswith(f"visit {visit['date']}, Platelets: the file has ")
    assert f"but {stored_value:g}" in problem.message
    assert counts(demo_db) == before  # nothing at all, not even the new patient or an audit entry


def test_conflicting_patient_fields_and_features_are_all_reported(demo_db, demo_patients, tmp_path, nurse):
    mrn = demo_patients[2].mrn
    document = _one_patient(demo_db, mrn)
    patient = document["patients"][0]
    patient["name"] = patient["name"] + " Jr"
    visit = patient["visits"][0]
    code, status = next(iter(visit["features"].items()))
    visit["features"][code] = "absent" if status == "present" else "present"
    before = counts(demo_db)

    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(demo_db, write(tmp_path / "c.json", document), nurse, today=TODAY)

    assert sorted(p.path for p in refused.value.problems) == sorted(
        ["$.patients[0].name", f"$.patients[0].visits[0].features.{code}"])
    assert counts(demo_db) == before


# --- refused files ---------------------------------------------------------------------------------------

MALFORMED = '{\n  "format": "poems-monitor/timeline",\n  "version": 1,\n  "patients": [\n    {"mrn": "H-1",}\n  ]\n}\n'


def test_malformed_json_is_reported_with_line_and_column(db, tmp_path, nurse):
    path = tmp_path / "broken.json"
    path.write_text(MALFORMED, encoding="utf-8")
    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(db, path, nurse, today=TODAY)
    (problem,) = refused.value.problems
    assert problem.path == "$"
    assert "not valid JSON" in problem.message
    assert "line 5, column 19" in problem.message
    assert counts(db) == dict.fromkeys(TABLES, 0)


def test_wrong_version_imports_nothing(db, demo_patients, tmp_path, nurse):
    document = timeline_to_json(list(demo_patients[:2]))
    document["version"] = 2
    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(db, write(tmp_path / "v2.json", document), nurse, today=TODAY)
    assert [p.path for p in refused.value.problems] == ["$.version"]
    assert counts(db) == dict.fromkeys(TABLES, 0)


def test_an_invalid_patient_blocks_the_whole_file(db, demo_patients, tmp_path, nurse):
    document = timeline_to_json(list(demo_patients[:3]))
    document["patients"][2]["visits"][0]["observations"][0]["code"] = "vegf"
    document["patients"][1]["birth_date"] = "2030-01-01"
    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(db, write(tmp_path / "bad.json", document), nurse, today=TODAY)
    paths = [p.path for p in refused.value.problems]
    assert "$.patients[1].birth_date" in paths
    assert "$.patients[2].visits[0].observations[0].code" in paths
    assert str(refused.value) == f"{len(paths)} problems; nothing was imported"
    assert counts(db) == dict.fromkeys(TABLES, 0)


def test_a_file_that_is_not_utf8_or_missing_is_refused(db, tmp_path, nurse):
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"format": "Müller"}'.encode("latin-1"))
    with pytest.raises(ImportRefused, match="1 problem"):
        import_timeline_file(db, latin, nurse, today=TODAY)
    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(db, tmp_path / "nowhere.json", nurse, today=TODAY)
    assert "cannot be read" in refused.value.problems[0].message
    assert counts(db) == dict.fromkeys(TABLES, 0)


# --- audit ----------------------------------------------------------------------------------------

def test_one_audit_entry_per_imported_patient(db, demo_patients, tmp_path, nurse):
    path = write(tmp_path / "clinic.json", timeline_to_json(list(demo_patients)))
    import_timeline_file(db, path, nurse, today=TODAY)
    entries = audit_rows(db)
    assert len(entries) == N_PATIENTS
    with db.read() as session:
        ids = dict(session.execute(text("SELECT mrn, id FROM patient")).all())
    assert {e["entity_id"] for e in entries} == set(ids.values())
    for e in entries:
        assert (e["action"], e["entity"], e["user"], e["reason"]) == ("import", "patient", "nurse-ann", "import of clinic.json")
        assert e["patient_id"] == e["entity_id"]
        new = json.loads(e["new"])
        assert ids[new["mrn"]] == e["entity_id"]
        assert e["old"] is None
    with db.read() as session:
        assert verify_chain(session) == []


def test_a_note_where_none_was_stored_is_added_and_a_changed_exam_result_names_the_exam(db, tmp_path, nurse):
    base = {"format": "poems-monitor/timeline", "version": 1, "patients": [{
        "mrn": "N-1", "name": "Ada Byrne", "sex": "female", "birth_date": "1970-01-01",
        "visits": [{"date": "2025-01-01", "observations": [{"code": "platelets", "value": 300, "unit": "10*9/L"}]}]}]}
    import_timeline_file(db, write(tmp_path / "a.json", base), nurse, TODAY)
    later = copy.deepcopy(base)
    later["patients"][0]["visits"][0].update(note="added later", exams=[{"kind": "echo", "result": "normal"}])
    summary = import_timeline_file(db, write(tmp_path / "b.json", later), nurse, TODAY)
    assert summary.patients_extended == 1
    visit = export_timeline(db, "N-1")["patients"][0]["visits"][0]
    assert visit["note"] == "added later"
    assert visit["exams"] == [{"kind": "echo", "result": "normal"}]

    changed = copy.deepcopy(later)
    changed["patients"][0]["visits"][0]["exams"][0]["result"] = "abnormal"
    with pytest.raises(ImportRefused) as refused:
        import_timeline_file(db, write(tmp_path / "c.json", changed), nurse, TODAY)
    assert [p.path for p in refused.value.problems] == ["$.patients[0].visits[0].exams[0].result"]
