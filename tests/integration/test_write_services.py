"""The write services against a real SQLite file: each write leaves exactly the audit entries it
should (who, what, old and new value, why), corrections never overwrite, refusals change nothing,
and the audit hash chain detects a row edited behind the tool's back."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import text

from poems_monitor.domain.timeline import EventRecord, ExamRecord, TreatmentRecord
from poems_monitor.services.audit import verify_chain
from poems_monitor.services.errors import ConcurrentEdit, InputRefused
from poems_monitor.services.patients import (
    PatientInput, add_event, add_treatment, create_patient, delete_event, update_patient,
)
from poems_monitor.services.timeline_io import export_timeline
from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, open_visit, record_visit
from tests.conftest import TODAY

TABLES = ("patient", "visit", "observation", "feature_status", "exam", "treatment", "event", "audit_entry")
MRN = "H-000123"
VISIT_DAY = date(2024, 3, 1)


def counts(db) -> dict[str, int]:
    with db.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def last_audit_id(db) -> int:
    with db.read() as session:
        return session.execute(text("SELECT coalesce(max(id), 0) FROM audit_entry")).scalar_one()


def entries_after(db, after_id: int) -> list[dict]:
    """Audit entries written after `after_id`, with old/new decoded."""
    with db.read() as session:
        rows = session.execute(text("SELECT * FROM audit_entry WHERE id > :i ORDER BY id"), {"i": after_id}).mappings().all()
    out = []
    for r in rows:
        d = dict(r)
        d["old"] = json.loads(d["old"]) if d["old"] is not None else None
        d["new"] = json.loads(d["new"]) if d["new"] is not None else None
        out.append(d)
    return out


def observation_rows(db, visit_id: int, code: str) -> list:
    with db.read() as session:
        return session.execute(text("SELECT * FROM observation WHERE visit_id = :v AND code = :c ORDER BY id"),
                               {"v": visit_id, "c": code}).mappings().all()


@pytest.fixture
def patient_id(db, nurse):
    return create_patient(db, nurse, PatientInput(MRN, "Jane Example", "female", date(1971, 4, 2), date(2019, 3, 14)),
                          today=TODAY)


FIRST_VISIT = VisitInput(
    date=VISIT_DAY,
    values=(EnteredValue("platelets", 512, "10*9/L"), EnteredValue("hemoglobin", 125, "g/L"),
            EnteredValue("onls_arm", 2), EnteredValue("onls_leg", 3)),
    features=(("polyneuropathy", "present"), ("pleural_effusion", "absent"), ("ascites", "unknown")),
    exams=(ExamRecord("echo", "abnormal", "RVSP 48"),),
    note="baseline",
)


@pytest.fixture
def visit(db, nurse, patient_id):
    return record_visit(db, nurse, MRN, FIRST_VISIT, today=TODAY)


# --- create ----------------------------------------------------------------------------------------

def test_create_patient_writes_one_audit_entry(db, nurse):
    before = last_audit_id(db)
    pid = create_patient(db, nurse, PatientInput(" H-9 ", " Ola Nilsson ", "male", date(1960, 1, 1)), today=TODAY)
    (entry,) = entries_after(db, before)
    assert (entry["action"], entry["entity"], entry["entity_id"], entry["patient_id"]) == ("create", "patient", pid, pid)
    assert entry["user"] == "nurse-ann"
    assert entry["old"] is None and entry["reason"] is None
    assert entry["new"] == {"mrn": "H-9", "name": "Ola Nilsson", "sex": "male", "birth_date": "1960-01-01",
                            "diagnosis_date": None}


def test_create_patient_refuses_a_duplicate_mrn_and_a_future_birth(db, nurse, patient_id):
    before = counts(db)
    with pytest.raises(InputRefused) as refused:
        create_patient(db, nurse, PatientInput(MRN, "Other", "female", date(2030, 1, 1)), today=TODAY)
    assert {p.field for p in refused.value.problems} == {"mrn", "birth_date"}
    assert f"A patient with MRN {MRN} exists already" in str(refused.value)
    assert counts(db) == before


def test_record_visit_writes_the_visit_and_one_audit_entry(db, nurse, patient_id):
    before = last_audit_id(db)
    saved = record_visit(db, nurse, MRN, FIRST_VISIT, today=TODAY)
    assert saved.version == 1
    assert [p.field for p in saved.out_of_range] == ["platelets"]  # 512 > 450: saved, marked
    (entry,) = entries_after(db, before)
    assert (entry["action"], entry["entity"], entry["entity_id"], entry["patient_id"], entry["user"]) == (
        "create", "visit", saved.visit_id, patient_id, "nurse-ann")
    assert entry["old"] is None
    assert entry["new"] == {
        "date": "2024-03-01",
        "values": {"platelets": 512, "hemoglobin": 12.5, "onls_arm": 2, "onls_leg": 3},
        "features": {"polyneuropathy": "present", "pleural_effusion": "absent"},
        "exams": [["echo", "abnormal"]],
        "note": "baseline",
    }
    hb = observation_rows(db, saved.visit_id, "hemoglobin")[0]
    assert (hb["value_num"], hb["unit"], hb["entered_num"], hb["entered_unit"]) == (12.5, "g/dL", 125, "g/L")
    (onls,) = observation_rows(db, saved.visit_id, "onls")
    assert (onls["value_num"], onls["derived"]) == (5, 1)


def test_a_second_visit_on_the_same_day_is_refused(db, nurse, visit):
    before = counts(db)
    with pytest.raises(InputRefused) as refused:
        record_visit(db, nurse, MRN, VisitInput(VISIT_DAY, values=(EnteredValue("weight", 70, "kg"),)), today=TODAY)
    assert refused.value.problems[0].field == "date"
    assert counts(db) == before


def test_add_treatment_and_event_write_one_audit_entry_each(db, nurse, patient_id):
    before = last_audit_id(db)
    tid = add_treatment(db, nurse, MRN, TreatmentRecord("lenalidomide_dexamethasone", date(2019, 4, 1),
                                                        date(2020, 3, 30), thromboprophylaxis="aspirin"), today=TODAY)
    eid = add_event(db, nurse, MRN, EventRecord("dvt", date(2019, 5, 20), "left leg"), today=TODAY)
    treatment_entry, event_entry = entries_after(db, before)
    assert (treatment_entry["action"], treatment_entry["entity"], treatment_entry["entity_id"],
            treatment_entry["patient_id"], treatment_entry["user"]) == ("create", "treatment", tid, patient_id, "nurse-ann")
    assert treatment_entry["new"] == {
        "regimen": "lenalidomide_dexamethasone", "name": None, "start": "2019-04-01", "stop": "2020-03-30",
        "thromboprophylaxis": "aspirin", "engraftment_date": None, "melphalan_mg": None, "note": "",
    }
    assert (event_entry["action"], event_entry["entity"], event_entry["entity_id"], event_entry["patient_id"]) == (
        "create", "event", eid, patient_id)
    assert event_entry["new"] == {"type": "dvt", "date": "2019-05-20", "note": "left leg"}
    assert event_entry["old"] is None and event_entry["reason"] is None


def test_add_event_in_the_future_is_refused(db, nurse, patient_id):
    before = counts(db)
    with pytest.raises(InputRefused) as refused:
        add_event(db, nurse, MRN, EventRecord("pe", date(2027, 1, 1)), today=TODAY)
    assert refused.value.problems[0].field == "date"
    assert "in the future" in refused.value.problems[0].message
    assert counts(db) == before


def test_delete_event_keeps_the_row_and_audits_old_values_and_reason(db, nurse, physician, patient_id):
    eid = add_event(db, nurse, MRN, EventRecord("dvt", date(2019, 5, 20), "left leg"), today=TODAY)
    before = last_audit_id(db)
    delete_event(db, physician, eid, "  entered for the wrong patient ")
    (entry,) = entries_after(db, before)
    assert (entry["action"], entry["entity"], entry["entity_id"], entry["patient_id"], entry["user"], entry["reason"]) == (
        "delete", "event", eid, patient_id, "dr-berg", "entered for the wrong patient")
    assert entry["new"] is None
    assert {k: entry["old"][k] for k in ("type", "date", "note", "created_by")} == {
        "type": "dvt", "date": "2019-05-20", "note": "left leg", "created_by": "nurse-ann"}
    with db.read() as session:
        row = session.execute(text("SELECT * FROM event WHERE id = :i"), {"i": eid}).mappings().one()
    assert row["deleted_by"] == "dr-berg" and row["deleted_at"] is not None  # still readable
    assert export_timeline(db)["patients"][0]["events"] == []  # but no longer part of the timeline


def test_delete_without_a_reason_is_refused(db, nurse, patient_id):
    eid = add_event(db, nurse, MRN, EventRecord("dvt", date(2019, 5, 20)), today=TODAY)
    before = counts(db)
    with pytest.raises(InputRefused) as refused:
        delete_event(db, nurse, eid, "   ")
    assert refused.value.problems[0].field == "reason"
    assert counts(db) == before
    assert len(export_timeline(db)["patients"][0]["events"]) == 1


def test_update_patient_audits_old_and_new_values(db, nurse, patient_id):
    before = last_audit_id(db)
    update_patient(db, nurse, patient_id, 1, PatientInput(MRN, "Jane Exemple", "female", date(1971, 4, 2),
                                                          date(2019, 3, 14)), "name misspelt", today=TODAY)
    (entry,) = entries_after(db, before)
    assert (entry["action"], entry["entity"], entry["reason"]) == ("correct", "patient", "name misspelt")
    assert entry["old"]["name"] == "Jane Example" and entry["new"]["name"] == "Jane Exemple"


# --- corrections --------------------------------------------------------------------------------------

def _corrected(db, visit_id, **changes) -> VisitInput:
    snap = open_visit(db, visit_id)
    values = tuple(replace(v, value=changes[v.code]) if v.code in changes else v for v in snap.values)
    return VisitInput(snap.date, values, snap.features, snap.exams, snap.note)


def test_correction_keeps_the_old_value_readable(db, physician, visit):
    before = last_audit_id(db)
    saved = correct_visit(db, physician, visit.visit_id, 1, _corrected(db, visit.visit_id, platelets=521),
                          "typing error", today=TODAY)
    assert saved.version == 2

    old_row, new_row = observation_rows(db, visit.visit_id, "platelets")
    assert old_row["value_num"] == 512
    assert old_row["superseded_at"] is not None
    assert old_row["superseded_by"] == "dr-berg"
    assert old_row["superseded_reason"] == "typing error"
    assert old_row["replaced_by_id"] == new_row["id"]
    assert (new_row["value_num"], new_row["superseded_at"], new_row["entered_by"]) == (521, None, "dr-berg")

    (entry,) = entries_after(db, before)  # only the platelets changed
    assert (entry["action"], entry["entity"], entry["entity_id"], entry["user"], entry["reason"]) == (
        "correct", "observation", new_row["id"], "dr-berg", "typing error")
    assert entry["old"] == {"visit": "2024-03-01", "code": "platelets", "value": 512, "unit": "10*9/L",
                            "entered": 512, "entered_unit": "10*9/L"}
    assert entry["new"] == {"visit": "2024-03-01", "code": "platelets", "value": 521, "unit": "10*9/L",
                            "entered": 521, "entered_unit": "10*9/L"}

    # the timeline shows the new value only; the visit says who changed it
    obs = export_timeline(db)["patients"][0]["visits"][0]["observations"]
    assert [o["value"] for o in obs if o["code"] == "platelets"] == [521]
    with db.read() as session:
        v = session.execute(text("SELECT version, updated_by FROM visit WHERE id = :i"), {"i": visit.visit_id}).one()
    assert tuple(v) == (2, "dr-berg")


def test_correcting_a_score_updates_the_derived_total(db, nurse, visit):
    before = last_audit_id(db)
    correct_visit(db, nurse, visit.visit_id, 1, _corrected(db, visit.visit_id, onls_arm=4), "re-examined", today=TODAY)
    old_total, new_total = observation_rows(db, visit.visit_id, "onls")
    assert (old_total["value_num"], new_total["value_num"]) == (5, 7)
    assert old_total["replaced_by_id"] == new_total["id"]
    # one audit entry for what the nurse changed; the computed total is not a separate entry
    assert [(e["entity"], e["new"]["code"]) for e in entries_after(db, before)] == [("observation", "onls_arm")]


def test_correcting_a_feature_exam_and_note_audits_each(db, nurse, visit):
    snap = open_visit(db, visit.visit_id)
    entry = VisitInput(snap.date, snap.values, (("polyneuropathy", "present"), ("pleural_effusion", "present")),
                       (ExamRecord("echo", "normal", "RVSP 30"),), "baseline, corrected")
    before = last_audit_id(db)
    correct_visit(db, nurse, visit.visit_id, 1, entry, "report amended", today=TODAY)
    entries = entries_after(db, before)
    assert [(e["action"], e["entity"]) for e in entries] == [
        ("correct", "feature_status"), ("correct", "exam"), ("correct", "visit")]
    feature, exam, note = entries
    assert feature["old"]["status"] == "absent" and feature["new"]["status"] == "present"
    assert exam["old"]["result"] == "abnormal" and exam["new"]["result"] == "normal"
    assert note["old"]["note"] == "baseline" and note["new"]["note"] == "baseline, corrected"
    assert all(e["reason"] == "report amended" for e in entries)
    with db.read() as session:
        statuses = session.execute(text(
            "SELECT status, superseded_reason FROM feature_status WHERE code = 'pleural_effusion' ORDER BY id")).all()
    assert [tuple(s) for s in statuses] == [("absent", "report amended"), ("present", None)]


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_correction_without_a_reason_is_refused_and_changes_nothing(db, nurse, visit, reason):
    before = counts(db)
    with pytest.raises(InputRefused) as refused:
        correct_visit(db, nurse, visit.visit_id, 1, _corrected(db, visit.visit_id, platelets=521), reason, today=TODAY)
    assert [p.field for p in refused.value.problems] == ["reason"]
    assert "needs a reason" in refused.value.problems[0].message
    assert counts(db) == before
    assert open_visit(db, visit.visit_id).version == 1
    assert [r["value_num"] for r in observation_rows(db, visit.visit_id, "platelets")] == [512]


def test_a_stale_version_is_refused_naming_who_changed_it(db, nurse, physician, visit):
    stale = open_visit(db, visit.visit_id)  # the nurse opens the visit ...
    correct_visit(db, physician, visit.visit_id, stale.version, _corrected(db, visit.visit_id, platelets=530),
                  "lab amended result", today=TODAY)  # ... the physician saves first
    before = counts(db)
    with pytest.raises(ConcurrentEdit) as refused:
        correct_visit(db, nurse, visit.visit_id, stale.version, _corrected(db, visit.visit_id, platelets=521),
                      "typing error", today=TODAY)
    message = str(refused.value)
    assert "dr-berg" in message
    assert message.startswith("This visit was changed by dr-berg at ")
    assert "reload" in message
    assert counts(db) == before
    assert [r["value_num"] for r in observation_rows(db, visit.visit_id, "platelets") if r["superseded_at"] is None] == [530]


def test_critical_value_needs_confirmation(db, nurse, patient_id):
    before = counts(db)
    entry = VisitInput(date(2025, 1, 10), values=(EnteredValue("platelets", 1500, "10*9/L"),
                                                  EnteredValue("weight", 70, "kg")))
    with pytest.raises(InputRefused) as refused:
        record_visit(db, nurse, MRN, entry, today=TODAY)
    (problem,) = refused.value.problems
    assert problem.field == "platelets"
    assert problem.needs_confirmation
    assert refused.value.only_needs_confirmation
    assert "critical limit 1000" in problem.message
    assert counts(db) == before

    confirmed = replace(entry, values=(replace(entry.values[0], confirmed=True), entry.values[1]))
    saved = record_visit(db, nurse, MRN, confirmed, today=TODAY)
    assert [r["value_num"] for r in observation_rows(db, saved.visit_id, "platelets")] == [1500]


@pytest.mark.parametrize("confirmed", [False, True])
def test_impossible_value_is_refused_even_when_confirmed(db, nurse, patient_id, confirmed):
    before = counts(db)
    entry = VisitInput(date(2025, 1, 10), values=(EnteredValue("platelets", 4500, "10*9/L", confirmed=confirmed),))
    with pytest.raises(InputRefused) as refused:
        record_visit(db, nurse, MRN, entry, today=TODAY)
    (problem,) = refused.value.problems
    assert not problem.needs_confirmation
    assert problem.message == (
        "Platelets 4500 ×10⁹/L is above the largest possible value 3000 ×10⁹/L: check for a typing error")
    assert counts(db) == before


def test_a_correction_to_an_impossible_value_is_refused(db, nurse, visit):
    before = counts(db)
    with pytest.raises(InputRefused):
        correct_visit(db, nurse, visit.visit_id, 1, _corrected(db, visit.visit_id, platelets=4500), "typo", today=TODAY)
    assert counts(db) == before


# --- the audit chain ---------------------------------------------------------------------------------

def _write_everything(db, nurse, physician):
    create_patient(db, nurse, PatientInput(MRN, "Jane Example", "female", date(1971, 4, 2)), today=TODAY)
    saved = record_visit(db, nurse, MRN, FIRST_VISIT, today=TODAY)
    correct_visit(db, physician, saved.visit_id, 1, _corrected(db, saved.visit_id, platelets=521), "typo", today=TODAY)
    add_treatment(db, nurse, MRN, TreatmentRecord("asct", date(2020, 6, 10), engraftment_date=date(2020, 6, 22)),
                  today=TODAY)
    eid = add_event(db, nurse, MRN, EventRecord("dvt", date(2019, 5, 20)), today=TODAY)
    delete_event(db, physician, eid, "duplicate")
    with pytest.raises(InputRefused):  # refused writes leave no entry
        record_visit(db, nurse, MRN, VisitInput(date(2025, 1, 1), values=(EnteredValue("platelets", 4500, "10*9/L"),)),
                     today=TODAY)


def test_audit_chain_verifies_after_every_kind_of_write(db, nurse, physician):
    _write_everything(db, nurse, physician)
    entries = entries_after(db, 0)
    assert [(e["action"], e["entity"]) for e in entries] == [
        ("create", "patient"), ("create", "visit"), ("correct", "observation"), ("create", "treatment"),
        ("create", "event"), ("delete", "event"),
    ]
    with db.read() as session:
        assert verify_chain(session) == []


def test_audit_chain_detects_a_row_edited_with_sqlite3(db, db_path, nurse, physician):
    _write_everything(db, nurse, physician)
    db.dispose()
    con = sqlite3.connect(db_path)
    with con:
        con.execute("UPDATE audit_entry SET new = replace(new, '521', '512') WHERE id = 3")
    con.close()
    with db.read() as session:
        problems = verify_chain(session)
    assert [(p.entry_id, p.message) for p in problems] == [(3, "audit entry 3 was changed after it was written")]


def test_audit_chain_detects_a_removed_row(db, db_path, nurse, physician):
    _write_everything(db, nurse, physician)
    db.dispose()
    con = sqlite3.connect(db_path)
    with con:
        con.execute("DELETE FROM audit_entry WHERE id = 4")
    con.close()
    with db.read() as session:
        problems = verify_chain(session)
    assert [p.entry_id for p in problems] == [5]
    assert "does not follow the entry before it" in problems[0].message
