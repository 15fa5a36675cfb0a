"""Reading the audit trail through `persistence.repositories.audit` (and the superseded rows of
`repositories.visits` the history shows beside it), on a real SQLite clinic written by the
services: each reader returns exactly the entries its name promises, in the promised order."""

from __future__ import annotations

import json
from datetime import date

import pytest

from poems_monitor.persistence.repositories import audit as audit_trail
from poems_monitor.persistence.repositories import visits as visits_repo
from poems_monitor.services.access import Role
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.users import add_user
from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit
from tests.conftest import TODAY


@pytest.fixture
def clinic(db, admin, nurse):
    """Two patients written in turn (Anna, Bert, Anna again) and two clinic-wide entries."""
    anna = create_patient(db, nurse, PatientInput("A-1", "Anna Test", "female", date(1960, 5, 1)), today=TODAY)
    add_user(db, admin, "ann", Role.NURSE, "long-password-1")
    bert = create_patient(db, nurse, PatientInput("B-2", "Bert Test", "male", date(1955, 1, 2)), today=TODAY)
    saved = record_visit(db, nurse, "A-1", VisitInput(date(2026, 3, 1), values=(
        EnteredValue("platelets", 512, "10*9/L"),), features=(("ascites", "absent"),)), today=TODAY)
    corrected = correct_visit(db, nurse, saved.visit_id, saved.version, VisitInput(date(2026, 3, 1), values=(
        EnteredValue("platelets", 521, "10*9/L"),), features=(("ascites", "present"),)), "digits swapped", today=TODAY)
    add_user(db, admin, "ben", Role.PHYSICIAN, "long-password-2")
    return db, {"anna": anna, "bert": bert, "visit": corrected.visit_id}


def _all_entries(db):  # noqa: ANN001, ANN202
    with db.read() as session:
        return list(audit_trail.entries_in_chain_order(session))


def test_a_patients_entries_are_theirs_alone_oldest_first(clinic):
    db, ids = clinic
    with db.read() as session:
        anna = audit_trail.entries_of_patient(session, ids["anna"])
        bert = audit_trail.entries_of_patient(session, ids["bert"])
    assert [e.id for e in anna] == sorted(e.id for e in anna)
    assert {e.patient_id for e in anna} == {ids["anna"]} and {e.patient_id for e in bert} == {ids["bert"]}
    assert [(e.action, e.entity) for e in bert] == [("create", "patient")]
    assert "digits swapped" in {e.reason for e in anna}  # the visit correction is Anna's
    every = _all_entries(db)
    assert len(anna) == sum(1 for e in every if e["patient_id"] == ids["anna"])


def test_clinic_wide_entries_are_newest_first_filtered_and_limited(clinic):
    db, _ = clinic
    with db.read() as session:
        wide = audit_trail.clinic_wide_entries(session)
        users = audit_trail.clinic_wide_entries(session, entity="user")
        newest = audit_trail.clinic_wide_entries(session, entity="user", limit=1)
        none = audit_trail.clinic_wide_entries(session, entity="no-such-entity")
    assert wide and all(e.patient_id is None for e in wide)
    assert [e.id for e in wide] == sorted((e.id for e in wide), reverse=True)
    assert [json.loads(e.new)["name"] for e in users] == ["ben", "ann"]
    assert [json.loads(e.new)["name"] for e in newest] == ["ben"]
    assert none == []


def test_the_head_the_count_and_an_entrys_hash_agree_with_the_chain(clinic):
    db, _ = clinic
    every = _all_entries(db)
    with db.read() as session:
        assert audit_trail.entry_count(session) == len(every)
        head = audit_trail.newest_entry(session)
        assert (head.id, head.hash) == (every[-1]["id"], every[-1]["hash"])
        assert audit_trail.hash_of_entry(session, every[0]["id"]) == every[0]["hash"]
        assert audit_trail.hash_of_entry(session, head.id + 1) is None
    assert [e["prev_hash"] for e in every[1:]] == [e["hash"] for e in every[:-1]]  # one chain, in order


def test_an_empty_trail_has_no_head(db):
    with db.read() as session:
        assert audit_trail.newest_entry(session) is None
        assert audit_trail.entry_count(session) == 0
        assert audit_trail.newest_entry_of_each_patient(session) == {}


def test_each_patients_newest_entry_moves_with_their_last_write(clinic):
    db, ids = clinic
    every = _all_entries(db)
    newest_of = {}
    for entry in every:
        if entry["patient_id"] is not None:
            newest_of[entry["patient_id"]] = entry["id"]
    with db.read() as session:
        assert audit_trail.newest_entry_of_each_patient(session) == newest_of
        assert audit_trail.newest_entry_of_each_patient(session, [ids["bert"]]) == {ids["bert"]: newest_of[ids["bert"]]}
        assert audit_trail.newest_entry_of_each_patient(session, []) == {}
    assert newest_of[ids["anna"]] > newest_of[ids["bert"]]  # Anna was written last


def test_the_chain_walk_reads_the_seal_column_only_when_asked(clinic):
    db, _ = clinic
    with db.read() as session:
        assert audit_trail.has_state_column(session)  # the current schema seals the record
        with_state = next(audit_trail.entries_in_chain_order(session))
        without = next(audit_trail.entries_in_chain_order(session, with_state=False))
    assert "state" in with_state and "state" not in without
    assert with_state["hash"] == without["hash"]


def test_the_newest_seal_of_a_patient_and_of_the_whole_record(clinic):
    db, ids = clinic
    sealed = [e for e in _all_entries(db) if e["state"] is not None]
    with db.read() as session:
        newest = audit_trail.newest_sealed_entry(session)
        of_bert = audit_trail.newest_sealed_entry(session, patient_id=ids["bert"])
        mentioning = audit_trail.newest_sealed_entry(session, mentioning=f'"patient:{ids["bert"]}"')
        nobody = audit_trail.newest_sealed_entry(session, patient_id=ids["bert"] + 100)
    assert newest.id == sealed[-1]["id"]
    assert of_bert is not None and f"patient:{ids['bert']}" in json.loads(of_bert.state)
    assert mentioning is not None and f"patient:{ids['bert']}" in json.loads(mentioning.state)
    assert mentioning.id >= of_bert.id
    assert nobody is None


def test_a_correction_leaves_the_replaced_rows_readable_for_the_history(clinic):
    db, ids = clinic
    with db.read() as session:
        dates = visits_repo.visit_dates_of_patient(session, ids["anna"])
        values = visits_repo.superseded_observations_of_patient(session, ids["anna"])
        features = visits_repo.superseded_features_of_patient(session, ids["anna"])
        replacements = visits_repo.observations_by_id(session, [v.replaced_by_id for v in values])
        assert visits_repo.superseded_observations_of_patient(session, ids["bert"]) == []
        assert visits_repo.observations_by_id(session, []) == {}
    assert dates == {ids["visit"]: date(2026, 3, 1)}
    assert [(v.code, v.value_num, v.superseded_by, v.superseded_reason) for v in values] == [
        ("platelets", 512, "nurse-ann", "digits swapped")]
    assert [(f.code, f.status) for f in features] == [("ascites", "absent")]
    assert [r.value_num for r in replacements.values()] == [521]
    assert replacements[values[0].replaced_by_id].superseded_at is None  # the replacement is current
