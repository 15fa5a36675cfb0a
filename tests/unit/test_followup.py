"""The follow-up status function (every boundary at day -1, 0, +1) and the per-patient schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
try:  # tests/ may be a package (relative import) or plain folders (basename import)
    from .timeline_builders import event, patient, treatment, visit
except ImportError:
    from timeline_builders import event, patient, treatment, visit  # type: ignore[no-redef]

from poems_monitor.domain.followup import (
    Status, Waiver, WorklistItem, followup_plan, followup_status, schedule_for, sort_key, waived_for,
)
from poems_monitor.domain.protocol import default_protocol

P = default_protocol()
DUE = date(2024, 6, 15)
LAST = date(2023, 6, 15)
D = timedelta(days=1)

# due_soon_days = 30, grace = 30: due soon from 2024-05-16, due 2024-06-15..2024-07-15, overdue from 2024-07-16
_SOON_START = DUE - timedelta(days=30)
_OVERDUE_START = DUE + timedelta(days=31)


@pytest.mark.parametrize(
    "as_of, expected",
    [
        # boundary 1: start of "due soon" (due - due_soon_days)
        (_SOON_START - D, None),
        (_SOON_START, Status.DUE_SOON),
        (_SOON_START + D, Status.DUE_SOON),
        # boundary 2: the due date itself
        (DUE - D, Status.DUE_SOON),
        (DUE, Status.DUE),
        (DUE + D, Status.DUE),
        # boundary 3: end of the grace period (due + grace), overdue from the day after
        (_OVERDUE_START - D, Status.DUE),
        (_OVERDUE_START, Status.OVERDUE),
        (_OVERDUE_START + D, Status.OVERDUE),
    ],
)
def test_status_boundaries(as_of, expected):
    assert followup_status(DUE, LAST, as_of, 30, grace_days=30) is expected


@pytest.mark.parametrize(
    "as_of, expected",
    [(DUE - D, Status.DUE_SOON), (DUE, Status.DUE), (DUE + D, Status.OVERDUE)],
)
def test_status_without_grace_is_overdue_the_day_after_the_due_date(as_of, expected):
    assert followup_status(DUE, LAST, as_of, 30) is expected


@pytest.mark.parametrize("as_of, expected", [(DUE - D, None), (DUE, Status.DUE), (DUE + D, Status.DUE)])
def test_status_without_due_soon_window(as_of, expected):
    assert followup_status(DUE, LAST, as_of, 0, grace_days=5) is expected


@pytest.mark.parametrize("due", [None, DUE, DUE - timedelta(days=400), DUE + timedelta(days=400)])
def test_never_done_whatever_the_due_date(due):
    assert followup_status(due, None, DUE, 30, grace_days=30) is Status.NEVER_DONE


def test_nothing_scheduled_when_due_is_none_but_done_before():
    assert followup_status(None, LAST, DUE, 30, grace_days=30) is None


@pytest.mark.parametrize("soon, grace", [(-1, 0), (0, -1)])
def test_negative_windows_are_refused(soon, grace):
    with pytest.raises(ValueError):
        followup_status(DUE, LAST, DUE, soon, grace_days=grace)


def test_status_urgency_order():
    assert sorted(Status, key=lambda s: s.rank) == [Status.OVERDUE, Status.NEVER_DONE, Status.DUE, Status.DUE_SOON]


# --- the schedule ---------------------------------------------------------------------------------


def plan(pt, as_of, protocol=P):
    return {i.item: i for i in followup_plan(pt, protocol, date.fromisoformat(as_of))}


def test_what_counts_as_done():
    pt = patient(
        visit("2024-01-10", platelets=300, tsh=2.0, dlco_pct=85, m_protein=0.3,
              exams=[("echo", "normal"), ("bone_marrow", "abnormal"), ("imaging", "normal")]),
        visit("2024-02-10", ife="lambda", onls=2, exams=[("imaging", "pending")]),
        visit("2024-03-10", vegf_serum=800),
    )
    p = plan(pt, "2024-03-20")
    assert p["hematology"].last_done == date(2024, 2, 10)  # the immunofixation is the monoclonal work-up
    assert p["endocrine"].last_done == date(2024, 1, 10)
    assert p["pft"].last_done == date(2024, 1, 10)  # a DLCO counts as PFT done
    assert p["echo"].last_done == date(2024, 1, 10)
    assert p["imaging"].last_done == date(2024, 1, 10)  # the pending imaging of 2024-02-10 completes nothing
    assert "Imaging (PET/CT or CT) pending since 2024-02-10" in p["imaging"].reason
    assert p["neuropathy_score"].last_done == date(2024, 2, 10)
    assert p["vegf"].last_done == date(2024, 3, 10)
    assert p["review_visit"].last_done == date(2024, 3, 10)  # any visit


# --- defect 2: an item is done only by a resulted study of what it is for -------------------------


def test_a_pending_echo_completes_nothing_and_keeps_the_abnormal_state():
    pt = patient(visit("2023-01-10", exams=[("echo", "abnormal")]), visit("2023-06-20", exams=[("echo", "pending")]))
    item = plan(pt, "2023-07-20")["echo"]
    assert item.last_done == date(2023, 1, 10)
    assert item.due == date(2023, 7, 10) and item.status is Status.DUE  # 6 months after the abnormal echo
    assert "Echocardiogram pending since 2023-06-20" in item.reason


def test_a_pending_echo_is_not_a_baseline():
    pt = patient(visit("2023-01-10", platelets=250, exams=[("echo", "pending")]))
    item = plan(pt, "2023-02-01")["echo"]
    assert item.status is Status.NEVER_DONE and item.last_done is None
    assert item.reason == "never recorded: baseline needed; Echocardiogram pending since 2023-01-10"


def test_spirometry_without_dlco_is_recorded_but_is_not_the_pft():
    pt = patient(visit("2020-01-10", dlco_pct=64), visit("2021-01-05", fvc_pct=90, fev1_pct=88))
    item = plan(pt, "2021-01-20")["pft"]
    assert item.last_done == date(2020, 1, 10)  # not 2021-01-05
    assert item.due == date(2021, 1, 10) and item.status is Status.DUE  # abnormal DLCO: yearly, not reset to 24 months
    assert "spirometry without DLCO on 2021-01-05: PFT not complete" in item.reason


def test_a_pft_exam_without_dlco_does_not_complete_the_pft():
    pt = patient(visit("2020-01-10", platelets=250, exams=[("pft", "normal")]))
    item = plan(pt, "2020-02-01")["pft"]
    assert item.status is Status.NEVER_DONE
    assert "PFT result without a DLCO value on 2020-01-10: PFT not complete" in item.reason


def test_a_blood_count_alone_is_not_the_haematology_work_up():
    pt = patient(visit("2022-01-10", m_protein=0.4, platelets=300),
                 visit("2022-07-20", platelets=310, hemoglobin=13.0, creatinine=0.9))
    item = plan(pt, "2022-08-01")["hematology"]
    assert item.last_done == date(2022, 1, 10) and item.due == date(2022, 7, 10) and item.status is Status.DUE
    assert ("blood tests without the monoclonal work-up (M-protein, IFE, FLC) on 2022-07-20: "
            "haematology not complete") in item.reason


def test_lvef_alone_counts_as_an_echo_but_does_not_make_an_abnormal_echo_normal():
    pt = patient(visit("2023-01-10", pasp=55, lvef=60), visit("2023-05-10", lvef=62))
    item = plan(pt, "2023-06-20")["echo"]
    assert item.last_done == date(2023, 5, 10)
    # still abnormal; the repeat counts from the abnormal echo of 2023-01-10, not 24 months from the LVEF
    assert item.due == date(2023, 7, 10) and item.status is Status.DUE_SOON
    assert "last abnormal result 2023-01-10 (abnormal since 2023-01-10): every 6 months in the first year" in item.reason


# --- defect 3: an abnormal echo brings the next echo to the abnormal interval --------------------


@pytest.mark.parametrize("values, abnormal", [
    ({"pasp": 50}, True),  # at the PH threshold [LI13]
    ({"pasp": 34, "lvef": 49}, True),  # LVEF below its floor [HL7-LT]
    ({"pasp": 34, "lvef": 50}, False),
    ({"pasp": 40}, True),  # above the catalogue reference (ESC intermediate probability): the stricter rule
])
def test_echo_abnormal_by_pasp_threshold_or_lvef_floor(values, abnormal):
    pt = patient(visit("2020-01-01", **values))
    assert plan(pt, "2020-02-01")["echo"].due == (date(2020, 7, 1) if abnormal else date(2022, 1, 1))


def test_echo_pasp_threshold_comes_from_the_protocol():
    strict = replace(P, pasp_pulmonary_hypertension=30.0)
    pt = patient(visit("2020-01-01", pasp=33))  # inside the reference (<= 36), above the clinic's threshold
    assert plan(pt, "2020-02-01")["echo"].due == date(2022, 1, 1)
    assert plan(pt, "2020-02-01", strict)["echo"].due == date(2020, 7, 1)


def test_echo_interval_counts_from_the_latest_abnormal_echo():
    pt = patient(visit("2020-01-01", pasp=30, lvef=60), visit("2021-09-01", pasp=55),
                 visit("2021-11-01", exams=[("echo", "pending")]), visit("2021-12-01", lvef=61))
    item = plan(pt, "2022-02-01")["echo"]
    assert item.due == date(2022, 3, 1)  # 6 months after the abnormal echo of 2021-09-01
    assert "abnormal since 2021-09-01" in item.reason


def test_never_done_items_are_listed_with_the_baseline_date():
    pt = patient(visit("2024-01-10", platelets=300))
    items = {i.item: i for i in schedule_for(pt, P, date(2024, 1, 20))}
    assert {k for k, v in items.items() if v.status is Status.NEVER_DONE} == {
        "echo", "pft", "vegf", "imaging", "endocrine", "neuropathy_score", "hematology"}  # a count is not the work-up
    assert items["echo"].due == date(2024, 1, 10) and items["echo"].last_done is None
    assert "review_visit" not in items  # done and not yet due
    assert "thrombosis_review" not in items  # no thrombosis risk recorded


@pytest.mark.parametrize(
    "results, due, reason_part",
    [
        ([("2020-01-01", "normal")], "2022-01-01", "normal: every 24 months"),
        ([("2020-01-01", "abnormal")], "2020-07-01", "every 6 months in the first year"),
        ([("2020-01-01", "abnormal"), ("2020-07-01", "abnormal")], "2021-01-01", "every 6 months"),
        ([("2020-01-01", "abnormal"), ("2020-07-01", "abnormal"), ("2021-01-01", "abnormal")], "2022-01-01",
         "abnormal (since 2020-01-01): every 12 months"),
        ([("2020-01-01", "abnormal"), ("2020-07-01", "normal")], "2022-07-01", "normal: every 24 months"),
    ],
)
def test_echo_interval_depends_on_the_last_result(results, due, reason_part):
    pt = patient(*[visit(day, exams=[("echo", r)]) for day, r in results])
    item = plan(pt, "2020-08-01")["echo"] if due < "2020-08-01" else plan(pt, "2021-02-01")["echo"]
    assert item.due == date.fromisoformat(due)
    assert reason_part in item.reason


def test_echo_abnormal_from_a_measurement_outside_its_reference_range():
    pt = patient(visit("2020-01-01", pasp=52))  # > 36 mmHg
    assert plan(pt, "2020-02-01")["echo"].due == date(2020, 7, 1)


@pytest.mark.parametrize("dlco, due", [(85, "2022-01-01"), (64, "2021-01-01")])
def test_pft_interval(dlco, due):
    pt = patient(visit("2020-01-01", dlco_pct=dlco))
    assert plan(pt, "2020-02-01")["pft"].due == date.fromisoformat(due)


def test_new_oedema_brings_the_echo_forward():
    pt = patient(
        visit("2020-01-01", exams=[("echo", "normal")], features={"pleural_effusion": "absent"}),
        visit("2021-03-01", features={"pleural_effusion": "present"}),
    )
    p = plan(pt, "2021-03-05")
    assert p["echo"].due == date(2021, 3, 1) and p["echo"].status is Status.DUE
    assert "Pleural effusion appeared on 2021-03-01" in p["echo"].reason
    assert p["pft"].status is Status.NEVER_DONE


LEN = treatment("lenalidomide_dexamethasone", "2022-01-10")


@pytest.mark.parametrize(
    "last_vegf, due, first_year",
    [
        ("2022-01-10", "2022-04-10", True),  # baseline on the start day: 3 months later
        ("2022-10-10", "2023-01-10", True),  # still in the first year: every 3 months
        ("2023-01-10", "2023-07-10", False),  # first year over: every 6 months
        ("2021-06-01", "2022-04-10", True),  # last value before the line: counted from the start
    ],
)
def test_vegf_interval_in_and_after_the_first_year_of_a_line(last_vegf, due, first_year):
    pt = patient(visit(last_vegf, vegf_plasma=300), treatments=[LEN])
    item = plan(pt, "2023-02-01")["vegf"]
    assert item.due == date.fromisoformat(due)
    assert ("first year of lenalidomide–dexamethasone (started 2022-01-10)" in item.reason) is first_year


def test_asct_restarts_the_three_monthly_series_and_sets_imaging_at_12_months():
    pt = patient(
        visit("2023-04-01", vegf_plasma=150, platelets=250, ife="negative", exams=[("imaging", "normal")]),
        treatments=[treatment("melphalan_dexamethasone", "2022-01-10", "2022-12-01"),
                    treatment("asct", "2023-05-02", engraftment="2023-05-14")],
    )
    p = plan(pt, "2023-06-01")
    assert p["vegf"].due == date(2023, 8, 2) and p["hematology"].due == date(2023, 8, 2)
    # imaging: 3 months after the end of MDex (2023-03-01) was met by the 2023-04-01 imaging;
    # 12 months after ASCT is next
    assert p["imaging"].due == date(2024, 5, 2) and "12 months after ASCT" in p["imaging"].reason


@pytest.mark.parametrize(
    "as_of, status, due",
    [
        # engraftment 2023-05-14 is not yet known on 2023-05-13: the DEFAULT day +5..+21 window applies
        ("2023-05-13", Status.DUE, "2023-05-07"),
        # once recorded, the window narrows to 1 day before .. 4 days after engraftment (Maiolino/Spitzer)
        ("2023-05-14", Status.DUE, "2023-05-13"),
        ("2023-05-18", Status.DUE, "2023-05-13"),  # last day of the window
        ("2023-05-19", Status.DUE, "2023-05-13"),  # window over without a visit in it: stays, "not assessed"
    ],
)
def test_engraftment_syndrome_window_anchored_on_engraftment(as_of, status, due):
    pt = patient(visit("2023-04-20", platelets=250),
                 treatments=[treatment("asct", "2023-05-02", engraftment="2023-05-14")])
    item = plan(pt, as_of)["review_visit"]
    assert item.status is status and item.due == date.fromisoformat(due)
    if due == "2023-05-13":
        assert "engraftment-syndrome watch 2023-05-13 to 2023-05-18 (engraftment 2023-05-14)" in item.reason
    assert ("not assessed" in item.reason) is (as_of == "2023-05-19")


def test_engraftment_window_is_due_soon_before_it_opens():
    pt = patient(visit("2023-04-20"), treatments=[treatment("asct", "2023-05-02")])
    assert plan(pt, "2023-05-06")["review_visit"].status is Status.DUE_SOON
    assert plan(pt, "2023-05-07")["review_visit"].status is Status.DUE


def test_engraftment_watch_covers_the_whole_window_not_one_visit():
    pt = patient(visit("2023-04-20"), treatments=[treatment("asct", "2023-05-02")])
    item = plan(pt, "2023-05-05")["review_visit"]
    assert item.due == date(2023, 5, 7) and "day +5 to +21" in item.reason
    seen = replace(pt, visits=pt.visits + (visit("2023-05-09"),))
    # one visit inside the window does not close the watch: next assessment the day after
    item = plan(seen, "2023-05-12")["review_visit"]
    assert item.due == date(2023, 5, 10) and item.status is Status.DUE
    assert "assess every day of the window (last assessed 2023-05-09)" in item.reason
    assert "engraftment" in plan(seen, "2023-05-23")["review_visit"].reason  # last day of the window
    # once the window is over, an assessed window closes: the ordinary first-year review follows
    after = plan(seen, "2023-05-24")["review_visit"]
    assert "engraftment" not in after.reason and after.due == date(2023, 8, 9)  # last visit + 3 months


def test_a_missed_engraftment_window_stays_visible_as_not_assessed():
    pt = patient(visit("2023-04-20"), visit("2023-06-20"), treatments=[treatment("asct", "2023-05-02")])
    item = plan(pt, "2023-07-01")["review_visit"]  # visits before and after the window, none inside it
    assert item.due == date(2023, 5, 7) and item.status is Status.OVERDUE
    assert item.reason.startswith("engraftment-syndrome watch 2023-05-07 to 2023-05-23")
    assert "not assessed (no visit recorded inside the window)" in item.reason
    # a recorded engraftment syndrome answers the watch
    answered = replace(pt, events=(event("engraftment_syndrome", "2023-05-15"),))
    assert "engraftment" not in plan(answered, "2023-07-01")["review_visit"].reason


def test_imaging_after_radiotherapy():
    pt = patient(visit("2021-01-05", exams=[("imaging", "abnormal")]),
                 treatments=[treatment("radiotherapy", "2021-02-01", "2021-03-12")])
    item = plan(pt, "2021-06-01")["imaging"]
    assert item.due == date(2021, 6, 12) and "3 months after radiotherapy (ended 2021-03-12)" in item.reason
    assert plan(pt, "2021-06-01")["vegf"].status is Status.NEVER_DONE


def test_imaging_when_vegf_rises():
    pt = patient(visit("2022-01-01", vegf_plasma=300, exams=[("imaging", "normal")]),
                 visit("2022-05-01", vegf_plasma=700))
    item = plan(pt, "2022-05-02")["imaging"]
    assert item.due == date(2022, 5, 1) and "VEGF rose on 2022-05-01" in item.reason


def test_imaging_never_stops_after_the_yearly_period():
    pt = patient(visit("2015-01-01", exams=[("imaging", "normal")]), visit("2019-06-01", exams=[("imaging", "normal")]),
                 treatments=[treatment("melphalan_dexamethasone", "2014-01-01", "2014-12-01")])
    # 2019-06 + 12 months is after 2014-01 + 5 years: the remission interval (24 months, DEFAULT) follows
    item = plan(pt, "2021-05-10")["imaging"]
    assert item.due == date(2021, 6, 1) and item.status is Status.DUE_SOON
    assert "every 24 months after the first 5 years" in item.reason and "imaging never stops" in item.reason
    assert plan(pt, "2021-07-15")["imaging"].status is Status.OVERDUE


def _remission_patient(last_visit="2023-01-01", extra_events=()):
    return patient(visit(last_visit, tsh=2.0),
                   treatments=[treatment("melphalan_dexamethasone", "2019-01-01", "2020-01-01")], events=extra_events)


def test_stable_remission_makes_endocrine_and_review_yearly():
    p = plan(_remission_patient(), "2023-03-01")
    assert p["endocrine"].due == date(2024, 1, 1) and "stable remission since 2020-01-01" in p["endocrine"].reason
    assert p["review_visit"].due == date(2024, 1, 1)


@pytest.mark.parametrize(
    "pt, as_of, due",
    [
        (_remission_patient(extra_events=[event("relapse", "2022-06-01")]), "2023-03-01", "2023-07-01"),  # relapse
        (_remission_patient("2021-06-01"), "2021-12-31", "2021-12-01"),  # off treatment for less than 2 years
        (_remission_patient("2021-06-01"), "2022-01-01", "2022-06-01"),  # 2 years to the day: remission
    ],
)
def test_remission_boundaries(pt, as_of, due):
    item = plan(pt, as_of)["endocrine"]
    assert item.due == date.fromisoformat(due)
    assert ("remission" in item.reason) is (due == "2022-06-01")


def test_thrombosis_review_only_with_a_risk():
    base = patient(visit("2022-01-01", platelets=300))
    assert "thrombosis_review" not in plan(base, "2022-02-01")
    on_imid = replace(base, treatments=(treatment("lenalidomide_dexamethasone", "2022-01-05"),))
    item = plan(on_imid, "2022-06-01")["thrombosis_review"]
    assert item.due == date(2022, 4, 1) and item.status is Status.OVERDUE
    assert "on lenalidomide–dexamethasone (IMiD)" in item.reason
    high = patient(visit("2022-01-01", platelets=700))
    assert "thrombocytosis at the last count (2022-01-01)" in plan(high, "2022-02-01")["thrombosis_review"].reason


def test_visits_after_as_of_do_not_count_as_done():
    pt = patient(visit("2020-01-01", exams=[("echo", "normal")]), visit("2022-06-01", exams=[("echo", "normal")]))
    assert plan(pt, "2022-01-15")["echo"].last_done == date(2020, 1, 1)
    assert plan(pt, "2022-01-15")["echo"].status is Status.DUE


def test_dead_patient_has_no_follow_up():
    pt = patient(visit("2020-01-01"), events=[event("death", "2020-06-01")])
    assert schedule_for(pt, P, date(2021, 1, 1)) == ()
    assert len(schedule_for(pt, P, date(2020, 5, 1))) > 0


def test_waiver_leaves_the_item_out_and_lists_it_separately():
    pt = patient(visit("2020-01-01", platelets=300))
    waiver = Waiver("pft", "patient declines PFTs", "dr.house")
    items = schedule_for(pt, P, date(2020, 2, 1), (waiver,))
    assert "pft" not in {i.item for i in items} and "echo" in {i.item for i in items}
    (waived,) = waived_for(pt, P, date(2020, 2, 1), (waiver,))
    assert waived.item == "pft" and waived.waiver == waiver and waived.status is Status.NEVER_DONE
    assert waived.to_json()["waiver"] == {"reason": "patient declines PFTs", "who": "dr.house", "until": None}


def test_expired_waiver_no_longer_applies():
    pt = patient(visit("2020-01-01", platelets=300))
    waiver = Waiver("pft", "acute illness", "dr.x", until=date(2020, 1, 31))
    assert "pft" in {i.item for i in schedule_for(pt, P, date(2020, 2, 1), (waiver,))}
    assert "pft" not in {i.item for i in schedule_for(pt, P, date(2020, 1, 31), (waiver,))}


def test_worklist_item_json_and_sort_order():
    pt = patient(visit("2024-03-14", exams=[("echo", "abnormal")]), visit("2025-03-14", exams=[("echo", "abnormal")]),
                 name="Jane Example")
    items = sorted(schedule_for(pt, P, date(2026, 11, 21)), key=sort_key)
    echo = next(i for i in items if i.item == "echo")
    assert echo.to_json() == {
        "mrn": "H-000123", "name": "Jane Example", "item": "echo", "status": "overdue", "due": "2026-03-14",
        "last_done": "2025-03-14", "reason": "last result abnormal (since 2024-03-14): every 12 months",
    }
    assert [i.status.rank for i in items] == sorted(i.status.rank for i in items)
    assert isinstance(items[0], WorklistItem)


# --- defect 5: a suspected relapse restages -----------------------------------------------------


def _relapsing(*later_visits, events=(event("relapse", "2024-03-01"),)):  # noqa: B008 (an immutable tuple)
    return patient(
        visit("2022-01-10", vegf_plasma=900, m_protein=0.5, dlco_pct=85, pasp=30, lvef=60,
              exams=[("imaging", "abnormal")]),
        visit("2023-06-01", vegf_plasma=80, m_protein=0.0, ife="negative", exams=[("imaging", "normal")]),
        *later_visits,
        treatments=[treatment("lenalidomide_dexamethasone", "2022-01-20", "2023-01-20")], events=events)


def test_a_relapse_event_puts_restaging_due_at_once():
    p = plan(_relapsing(), "2024-03-05")
    item = p["restaging"]
    assert item.due == date(2024, 3, 1) and item.status is Status.DUE and item.last_done is None
    assert item.reason == ("relapse suspected on 2024-03-01 (relapse recorded): restage at once, complete within "
                           "1 month (DEFAULT): Imaging, VEGF, Haematology, Echo, Lung function, Review visit still needed")
    for component in ("imaging", "vegf", "hematology", "echo", "pft", "review_visit"):
        assert p[component].due <= date(2024, 3, 1), component  # each part due now at the latest
    # imaging was not due before 2024-06-01 (yearly): the relapse brings it to the relapse date
    assert p["imaging"].due == date(2024, 3, 1) and p["imaging"].status is Status.DUE
    assert p["imaging"].reason == "restaging: relapse suspected on 2024-03-01 (relapse recorded)"
    assert plan(_relapsing(), "2024-04-15")["restaging"].status is Status.OVERDUE


def test_restaging_lists_what_is_left_and_ends_when_complete():
    partly = _relapsing(visit("2024-03-01", vegf_plasma=400, ife="lambda", exams=[("imaging", "abnormal")]))
    item = plan(partly, "2024-03-10")["restaging"]
    assert item.reason.endswith(": Echo, Lung function, Review visit still needed")
    done = _relapsing(visit("2024-03-01", vegf_plasma=400, ife="lambda", exams=[("imaging", "abnormal")]),
                      visit("2024-03-15", pasp=32, dlco_pct=80), visit("2024-03-25"))
    p = plan(done, "2024-03-26")
    assert "restaging" not in p
    assert "restaging" not in {i.item for i in schedule_for(done, P, date(2024, 3, 26))}


def test_a_vegf_rise_restages_and_a_later_relapse_restages_again():
    rise = _relapsing(visit("2023-12-01", vegf_plasma=300), events=())
    # the relapse_suspected flag's triggers (after the VEGF response): VEGF back above its limit and risen
    assert plan(rise, "2023-12-05")["restaging"].reason.startswith(
        "relapse suspected on 2023-12-01 (VEGF elevation is present again (documented absent on 2023-06-01); "
        "VEGF (plasma) rose to 300 pg/mL (80 pg/mL at its nadir of 2023-06-01)): restage at once")
    both = _relapsing(visit("2023-12-01", vegf_plasma=300, ife="lambda", pasp=30, dlco_pct=84,
                            exams=[("imaging", "normal")]), visit("2023-12-20"))
    assert "restaging" not in plan(both, "2024-02-01")  # restaged after the rise; no relapse yet
    assert plan(both, "2024-03-02")["restaging"].due == date(2024, 3, 1)  # the relapse event asks again


def test_no_restaging_without_a_trigger():
    assert "restaging" not in plan(_relapsing(events=()), "2024-03-05")


# --- defect 11: follow-up ends at death; open lines end there -----------------------------------


def test_no_follow_up_after_death_and_open_lines_end_at_death():
    from poems_monitor.domain.course import clip, end_of

    pt = _relapsing(events=(event("relapse", "2024-03-01"), event("death", "2024-04-02")))
    pt = replace(pt, treatments=pt.treatments + (treatment("pomalidomide_dexamethasone", "2024-03-10"),))
    assert followup_plan(pt, P, date(2024, 4, 2)) == () and schedule_for(pt, P, date(2025, 1, 1)) == ()
    assert "restaging" in plan(pt, "2024-04-01")  # alive on the day before
    (_, open_line) = clip(pt, date(2024, 5, 1)).treatments
    assert end_of(open_line) == date(2024, 4, 2)
    assert clip(pt, date(2024, 4, 1)).treatments[1].stop is None  # still running the day before


def test_no_follow_up_after_care_is_transferred_until_a_visit_here_again():
    pt = _relapsing(events=(event("transferred", "2024-03-01"),))
    assert followup_plan(pt, P, date(2024, 3, 1)) == () and schedule_for(pt, P, date(2026, 1, 1)) == ()
    assert "review_visit" in plan(pt, "2024-02-28")  # followed here the day before
    back = replace(pt, visits=pt.visits + (visit("2024-09-02", platelets=300),))
    assert "review_visit" in plan(back, "2026-01-01")  # seen here again: followed again


def test_pending_since_the_first_pending_study():
    pt = patient(visit("2023-01-10", exams=[("echo", "normal")]), visit("2024-12-01", exams=[("echo", "pending")]),
                 visit("2025-01-10", exams=[("echo", "pending")]))
    assert plan(pt, "2025-01-20")["echo"].reason.endswith("; Echocardiogram pending since 2024-12-01")
    done_between = patient(visit("2023-01-10", exams=[("echo", "normal")]), visit("2024-12-01", exams=[("echo", "pending")]),
                           visit("2024-12-20", pasp=30), visit("2025-01-10", exams=[("echo", "pending")]))
    assert plan(done_between, "2025-01-20")["echo"].reason.endswith("; Echocardiogram pending since 2025-01-10")
