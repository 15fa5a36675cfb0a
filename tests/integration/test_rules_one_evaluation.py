"""One evaluation of a patient's rules derives each visit's features once (issue 13): the flags,
the schedule's restaging triggers and the dashboard share one feature history of the same
clipped record, and give what the domain gives computed apart."""

from __future__ import annotations

from datetime import date

import pytest

from poems_monitor.domain import derived
from poems_monitor.domain.course import clip
from poems_monitor.domain.derived import feature_history
from poems_monitor.domain.flags import compute_flags
from poems_monitor.domain.followup import followup_plan
from poems_monitor.domain.protocol import default_protocol
from poems_monitor.domain.reduced_course import latest_date
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services import rules_cache
from poems_monitor.services.dashboard import dashboard_from_record
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients

from ..conftest import TODAY

P = default_protocol()


@pytest.fixture
def records(db, admin):
    """Real records: a demo clinic stored in SQLite and read back as the rules read it."""
    import_patients(db, generate_patients(12, 3, TODAY), admin, reason="test clinic")
    with db.read() as session:
        found = load_timelines(session)
    return sorted((r for r in found if len(r.visits) >= 6), key=lambda r: -len(r.visits))[:4]


@pytest.fixture
def derivations(monkeypatch):
    """Counts `visit_features` calls (one per visit each time a feature history is computed)."""
    calls = []
    real = derived.visit_features
    monkeypatch.setattr(derived, "visit_features", lambda visit, sex, protocol: (calls.append(visit.date),
                                                                                  real(visit, sex, protocol))[1])
    return calls


def _task(record, as_of, *, use_cache):
    stamp = rules_cache.Stamp(1, "h", "sha", "rules")
    return rules_cache._Task(as_of, {record.patient_id: stamp}, frozenset(), True, True, use_cache)


def _middle(record):
    return record.visits[len(record.visits) // 2].date


def test_flags_and_schedule_of_an_earlier_as_of_derive_each_visit_once(records, derivations):
    for record in records:
        as_of = _middle(record)
        clipped = clip(record, as_of)
        expected_flags = compute_flags(record, P, as_of)
        expected_plan = tuple(i for i in followup_plan(record, P, as_of) if i.status is not None)
        derivations.clear()
        got = rules_cache._evaluate(record, P, _task(record, as_of, use_cache=False))
        assert derivations == [v.date for v in clipped.visits]  # once per visit (was twice: flags, then triggers)
        assert got.flags == expected_flags and got.plan == expected_plan


def test_a_cold_evaluation_derives_the_whole_record_once_and_an_earlier_as_of_once_more(records, derivations):
    for record in records:
        derivations.clear()
        rules_cache._evaluate(record, P, _task(record, latest_date(record), use_cache=True))
        assert derivations == [v.date for v in record.visits]  # flags, reduction and schedule: one history
        as_of = _middle(record)
        derivations.clear()
        got = rules_cache._evaluate(record, P, _task(record, as_of, use_cache=True))
        # the whole record's flags for the cache row, then the record as of `as_of` (was three histories)
        assert derivations == [v.date for v in record.visits] + [v.date for v in clip(record, as_of).visits]
        assert got.flags == compute_flags(record, P, as_of)


def test_the_dashboard_flags_read_the_screens_feature_history(records, derivations):
    for record in records:
        for as_of in (_middle(record), TODAY):
            derivations.clear()
            board = dashboard_from_record(record, P, as_of)
            n = len(clip(record, as_of).visits)
            # the screen's history is the flags' and the schedule's too (was three times)
            assert len(derivations) == n
            assert tuple(e.flag for e in board.flags) == tuple(
                sorted(compute_flags(record, P, as_of), key=lambda f: f.date, reverse=True))


def test_a_history_of_other_visits_is_refused(records):
    record = records[0]
    as_of = _middle(record)
    with pytest.raises(ValueError, match="feature history"):
        compute_flags(record, P, as_of, history=feature_history(record, P))  # the whole record's: too long
    history = feature_history(clip(record, as_of), P)
    assert compute_flags(record, P, as_of, history=history) == compute_flags(record, P, as_of)


def test_the_schedule_reads_its_restaging_triggers_from_the_flags_with_the_same_result(records):
    for record in records:
        for as_of in [v.date for v in record.visits[::2]] + [TODAY, date(2031, 1, 1)]:
            flags = compute_flags(record, P, as_of)
            assert followup_plan(record, P, as_of, flags=flags) == followup_plan(record, P, as_of)
