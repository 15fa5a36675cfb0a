"""Response per line of therapy and patient status (domain/response.py, domain/patient_status.py),
on hand-made timelines with the shipped protocol (plasma VEGF upper reference 96.2 pg/mL, serum
1040; baselines at most 3 months old, imaging 6; M-protein measurable from 0.5 g/dL; lost to
follow-up after 18 months without a visit)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from poems_monitor.domain.patient_status import patient_status
from poems_monitor.domain.protocol import ProtocolError, default_protocol, default_protocol_text, load_protocol
from poems_monitor.domain.response import assess_response
from tests.unit.timeline_builders import BASELINE_FEATURES, event, obs, patient, treatment, visit

P = default_protocol()
LEN = "lenalidomide_dexamethasone"
CRITERIA_MET = {**BASELINE_FEATURES, "sclerotic_bone_lesions": "present", "peripheral_edema": "present"}


def one_line(*visits, start="2021-01-15", stop=None, as_of="2021-12-01", **kw):
    record = patient(*visits, treatments=[treatment(LEN, start, stop)], **kw)
    (line,) = assess_response(record, P, date.fromisoformat(as_of))
    return line


def test_serum_and_plasma_are_never_compared():
    # plasma baseline 900, then only serum values: the serum series has no baseline, and a serum
    # 700 is never read as a fall from the plasma 900
    line = one_line(visit("2021-01-10", vegf_plasma=900), visit("2021-04-10", vegf_serum=700),
                    visit("2021-07-10", vegf_serum=400))
    assert line.vegf.category == "not_evaluable"
    assert line.vegf.details["specimen"] == "serum"
    assert "no serum VEGF within 3 months before the line started on 2021-01-15" in line.vegf.reason


def test_plasma_preferred_when_both_series_are_evaluable():
    line = one_line(visit("2021-01-10", vegf_plasma=900, vegf_serum=3000),
                    visit("2021-04-10", vegf_plasma=400, vegf_serum=2900))
    assert (line.vegf.category, line.vegf.details["specimen"]) == ("partial", "plasma")


def test_baseline_older_than_the_limit_is_named():
    line = one_line(visit("2020-09-01", vegf_plasma=900), visit("2021-04-10", vegf_plasma=90))
    assert line.vegf.category == "not_evaluable"
    assert "(the last one, 900 pg/mL on 2020-09-01, is older)" in line.vegf.reason


def test_baseline_within_reference_cannot_respond_but_can_progress():
    line = one_line(visit("2021-01-10", vegf_plasma=80), visit("2021-04-10", vegf_plasma=60))
    assert line.vegf.category == "not_evaluable" and "within the reference range" in line.vegf.reason
    line = one_line(visit("2021-01-10", vegf_plasma=80), visit("2021-04-10", vegf_plasma=60),
                    visit("2021-07-10", vegf_plasma=150))
    assert line.vegf.category == "progression"  # 150 >= 1.5 x nadir 60 and > 96.2
    assert line.vegf.since == date(2021, 7, 10) and "one value: confirm with a repeat" in line.vegf.rule


@pytest.mark.parametrize("latest, category", [(460, "stable"), (450, "partial"), (96.2, "complete"), (97, "partial")])
def test_vegf_boundaries(latest, category):
    line = one_line(visit("2021-01-10", vegf_plasma=900), visit("2021-04-10", vegf_plasma=latest))
    assert line.vegf.category == category


def test_value_on_the_start_day_is_the_baseline():
    line = one_line(visit("2021-01-15", vegf_plasma=900), visit("2021-04-10", vegf_plasma=400))
    assert line.vegf.details["baseline"] == {"value": 900, "date": "2021-01-15"}


def test_hematologic_complete_needs_negative_ife_and_normal_ratio():
    base = visit("2021-01-10", obs("ife", "lambda"), m_protein=0.8, flc_ratio=0.5)
    line = one_line(base, visit("2021-06-10", obs("ife", "negative"), m_protein=0.0))
    assert line.hematologic.category == "partial"  # measurable 0.8 -> 0: partial, not complete
    assert "no FLC ratio since the line started" in line.hematologic.reason
    line = one_line(base, visit("2021-06-10", obs("ife", "negative"), m_protein=0.0, flc_ratio=0.9))
    assert line.hematologic.category == "complete" and line.hematologic.since == date(2021, 6, 10)
    line = one_line(base, visit("2021-06-10", obs("ife", "negative"), m_protein=0.0, flc_ratio=3.0))
    assert line.hematologic.category == "partial" and "outside 0.26–1.65" in line.hematologic.reason


def test_too_small_to_measure_is_a_result():
    line = one_line(visit("2021-01-10", obs("ife", "lambda"), m_protein=0.2),
                    visit("2021-06-10", obs("ife", "lambda"), m_protein=0.1))
    assert line.hematologic.category == "not_evaluable"
    assert line.hematologic.details["too_small_to_measure"] is True
    assert line.hematologic.reason.startswith("too small to measure: baseline M-protein 0.2 g/dL on 2021-01-10")
    censored = one_line(visit("2021-01-10", obs("ife", "lambda"), obs("m_protein", 0.1, qualifier="<")),
                        visit("2021-06-10", obs("ife", "lambda"), m_protein=0.1))
    assert censored.hematologic.details["too_small_to_measure"] is True


def test_hematologic_progression_by_amount_and_fraction():
    line = one_line(visit("2021-01-10", m_protein=1.0), visit("2021-04-10", m_protein=0.4),
                    visit("2021-07-10", m_protein=0.85))
    assert line.hematologic.category == "stable"  # 0.45 above the nadir: below the 0.5 g/dL step
    line = one_line(visit("2021-01-10", m_protein=1.0), visit("2021-04-10", m_protein=0.4),
                    visit("2021-07-10", m_protein=0.9))
    assert line.hematologic.category == "progression" and line.hematologic.since == date(2021, 7, 10)


def test_neurologic_onls_from_parts_else_incat():
    line = one_line(visit("2021-01-10", onls_arm=2, onls_leg=3), visit("2021-04-10", onls_arm=2, onls_leg=4))
    assert (line.neurologic.category, line.neurologic.details["scale"]) == ("worse", "onls")
    line = one_line(visit("2021-01-10", incat=6), visit("2021-04-10", incat=4))
    assert (line.neurologic.category, line.neurologic.details["scale"]) == ("improved", "incat")
    line = one_line(visit("2021-01-10", onls=5))
    assert line.neurologic.category == "not_evaluable" and "no ONLS total since the line started" in line.neurologic.reason


@pytest.mark.parametrize("before, after, category", [
    ("abnormal", ["normal"], "complete"),
    ("abnormal", ["abnormal"], "persistent"),
    ("normal", ["normal"], "stable"),
    ("normal", ["abnormal"], "progression"),
    ("abnormal", ["normal", "abnormal"], "progression"),
    ("abnormal", ["pending"], "not_evaluable"),
    (None, ["abnormal"], "not_evaluable"),
])
def test_radiologic(before, after, category):
    visits = [visit("2021-01-10", exams=[("imaging", before)] if before else [])]
    visits += [visit(f"2021-{4 + 3 * i:02d}-10", exams=[("imaging", r)]) for i, r in enumerate(after)]
    line = one_line(*visits)
    assert line.radiologic.category == category
    if "pending" in after:
        assert "imaging of 2021-04-10 pending: not counted" in line.radiologic.reason


def test_line_window_ends_at_the_next_line_start():
    record = patient(
        visit("2021-01-10", vegf_plasma=900), visit("2021-04-10", vegf_plasma=400), visit("2021-06-01", vegf_plasma=800),
        visit("2021-09-10", vegf_plasma=300),
        treatments=[treatment(LEN, "2021-01-15", "2021-05-01"), treatment("daratumumab_based", "2021-06-01")])
    first, second = assess_response(record, P, date(2021, 12, 1))
    assert first.vegf.details["latest"] == {"value": 800, "date": "2021-06-01"}  # next line's baseline, still line 1's result
    assert first.vegf.category == "progression"
    assert (second.vegf.category, second.vegf.details["baseline"]["value"]) == ("partial", 800)


def test_supportive_treatments_are_not_lines():
    record = patient(visit("2021-01-10", vegf_plasma=900), treatments=[treatment("corticosteroids", "2021-01-15")])
    assert assess_response(record, P, date(2021, 12, 1)) == ()


# ---------------------------------------------------------------------------------------------
# Patient status
# ---------------------------------------------------------------------------------------------


def status_of(record, as_of="2021-12-01"):
    return patient_status(record, P, date.fromisoformat(as_of))


def test_suspected_when_criteria_not_met_and_untreated():
    s = status_of(patient(visit("2021-01-10", features=BASELINE_FEATURES)))
    assert s.status == "suspected" and "follow closely" in s.explanation


def test_active_when_criteria_met_untreated_or_without_response():
    s = status_of(patient(visit("2021-06-10", features=CRITERIA_MET)))
    assert (s.status, s.since) == ("active", date(2021, 6, 10))
    s = status_of(patient(visit("2021-01-10", features=CRITERIA_MET), visit("2021-06-10"),
                          treatments=[treatment(LEN, "2021-01-15", "2021-05-01")]))
    assert s.status == "active" and "not assumed to be in remission" in s.explanation


def test_responding_then_remission():
    visits = (visit("2021-01-10", vegf_plasma=900, features=CRITERIA_MET), visit("2021-04-10", vegf_plasma=400),
              visit("2021-10-10", vegf_plasma=300))
    s = status_of(patient(*visits, treatments=[treatment(LEN, "2021-01-15")]))
    assert (s.status, s.since) == ("responding", date(2021, 4, 10))
    s = status_of(patient(*visits, treatments=[treatment(LEN, "2021-01-15", "2021-08-01")]))
    assert (s.status, s.since) == ("remission", date(2021, 8, 1))


def test_relapse_event_after_the_line_then_new_line_governs():
    visits = (visit("2021-01-10", vegf_plasma=900, features=CRITERIA_MET), visit("2021-04-10", vegf_plasma=400))
    record = patient(*visits, treatments=[treatment(LEN, "2021-01-15", "2021-08-01")], events=[event("relapse", "2021-11-01")])
    assert (status_of(record).status, status_of(record).since) == ("relapse", date(2021, 11, 1))
    record = replace(record, treatments=record.treatments + (treatment("daratumumab_based", "2021-11-01"),))
    assert status_of(record).status == "active"


def test_lost_transferred_deceased_in_order():
    base = patient(visit("2019-01-10", features=CRITERIA_MET), visit("2020-05-01"))
    assert status_of(base, "2021-11-01").status == "active"  # 18 months after the last visit: not yet
    lost = status_of(base, "2021-11-02")
    assert (lost.status, lost.since) == ("lost_to_follow_up", date(2020, 5, 1))
    moved = replace(base, events=(event("transferred", "2020-06-01", "to Lyon"),))
    assert status_of(moved, "2020-07-01").status == "transferred" and "to Lyon" in status_of(moved, "2020-07-01").explanation
    dead = replace(base, events=(event("transferred", "2020-06-01"), event("death", "2021-02-01")))
    assert (status_of(dead, "2022-01-01").status, status_of(dead, "2022-01-01").since) == ("deceased", date(2021, 2, 1))
    assert status_of(dead, "2021-01-01").status == "transferred"  # the death is not known yet on that date


# ---------------------------------------------------------------------------------------------
# Protocol settings
# ---------------------------------------------------------------------------------------------


def test_response_settings_are_defaults_and_checked():
    for key in ("response_baseline_max_months", "response_mprotein_measurable_gdl", "response_lost_to_followup_months"):
        assert P.is_default(key), key
    text = default_protocol_text()
    older = text[: text.index("[response]")]  # a clinic file saved before the section existed
    assert load_protocol(older).response_baseline_max_months == 3
    bad = text.replace("response_baseline_max_months = { value = 3,", "response_baseline_max_months = { value = 0,")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(bad)
    assert caught.value.key == "response.response_baseline_max_months"
    assert caught.value.line == bad.splitlines().index(
        next(x for x in bad.splitlines() if x.startswith("response_baseline_max_months"))) + 1


def test_no_detectable_monoclonal_protein_before_the_line_cannot_respond():
    line = one_line(visit("2021-01-10", obs("ife", "negative"), flc_ratio=1.0),
                    visit("2021-06-10", obs("ife", "negative"), flc_ratio=0.9))
    assert line.hematologic.category == "not_evaluable"
    assert "no monoclonal protein detectable before the line: immunofixation negative on 2021-01-10" in line.hematologic.reason
    line = one_line(visit("2021-01-10", obs("ife", "negative"), flc_ratio=0.1),  # the clone shows in the ratio
                    visit("2021-06-10", obs("ife", "negative"), flc_ratio=0.9))
    assert line.hematologic.category == "complete"


def test_the_other_vegf_series_is_named_not_mixed():
    line = one_line(visit("2021-01-10", vegf_plasma=900), visit("2021-04-10", vegf_plasma=400, vegf_serum=2000))
    assert line.vegf.category == "partial"
    assert "Serum VEGF also measured in this line: judged on its own series, never compared" in line.vegf.evidence
