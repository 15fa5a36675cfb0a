"""The dashboard and flag-review services against a real SQLite file: what the dashboard holds,
series kept apart by specimen, acknowledgement stored and audited (physician only), the clinic
overview of the patient list."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from poems_monitor.models import AuditEntry, FlagReview
from poems_monitor.services.access import PermissionDenied
from poems_monitor.services.audit import verify_chain
from poems_monitor.services.dashboard import CHARTS, build_dashboard, clinic_overview, richest_patient
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.errors import InputRefused
from poems_monitor.services.flag_review import acknowledge_flag, reviews_of
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, event, obs, patient, treatment, visit


@pytest.fixture
def hand_built(db, admin):
    jane = patient(
        visit("2021-01-10", vegf_plasma=1240, platelets=520, hemoglobin=13.0, dlco_pct=70, onls_arm=2, onls_leg=3,
              features={**BASELINE_FEATURES, "sclerotic_bone_lesions": "present", "peripheral_edema": "present"}),
        visit("2021-04-10", vegf_plasma=600, platelets=400, onls_arm=2, onls_leg=2,
              features={"pleural_effusion": "absent"}),
        visit("2021-07-10", obs("vegf_serum", 2500), platelets=300, pasp=45, lvef=60,
              features={"pleural_effusion": "present"}),
        treatments=[treatment("lenalidomide_dexamethasone", "2021-02-01", "2021-12-01", prophylaxis="none"),
                    treatment("asct", "2022-01-15", engraftment="2022-01-28")],
        events=[event("dvt", "2021-03-01")],
        sex="female",
    )
    lone = patient(visit("2024-05-05", platelets=250), mrn="H-000200", name="One Visit", sex="male")
    empty = patient(mrn="H-000300", name="No Values", sex="other")
    import_patients(db, [jane, lone, empty], admin, reason="test")
    return db


def test_dashboard_holds_header_series_and_markers(hand_built):
    d = build_dashboard(hand_built, "H-000123", TODAY)
    assert (d.name, d.sex, d.age) == ("Jane Example", "female", 55)
    assert d.last_visit == date(2021, 7, 10) and len(d.visit_dates) == 3
    assert d.criteria.fulfilled_on == date(2021, 1, 10)
    assert d.criteria_status.startswith("Criteria fulfilled since 2021-01-10")
    assert "None active" in d.current_therapy
    # plasma and serum VEGF: two series, never one
    assert [p.value for p in d.series["vegf_plasma"].points] == [1240, 600]
    assert [p.value for p in d.series["vegf_serum"].points] == [2500]
    assert d.series["vegf_serum"].points[0].specimen == "serum"
    # ONLS total computed from arm + leg for the chart
    assert [p.value for p in d.series["onls"].points] == [5, 4]
    assert {t.regimen for t in d.therapies} == {"lenalidomide_dexamethasone", "asct"}
    assert [e.type for e in d.events] == ["dvt"] and d.events[0].thrombotic
    assert d.thresholds.hemoglobin_high == 16.0  # the female limit
    # flags newest first, each pointing at its rule; flagged values carry the message
    dates = [f.flag.date for f in d.flags]
    assert dates == sorted(dates, reverse=True)
    assert any(f.flag.kind.value == "new_feature" and f.flag.code == "pleural_effusion" for f in d.flags)
    assert any(p.flags for p in d.series["platelets"].points)  # thrombocytosis at 520
    # features grid: pleural effusion newly acquired at the third visit
    rows = {r.code: r for g in d.features for r in g.rows}
    assert rows["pleural_effusion"].states == ("unknown", "absent", "present")
    assert rows["pleural_effusion"].new_at == frozenset({2})
    assert rows["polyneuropathy"].new_at == frozenset()  # baseline is not "new"
    for key, _title, _codes in CHARTS:
        d.chart_series(key)  # every chart key resolves


def test_line_breaks_where_the_lab_changes(db, admin):
    p = patient(visit("2022-01-01", obs("vegf_plasma", 500, lab="A")), visit("2022-04-01", obs("vegf_plasma", 400, lab="A")),
                visit("2022-07-01", obs("vegf_plasma", 300, lab="B")))
    import_patients(db, [p], admin, reason="test")
    points = build_dashboard(db, p.mrn, TODAY).series["vegf_plasma"].points
    assert [pt.segment for pt in points] == [0, 0, 1]


def test_one_visit_and_no_values_build(hand_built):
    one = build_dashboard(hand_built, "H-000200", TODAY)
    assert list(one.series) == ["platelets"] and one.flags == ()
    empty = build_dashboard(hand_built, "H-000300", TODAY)
    assert empty.series == {} and empty.last_visit is None and empty.since_last_visit == "no visit yet"
    assert empty.thresholds.hemoglobin_high is None  # sex other: no sex-specific limit
    with pytest.raises(KeyError):
        build_dashboard(hand_built, "NOPE", TODAY)


def test_physician_acknowledges_a_flag_stored_audited_still_shown(hand_built, physician):
    d = build_dashboard(hand_built, "H-000123", TODAY)
    target = d.flags[0].flag
    ack = acknowledge_flag(hand_built, physician, "H-000123", target.flag_id, "Discussed; no change", as_of=TODAY)
    assert ack.reviewed_by == physician.name
    with hand_built.read() as session:
        row = session.execute(select(FlagReview.__table__)).one()
        audit = session.execute(select(AuditEntry.__table__).where(AuditEntry.__table__.c.action == "acknowledge")).one()
        assert verify_chain(session) == []
    assert (row.flag_id, row.comment, row.kind, row.flag_date) == (
        target.flag_id, "Discussed; no change", target.kind.value, target.date)
    assert audit.user == physician.name and audit.entity == "flag" and "Discussed" in audit.new
    again = build_dashboard(hand_built, "H-000123", TODAY)
    entry = next(f for f in again.flags if f.flag.flag_id == target.flag_id)
    assert entry.acknowledged and entry.review.comment == "Discussed; no change"
    assert len(again.flags) == len(d.flags)  # still shown
    assert len(again.unacknowledged) == len(d.unacknowledged) - 1
    assert [r.flag_id for r in reviews_of(hand_built, "H-000123")] == [target.flag_id]
    with pytest.raises(InputRefused, match="acknowledged already"):
        acknowledge_flag(hand_built, physician, "H-000123", target.flag_id, "twice", as_of=TODAY)


def test_nurse_may_not_acknowledge_and_nothing_is_written(hand_built, nurse):
    flag = build_dashboard(hand_built, "H-000123", TODAY).flags[0].flag
    with pytest.raises(PermissionDenied):
        acknowledge_flag(hand_built, nurse, "H-000123", flag.flag_id, "", as_of=TODAY)
    with hand_built.read() as session:
        assert session.execute(select(FlagReview.__table__)).all() == []


def test_unknown_flag_is_refused(hand_built, physician):
    with pytest.raises(InputRefused, match="no flag"):
        acknowledge_flag(hand_built, physician, "H-000123", "0123456789abcdef", "", as_of=TODAY)


def test_clinic_overview_counts_new_flags_and_overdue(db, admin, physician):
    import_patients(db, generate_patients(5, seed=3, today=TODAY), admin, reason="test")
    overview = clinic_overview(db, TODAY)
    assert len(overview) == 5
    mrn, status = next((m, s) for m, s in overview.items() if s.new_flags)
    flag = build_dashboard(db, mrn, TODAY).unacknowledged[0].flag
    acknowledge_flag(db, physician, mrn, flag.flag_id, "seen", as_of=TODAY)
    after = clinic_overview(db, TODAY)[mrn]
    assert after.new_flags == status.new_flags - 1 and after.flags == status.flags
    assert richest_patient(db) in overview


def test_clinic_overview_from_the_rules_cache_equals_the_full_computation(db, admin, monkeypatch):
    from poems_monitor.services import dashboard
    from poems_monitor.services.protocol_store import current_protocol

    import_patients(db, generate_patients(7, seed=4, today=TODAY), admin, reason="test")
    monkeypatch.setattr(dashboard, "OVERVIEW_CHUNK", 3)  # several chunks
    full = clinic_overview(db, TODAY, protocol=current_protocol(db))  # every record computed in full
    first = clinic_overview(db, TODAY)  # fills the rules cache
    again = clinic_overview(db, TODAY)  # from the cache
    assert first == full and again == full and len(full) == 7
