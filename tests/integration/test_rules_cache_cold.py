"""A cold rules cache over a clinic: rows written as the evaluation goes, each with its worklist
rows, the same rows and worklist as one write at the end, and only results kept in the memo."""

from __future__ import annotations

from sqlalchemy import select

from poems_monitor.services import rules_cache
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.worklist import build_worklist

from ..conftest import TODAY

RC = rules_cache.RC


def _rows(db):
    with db.read() as session:
        return [tuple(r) for r in session.execute(
            select(RC.c.patient_id, RC.c.audit_id, RC.c.protocol_sha, RC.c.rules_version, RC.c.latest_date,
                   RC.c.facts, RC.c.flags, RC.c.plan_as_of, RC.c.plan).order_by(RC.c.patient_id))]


def test_a_cold_clinic_is_stored_as_it_goes_with_the_same_rows_and_worklist(db, admin, monkeypatch):
    import_patients(db, generate_patients(30, 7, TODAY), admin, reason="test clinic")
    monkeypatch.setattr(rules_cache, "STORE_EVERY", 10_000)  # one write at the end, the memo keeps everything
    monkeypatch.setattr(rules_cache, "MEMO_RECORDS_UP_TO", 10_000)
    rules_cache.forget()
    expected = build_worklist(db, TODAY).to_json()
    expected_rows = _rows(db)
    assert len(expected_rows) == 30 and all(r[7] == TODAY and r[8] for r in expected_rows)

    rules_cache.clear_cache(db)
    rules_cache.forget()
    monkeypatch.setattr(rules_cache, "GATHER_BATCH", 4)
    monkeypatch.setattr(rules_cache, "STORE_EVERY", 7)
    monkeypatch.setattr(rules_cache, "MEMO_RECORDS_UP_TO", 5)
    writes = []
    store = rules_cache._store
    monkeypatch.setattr(rules_cache, "_store", lambda db, rows, g=None: (writes.append(len(rows)), store(db, rows, g)))
    assert build_worklist(db, TODAY).to_json() == expected
    assert sum(writes) == 30 and max(writes) < 30 and len(writes) > 1  # as it went, never the whole clinic at once
    assert _rows(db) == expected_rows  # the same rows, worklist rows included (no separate update needed)

    g = rules_cache.gather(db, TODAY)  # a refresh: the worklist rows from the memo, no record was kept
    assert g.from_cache == 30 and g.computed == 0 and len(g.plans) == 30
    assert all(rules_cache._entry(g.url, h.patient_id, g.stamps[h.patient_id]).record is None for h in g.heads)
    flags = rules_cache.gather(db, TODAY, want_schedule=False, want_flags=True)  # parsed from the stored rows
    assert flags.computed == 0 and len(flags.flags) == 30


def test_this_process_evaluates_the_batches_no_worker_has_begun(db, admin, monkeypatch):
    """With worker processes, the caller does not sit idle while they start: it takes batches
    from the end that no worker has begun; every patient is evaluated once, with the same rows."""
    import_patients(db, generate_patients(30, 7, TODAY), admin, reason="test clinic")
    monkeypatch.setattr(rules_cache, "GATHER_BATCH", 3)
    monkeypatch.setattr(rules_cache, "POOL_MIN_PATIENTS", None)
    rules_cache.forget()
    expected = build_worklist(db, TODAY).to_json()
    expected_rows = _rows(db)
    rules_cache.clear_cache(db)
    rules_cache.forget()
    monkeypatch.setattr(rules_cache, "POOL_MIN_PATIENTS", 1)
    monkeypatch.setattr(rules_cache.os, "cpu_count", lambda: 4)  # two workers beside this process
    here = []
    evaluate = rules_cache._evaluate_batch
    monkeypatch.setattr(rules_cache, "_evaluate_batch", lambda session, ids, protocol, task: (
        here.append(len(ids)), evaluate(session, ids, protocol, task))[1])  # in this process only
    g = rules_cache.gather(db, TODAY)
    assert g.workers == 2 and g.computed == 30
    assert 1 <= len(here) < 10  # some of the 10 batches here (the last ones), the others in the workers
    assert [item for h in g.heads for item in g.plan(h.patient_id)] == \
        [item for h in g.heads for item in rules_cache.gather(db, TODAY).plan(h.patient_id)]
    rules_cache.store_plans(db, g)
    assert _rows(db) == expected_rows
    rules_cache.forget()
    assert build_worklist(db, TODAY).to_json() == expected


def test_what_a_worker_is_sent_at_its_start_does_not_grow_with_the_clinic(db, admin, monkeypatch):
    """A worker's start message (its settings) goes down a pipe of 64 KB before the worker has
    imported anything: larger, it held the caller until each worker in turn had started (1.6 s
    of a 2,000-patient cold worklist), instead of evaluating batches meanwhile. The patients'
    stamps go with their batches; the start message is the same for 5 patients or 30."""
    import pickle
    from concurrent import futures

    import_patients(db, generate_patients(30, 7, TODAY), admin, reason="test clinic")
    monkeypatch.setattr(rules_cache, "GATHER_BATCH", 5)
    monkeypatch.setattr(rules_cache, "POOL_MIN_PATIENTS", 1)
    monkeypatch.setattr(rules_cache.os, "cpu_count", lambda: 4)  # two workers beside this process
    sent = []
    pool = futures.ProcessPoolExecutor

    def recording_pool(*args, **kwargs):
        sent.append(len(pickle.dumps(kwargs["initargs"])))
        return pool(*args, **kwargs)

    monkeypatch.setattr(futures, "ProcessPoolExecutor", recording_pool)
    with db.read() as session:
        mrns = [mrn for (mrn,) in session.execute(select(rules_cache.P.c.mrn).order_by(rules_cache.P.c.mrn))]
    rules_cache.forget()
    few = rules_cache.gather(db, TODAY, mrns=mrns[:5])
    rules_cache.clear_cache(db)
    rules_cache.forget()
    whole = rules_cache.gather(db, TODAY)
    assert few.workers == 1 and whole.workers == 2 and whole.computed == 30
    assert len(sent) == 2 and sent[0] == sent[1]
    assert [item for h in whole.heads for item in whole.plan(h.patient_id)] == \
        [item for h in whole.heads for item in rules_cache.gather(db, TODAY).plan(h.patient_id)]


def test_cache_rows_written_through_the_driver_are_those_core_writes(db, admin, monkeypatch):
    """Every column of every cache row as SQLite holds it (typeof and text), written through the
    driver's executemany or through Core, with the same write time."""
    from datetime import datetime, timezone

    from sqlalchemy import text

    from poems_monitor.persistence import bulk_insert

    import_patients(db, generate_patients(12, 7, TODAY), admin, reason="test clinic")
    monkeypatch.setattr(rules_cache, "utcnow", lambda: datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=timezone.utc))

    def stored() -> list[tuple]:
        rules_cache.clear_cache(db)
        rules_cache.forget()
        build_worklist(db, TODAY)
        with db.read() as session:
            columns = [row[1] for row in session.execute(text("PRAGMA table_info(rules_cache)"))]
            shown = ", ".join(f"typeof({c}), quote({c})" for c in columns)
            return [tuple(r) for r in session.execute(text(f"SELECT {shown} FROM rules_cache ORDER BY patient_id"))]

    driver = stored()
    monkeypatch.setattr(bulk_insert, "DRIVER_EXECUTEMANY", False)
    core = stored()
    assert len(driver) == 12 and all(r[-2] == "text" for r in driver)  # each with its worklist rows
    assert driver == core


def test_the_caller_and_its_workers_are_as_many_as_the_cores(db, admin, monkeypatch):
    """The caller evaluates batches too, so on two cores one worker process shares the work with
    it (a second only shared the same two cores, at the price of its start: about 0.6 s of CPU
    and 90 MB); on more cores, up to POOL_WORKERS; on one core, none."""
    import os

    import_patients(db, generate_patients(12, 7, TODAY), admin, reason="test clinic")
    monkeypatch.setattr(rules_cache, "GATHER_BATCH", 3)
    monkeypatch.setattr(rules_cache, "POOL_MIN_PATIENTS", 1)
    expected_plans = None
    for cores, workers in ((2, 1), (4, 2), (1, 0)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        rules_cache.clear_cache(db)
        rules_cache.forget()
        g = rules_cache.gather(db, TODAY)
        assert (g.workers, g.computed) == (workers, 12), cores
        plans = [item for h in g.heads for item in g.plan(h.patient_id)]
        assert expected_plans is None or plans == expected_plans
        expected_plans = plans


def test_the_caller_lets_go_of_each_workers_results_once_used(db, admin, monkeypatch):
    """The results a worker sends back (cache rows, worklist rows) are dropped once this process
    has used them: kept by the list of pending work, they grew with the clinic (a 10,000-patient
    cold worklist peaked at 240 MB in the caller). Here the workers evaluate every batch."""
    import weakref
    from concurrent import futures

    import_patients(db, generate_patients(30, 7, TODAY), admin, reason="test clinic")
    monkeypatch.setattr(rules_cache, "GATHER_BATCH", 2)
    monkeypatch.setattr(rules_cache, "POOL_MIN_PATIENTS", 1)
    monkeypatch.setattr(rules_cache.os, "cpu_count", lambda: 4)  # two workers beside this process
    monkeypatch.setattr(futures.Future, "cancel", lambda self: False)  # this process takes no batch itself
    used: list[list[weakref.ref]] = []  # per batch handed out, its results
    still_held = []
    batches = rules_cache._evaluated_batches

    def watched(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        for batch in batches(*args, **kwargs):
            # every batch used before the previous one is gone (the previous one may still be in hand)
            still_held.append(sum(r() is not None for earlier in used[:-1] for r in earlier))
            used.append([weakref.ref(e) for e in batch])
            yield batch
            del batch

    monkeypatch.setattr(rules_cache, "_evaluated_batches", watched)
    rules_cache.forget()
    g = rules_cache.gather(db, TODAY)
    assert g.workers == 2 and g.computed == 30 and len(used) == 15
    assert still_held == [0] * 15
    assert [item for h in g.heads for item in g.plan(h.patient_id)] == \
        [item for h in g.heads for item in rules_cache.gather(db, TODAY).plan(h.patient_id)]
