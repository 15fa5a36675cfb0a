"""The clinic worklist service against a real SQLite demo clinic: the set-based, cached worklist
and flags equal the domain's per-patient rules on full timelines; writes, protocol changes and
waivers are seen at once; acknowledged flags leave `unacknowledged_flags`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from poems_monitor.domain.flags import compute_flags
from poems_monitor.domain.followup import schedule_for, sort_key
from poems_monitor.domain.protocol import default_protocol_text
from poems_monitor.domain.timeline import EventRecord
from poems_monitor.models import RulesCache
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services import rules_cache
from poems_monitor.services.access import PermissionDenied
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.errors import InputRefused
from poems_monitor.services.patients import add_event
from poems_monitor.services.protocol_store import current_protocol, save_protocol
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.waivers import list_waivers, revoke_waiver, waive_item
from poems_monitor.services.worklist import build_worklist, clinic_flags, patient_worklist, unacknowledged_flags

from ..conftest import TODAY

AS_OFS = (TODAY, TODAY + timedelta(days=200), date(2031, 1, 1), TODAY - timedelta(days=400))


@pytest.fixture
def clinic(db, admin):
    import_patients(db, generate_patients(30, 7, TODAY), admin, reason="test clinic")
    return db


def reference_worklist(db, as_of):
    protocol = current_protocol(db)
    with db.read() as session:
        records = load_timelines(session)
    return sorted((i for p in records for i in schedule_for(p, protocol, as_of)), key=sort_key)


def reference_flags(db, as_of):
    protocol = current_protocol(db)
    with db.read() as session:
        records = load_timelines(session)
    return [f.to_json() for p in records for f in compute_flags(p, protocol, as_of)]


def cache_rows(db) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(RulesCache.__table__)).scalar_one()


def test_set_based_worklist_equals_the_domain_schedule(clinic):
    for as_of in AS_OFS:  # cold cache, then warm, then historical (computed from the full record)
        expected = reference_worklist(clinic, as_of)
        assert expected, as_of
        assert list(build_worklist(clinic, as_of).items) == expected, as_of
        assert [f.to_json() for f in clinic_flags(clinic, as_of)] == reference_flags(clinic, as_of), as_of
    assert cache_rows(clinic) == 30


@pytest.mark.parametrize("pool", [False, True], ids=["in-process", "worker-pool"])
def test_cold_evaluation_in_batches_equals_the_domain_rules(clinic, monkeypatch, pool):
    """From a cold cache the full records are read and evaluated a batch at a time (here 7
    patients), in this process or in two worker processes: the worklist, the flags and the
    stored rows that later runs read are those of the domain's per-patient rules."""
    monkeypatch.setattr(rules_cache, "GATHER_BATCH", 7)
    monkeypatch.setattr(rules_cache, "POOL_MIN_PATIENTS", 1 if pool else None)
    monkeypatch.setattr(rules_cache.os, "cpu_count", lambda: 4)  # two workers beside this process
    for as_of in (TODAY, TODAY - timedelta(days=400)):  # the newest state, and a historical as-of
        rules_cache.clear_cache(clinic)
        rules_cache.forget()
        g = rules_cache.gather(clinic, as_of, want_flags=True)
        assert g.computed == 30 and g.workers == (2 if pool else 0)
        assert [f.to_json() for h in g.heads for f in g.flags[h.patient_id]] == reference_flags(clinic, as_of), as_of
        assert sorted((i for h in g.heads for i in g.plan(h.patient_id)), key=sort_key) == \
            reference_worklist(clinic, as_of), as_of
    assert cache_rows(clinic) == 30
    rules_cache.forget()  # the stored rows, read back by the next process, give the same results
    assert list(build_worklist(clinic, TODAY).items) == reference_worklist(clinic, TODAY)
    assert [f.to_json() for f in clinic_flags(clinic, TODAY)] == reference_flags(clinic, TODAY)


def test_when_the_worker_processes_fail_this_process_evaluates_the_rest(clinic, monkeypatch, caplog):
    monkeypatch.setattr(rules_cache, "GATHER_BATCH", 7)
    monkeypatch.setattr(rules_cache, "POOL_MIN_PATIENTS", 1)
    monkeypatch.setattr(rules_cache, "_worker_batch", lambda ids, task: [])  # cannot be sent to a worker process
    rules_cache.forget()
    g = rules_cache.gather(clinic, TODAY)
    assert g.computed == 30 and g.workers == 0 and "rules worker processes failed" in caplog.text
    assert sorted((i for h in g.heads for i in g.plan(h.patient_id)), key=sort_key) == reference_worklist(clinic, TODAY)


def test_worklist_without_the_in_process_memo_reads_the_stored_cache(clinic):
    build_worklist(clinic, TODAY)  # fills the table
    rules_cache.forget()
    g = rules_cache.gather(clinic, TODAY, want_flags=True)
    assert g.from_cache == 30 and g.computed == 0
    assert len(g.plans) == 30 and g.records == {}  # the rows of this as-of were kept: no timeline parsed
    assert list(build_worklist(clinic, TODAY).items) == reference_worklist(clinic, TODAY)
    assert [f.to_json() for f in clinic_flags(clinic, TODAY)] == reference_flags(clinic, TODAY)
    rules_cache.forget()
    later = TODAY + timedelta(days=45)  # a new as-of: reduced timelines parsed, plans computed and kept
    g = rules_cache.gather(clinic, later)
    assert g.plans == {} and len(g.records) == 30
    assert list(build_worklist(clinic, later).items) == reference_worklist(clinic, later)
    rules_cache.forget()
    assert len(rules_cache.gather(clinic, later).plans) == 30


def test_reduced_timelines_give_the_same_schedule_as_full_ones(clinic):
    protocol = current_protocol(clinic)
    with clinic.read() as session:
        records = load_timelines(session)
    for p in records:
        reduced = rules_cache.reduce_for_schedule(p, protocol)
        back = rules_cache.facts_from_json(rules_cache.facts_to_json(reduced), p)
        assert sum(len(v.observations) for v in back.visits) <= sum(len(v.observations) for v in p.visits)
        latest = rules_cache.latest_date(p) or TODAY
        for as_of in (max(latest, TODAY), latest + timedelta(days=400), latest + timedelta(days=3000)):
            assert schedule_for(back, protocol, as_of) == schedule_for(p, protocol, as_of), (p.mrn, as_of)


def test_reduced_timelines_of_the_hand_built_courses_give_the_same_schedule():
    """Pending exams, spirometry without DLCO, blood counts without the monoclonal work-up, a
    relapse (restaging), a missed engraftment window and a death: the demo has few of these."""
    import json
    from pathlib import Path

    from poems_monitor.domain.protocol import default_protocol
    from poems_monitor.domain.timeline_json import parse_timeline

    protocol = default_protocol()
    records = []
    for f in sorted((Path(__file__).resolve().parents[1] / "data" / "courses").glob("*.json")):
        patients, problems = parse_timeline(json.loads(f.read_text(encoding="utf-8")), TODAY)
        assert not problems, f
        records.extend(patients)
    from tests.unit.timeline_builders import patient, visit

    records.append(patient(  # a run of pending echoes, spirometry and a blood count after the last full studies
        visit("2023-01-10", pasp=52, dlco_pct=70, m_protein=0.2, exams=[("echo", "abnormal")]),
        visit("2023-06-01", lvef=60, exams=[("echo", "pending")]), visit("2023-07-01", fvc_pct=90, platelets=300),
        visit("2023-08-01", exams=[("echo", "pending"), ("pft", "normal")]), mrn="H-REDUCE"))
    reduced_somewhere = False
    for p in records:
        reduced = rules_cache.reduce_for_schedule(p, protocol)
        reduced_somewhere |= reduced is not p
        back = rules_cache.facts_from_json(rules_cache.facts_to_json(reduced), p)
        latest = rules_cache.latest_date(p)
        for as_of in (latest, latest + timedelta(days=20), latest + timedelta(days=200), latest + timedelta(days=3000)):
            assert schedule_for(back, protocol, as_of) == schedule_for(p, protocol, as_of), (p.mrn, as_of)
    assert reduced_somewhere


def test_a_write_to_one_patient_is_seen_at_once(clinic, admin):
    build_worklist(clinic, TODAY)
    mrn = reference_worklist(clinic, TODAY)[0].mrn
    add_event(clinic, admin, mrn, EventRecord("death", TODAY - timedelta(days=3), "died at home"), today=TODAY)
    items = build_worklist(clinic, TODAY).items
    assert mrn not in {i.mrn for i in items}  # no follow-up after death
    assert list(items) == reference_worklist(clinic, TODAY)
    g = rules_cache.gather(clinic, TODAY)
    assert g.computed == 0  # the stale row was rewritten


def test_a_protocol_change_is_seen_at_once(clinic, physician):
    before = build_worklist(clinic, TODAY).items
    text = default_protocol_text().replace(
        'echo_normal_months = { value = 24,', 'echo_normal_months = { value = 6,')
    save_protocol(clinic, physician, text, "cardiology asks for 6-monthly echo")
    after = build_worklist(clinic, TODAY).items
    assert list(after) == reference_worklist(clinic, TODAY)
    assert sum(i.item == "echo" for i in after) > sum(i.item == "echo" for i in before)


def test_a_damaged_cache_row_is_never_used(clinic):
    build_worklist(clinic, TODAY)
    with clinic.write() as session:  # a row stamped as someone else's audit state
        session.execute(update(RulesCache.__table__).values(audit_id=-1, facts='{"v":[],"t":[],"e":[]}', flags="[]"))
    rules_cache.forget()
    assert list(build_worklist(clinic, TODAY).items) == reference_worklist(clinic, TODAY)
    assert rules_cache.clear_cache(clinic) == 30
    assert list(build_worklist(clinic, TODAY).items) == reference_worklist(clinic, TODAY)


def test_waived_items_are_left_out_and_listed_with_all(clinic, physician, db_path):
    item = reference_worklist(clinic, TODAY)[0]
    w = waive_item(clinic, physician, item.mrn, item.item, "patient declines; discussed in clinic", today=TODAY)
    worklist = build_worklist(clinic, TODAY, include_waived=True)
    assert (item.mrn, item.item) not in {(i.mrn, i.item) for i in worklist.items}
    waived = [i for i in worklist.waived if (i.mrn, i.item) == (item.mrn, item.item)]
    assert len(waived) == 1 and waived[0].waiver.who == "dr-berg" and waived[0].waiver.reason.startswith("patient declines")
    assert build_worklist(clinic, TODAY).waived == ()
    assert item.item not in {i.item for i in patient_worklist(clinic, item.mrn, TODAY).items}
    # the command line: left out without --all, listed in "waived" with it
    cmd = [sys.executable, "-m", "poems_monitor", "worklist", "--as-of", TODAY.isoformat(), "--json", "--db", str(db_path)]
    plain = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert (item.mrn, item.item) not in {(i["mrn"], i["item"]) for i in plain["items"]} and "waived" not in plain
    full = json.loads(subprocess.run(cmd + ["--all"], capture_output=True, text=True, check=True).stdout)
    assert [(i["mrn"], i["item"], i["waiver"]["who"]) for i in full["waived"]] == [(item.mrn, item.item, "dr-berg")]
    # revoked: back on the worklist; the waiver stays on record
    revoke_waiver(clinic, physician, w.waiver_id, "patient agrees now")
    assert (item.mrn, item.item) in {(i.mrn, i.item) for i in build_worklist(clinic, TODAY).items}
    assert list_waivers(clinic) == [] and len(list_waivers(clinic, include_revoked=True)) == 1


def test_a_waiver_with_an_end_date_ends(clinic, physician):
    item = reference_worklist(clinic, TODAY)[0]
    waive_item(clinic, physician, item.mrn, item.item, "on holiday abroad", until=TODAY + timedelta(days=10), today=TODAY)
    assert (item.mrn, item.item) not in {(i.mrn, i.item) for i in build_worklist(clinic, TODAY).items}
    later = TODAY + timedelta(days=11)
    assert (item.mrn, item.item) in {(i.mrn, i.item) for i in build_worklist(clinic, later).items}


def test_waivers_need_a_physician_and_a_reason(clinic, nurse, physician):
    mrn = reference_worklist(clinic, TODAY)[0].mrn
    with pytest.raises(PermissionDenied):
        waive_item(clinic, nurse, mrn, "echo", "busy", today=TODAY)
    with pytest.raises(InputRefused) as refused:
        waive_item(clinic, physician, mrn, "echo", "  ", today=TODAY)
    assert refused.value.problems[0].field == "reason"
    with pytest.raises(InputRefused):
        waive_item(clinic, physician, mrn, "colonoscopy", "not our job", today=TODAY)
    with pytest.raises(KeyError):
        waive_item(clinic, physician, "NOPE", "echo", "x", today=TODAY)
    waive_item(clinic, physician, mrn, "echo", "declines", today=TODAY)
    with pytest.raises(InputRefused):  # one waiver per item at a time
        waive_item(clinic, physician, mrn, "echo", "declines again", today=TODAY)


def test_acknowledged_flags_are_not_unacknowledged(clinic, physician):
    from poems_monitor.services.flag_review import acknowledge_flag

    flags = clinic_flags(clinic, TODAY)
    assert unacknowledged_flags(clinic, TODAY) == flags
    first = flags[0]
    acknowledge_flag(clinic, physician, first.mrn, first.flag_id, "seen in clinic", as_of=TODAY)
    left = unacknowledged_flags(clinic, TODAY)
    assert first.flag_id not in {f.flag_id for f in left} and len(left) == len(flags) - 1
    assert first.flag_id in {f.flag_id for f in clinic_flags(clinic, TODAY)}  # never deleted
    mine = unacknowledged_flags(clinic, TODAY, mrn=first.mrn)
    assert {f.mrn for f in mine} <= {first.mrn}


def test_unknown_mrn_is_a_key_error(clinic):
    with pytest.raises(KeyError):
        patient_worklist(clinic, "NOPE", TODAY)
    with pytest.raises(KeyError):
        clinic_flags(clinic, TODAY, mrn="NOPE")


def test_empty_clinic(db):
    assert build_worklist(db, TODAY).items == ()
    assert clinic_flags(db, TODAY) == []


@pytest.mark.parametrize("enabled", [True, False], ids=["collector-on", "collector-off"])
def test_a_cold_evaluation_leaves_the_garbage_collector_as_it_found_it(clinic, enabled):
    """The collector is paused while a clinic is evaluated (garbage_collector.collector_paused), and
    resumes after, also when the evaluation fails; it is not turned on when it was off."""
    import gc

    rules_cache.clear_cache(clinic)
    rules_cache.forget()
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert rules_cache.gather(clinic, TODAY).computed == 30
        assert gc.isenabled() is enabled
        rules_cache.clear_cache(clinic)
        rules_cache.forget()
        with pytest.raises(ZeroDivisionError), pytest.MonkeyPatch.context() as mp:
            mp.setattr(rules_cache, "_evaluate_batch", lambda *args: 1 / 0)
            rules_cache.gather(clinic, TODAY)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
