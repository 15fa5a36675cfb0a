"""Every flag kind of INTERFACES.md section 3, with the negative cases that matter clinically."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
try:  # tests/ may be a package (relative import) or plain folders (basename import)
    from .timeline_builders import BASELINE_FEATURES, event, obs, patient, treatment, visit
except ImportError:
    from timeline_builders import BASELINE_FEATURES, event, obs, patient, treatment, visit  # type: ignore[no-redef]

from poems_monitor.domain.flags import (
    Flag, FlagKind, Severity, compute_flags, flags_to_json, make_flag_id, relapse_triggers,
)
from poems_monitor.domain.protocol import default_protocol

P = default_protocol()
AS_OF = date(2030, 1, 1)


def flags(pt, kind: str | None = None, as_of: date = AS_OF, protocol=P):
    out = compute_flags(pt, protocol, as_of)
    return [f for f in out if kind is None or f.kind.value == kind]


def summary(pt, kind, as_of: date = AS_OF, protocol=P):
    return [(f.code, f.date.isoformat()) for f in flags(pt, kind, as_of, protocol)]


# --- new_feature / feature_recurred --------------------------------------------------------------


def test_new_feature_message_and_evidence_follow_the_contract():
    visits = [visit(f"2020-0{m}-01", features={"pleural_effusion": "absent"}) for m in range(1, 7)]
    pt = patient(*visits, visit("2021-05-02", features={"pleural_effusion": "present"}))
    (f,) = flags(pt, "new_feature")
    assert (f.code, f.date, f.severity, f.rule) == ("pleural_effusion", date(2021, 5, 2), Severity.WARNING, "new_feature")
    assert f.message == "Pleural effusion is new: absent or not seen at the 6 earlier visits"
    assert f.evidence["first_present"] == "2021-05-02" and f.evidence["last_absent"] == "2020-06-01"


@pytest.mark.parametrize(
    "states, expected",
    [
        (["present", "present"], []),  # present at the first visit: baseline, not new
        (["present", "absent", "absent"], []),
        (["absent", "present"], [("ascites", "2020-02-01")]),
        (["unknown", "unknown", "present"], [("ascites", "2020-03-01")]),  # not seen before: new
        (["absent", "present", "present", "absent", "present"], [("ascites", "2020-02-01")]),  # new only once
    ],
)
def test_new_feature(states, expected):
    pt = patient(*[visit(f"2020-0{i + 1}-01", features={"ascites": s}) for i, s in enumerate(states)])
    assert summary(pt, "new_feature") == expected


@pytest.mark.parametrize(
    "states, expected",
    [
        (["present", "absent", "present"], [("ascites", "2020-03-01")]),
        (["present", "unknown", "present"], []),  # never documented absent
        (["present", "absent", "unknown", "present"], [("ascites", "2020-04-01")]),
        (["present", "absent", "present", "present", "absent", "present"], [("ascites", "2020-03-01"), ("ascites", "2020-06-01")]),
        (["absent", "present"], []),  # that is new_feature, not a recurrence
    ],
)
def test_feature_recurred(states, expected):
    pt = patient(*[visit(f"2020-0{i + 1}-01", features={"ascites": s}) for i, s in enumerate(states)])
    assert summary(pt, "feature_recurred") == expected


def test_new_derived_feature_names_its_measurement():
    pt = patient(visit("2020-01-01", vegf_plasma=150), visit("2020-04-01", vegf_plasma=640))
    (f,) = flags(pt, "new_feature")
    assert f.code == "vegf_elevation"
    assert "VEGF (plasma) 640 pg/mL > 200 pg/mL [DSOUZA11] on 2020-04-01" in f.message


# --- criteria_met -----------------------------------------------------------------------------------


def test_criteria_met_once_at_the_first_fulfilled_visit():
    pt = patient(
        visit("2019-03-14", features=BASELINE_FEATURES),
        visit("2019-05-01", vegf_plasma=1240, features={"peripheral_edema": "present"}),
        visit("2019-08-01", vegf_plasma=1300, features={"ascites": "present"}),
    )
    (f,) = flags(pt, "criteria_met")
    assert f.date == date(2019, 5, 1) and f.severity is Severity.INFO
    assert "Polyradiculoneuropathy (2019-03-14)" in f.message and "VEGF elevation (2019-05-01)" in f.message
    assert {c["criterion"] for c in f.evidence["criteria"]} == {
        "polyneuropathy", "monoclonal_plasma_cell_disorder", "vegf_elevation", "extravascular_volume_overload"}


def test_no_criteria_met_with_diabetes_as_only_minor():
    pt = patient(visit("2019-03-14", vegf_plasma=900, features=BASELINE_FEATURES | {"diabetes": "present"}))
    assert flags(pt, "criteria_met") == []


# --- VEGF ------------------------------------------------------------------------------------------------

LEN_DEX = treatment("lenalidomide_dexamethasone", "2022-01-10", prophylaxis="aspirin")


def test_vegf_rise_message_names_value_nadir_line_and_dates():
    pt = patient(
        visit("2022-01-10", vegf_plasma=1240),
        visit("2022-04-01", vegf_plasma=500),
        visit("2023-06-01", vegf_plasma=300),
        visit("2024-03-02", vegf_plasma=640),
        treatments=[LEN_DEX],
    )
    (f,) = flags(pt, "vegf_rise")
    assert (f.code, f.date, f.severity) == ("vegf_plasma", date(2024, 3, 2), Severity.WARNING)
    assert f.message.startswith(
        "VEGF (plasma) 640 pg/mL on 2024-03-02 is 113 % above its nadir 300 pg/mL of 2023-06-01 "
        "since lenalidomide–dexamethasone started 2022-01-10")
    assert f.evidence["nadir"] == 300 and f.evidence["nadir_date"] == "2023-06-01"
    assert f.evidence["line_start"] == "2022-01-10"


@pytest.mark.parametrize(
    "series, expected",
    [
        ([300, 449], []),  # +49.7 %: below the 50 % rise
        ([300, 450], ["2020-02-01"]),  # exactly +50 %: a rise
        ([50, 90], []),  # +80 % but below the plasma upper reference limit 96.2
        ([300, 640, 700, 900], ["2020-02-01"]),  # not repeated while it stays risen
        ([300, 640, 200, 400], ["2020-02-01", "2020-04-01"]),  # fell back then rose again from the new nadir
    ],
)
def test_vegf_rise_thresholds_and_runs(series, expected):
    pt = patient(*[visit(f"2020-0{i + 1}-01", vegf_plasma=v) for i, v in enumerate(series)])
    assert [d for _, d in summary(pt, "vegf_rise")] == expected


def test_serum_and_plasma_vegf_are_never_compared():
    # plasma nadir 300, then a serum value of 1500 (5 × the plasma nadir, above serum ULN 1040):
    # no rise, because serum has no earlier value of its own; a specimen change instead.
    pt = patient(
        visit("2023-01-01", vegf_plasma=900),
        visit("2023-06-01", vegf_plasma=300),
        visit("2024-01-01", vegf_serum=1500),
        visit("2024-06-01", vegf_plasma=320),
        treatments=[treatment("melphalan_dexamethasone", "2023-01-02")],
    )
    assert flags(pt, "vegf_rise") == []
    assert summary(pt, "specimen_change") == [("vegf_serum", "2024-01-01"), ("vegf_plasma", "2024-06-01")]
    # and each series keeps its own nadir: a later serum rise is measured against serum only
    pt2 = replace(pt, visits=pt.visits + (visit("2024-09-01", vegf_serum=2400),))
    (rise,) = flags(pt2, "vegf_rise")
    assert (rise.code, rise.evidence["nadir"]) == ("vegf_serum", 1500)


def test_vegf_nadir_is_not_reset_by_a_new_line_of_therapy():
    # INTERFACES 3 (amended 2026-12): the nadir runs from the first line's start, or from the
    # previous rise of that specimen; starting another line does not reset it.
    pt = patient(
        visit("2020-01-01", vegf_plasma=1000),
        visit("2020-06-01", vegf_plasma=200),  # nadir on line 1
        visit("2021-01-01", vegf_plasma=700),  # rise (+250 %): the next nadir is counted from here
        visit("2021-02-01", vegf_plasma=800),  # line 2 starts: +14 % over the new nadir 700
        visit("2021-05-01", vegf_plasma=400),  # new nadir
        visit("2021-08-01", vegf_plasma=500),  # +25 %: no rise
        visit("2021-11-01", vegf_plasma=600),  # +50 % over 400: a rise on line 2
        treatments=[treatment("melphalan_dexamethasone", "2020-01-02", "2020-12-01"),
                    treatment("lenalidomide_dexamethasone", "2021-02-01")],
    )
    got = flags(pt, "vegf_rise")
    assert [(f.date.isoformat(), f.evidence["nadir"], f.evidence["nadir_since"]) for f in got] == [
        ("2021-01-01", 200, "2020-01-02"), ("2021-11-01", 400, "2021-01-01")]
    assert "since the previous rise on 2021-01-01" in got[1].message


def test_vegf_rise_across_a_treatment_interruption_is_a_rise():
    # Defect 1 of issue 9: pausing then restarting the same drug reset the nadir, so this relapse
    # was silent. Nadir 80 on lenalidomide; 150 on the restart day is +88 %.
    pt = patient(
        visit("2020-01-01", vegf_plasma=900),
        visit("2020-06-01", vegf_plasma=80),
        visit("2021-03-01", vegf_plasma=150),  # drawn on the restart day, after a 3-month pause
        visit("2021-06-01", vegf_plasma=170),
        treatments=[treatment("lenalidomide_dexamethasone", "2020-01-02", "2020-12-01"),
                    treatment("lenalidomide_dexamethasone", "2021-03-01")],
    )
    (f,) = flags(pt, "vegf_rise")
    assert (f.date, f.evidence["nadir"], f.evidence["nadir_date"]) == (date(2021, 3, 1), 80, "2020-06-01")
    assert "since lenalidomide–dexamethasone started 2020-01-02" in f.message
    assert "no line of therapy was active" in f.message


def test_vegf_rise_during_a_pause_is_a_rise():
    pt = patient(
        visit("2020-01-01", vegf_plasma=900), visit("2020-06-01", vegf_plasma=90),
        visit("2020-12-01", vegf_plasma=95), visit("2021-02-01", vegf_plasma=160),  # off treatment since 2020-11
        treatments=[treatment("lenalidomide_dexamethasone", "2020-01-02", "2020-11-01")],
    )
    assert summary(pt, "vegf_rise") == [("vegf_plasma", "2021-02-01")]


def test_a_new_line_does_not_hide_a_rise_over_the_previous_lines_nadir():
    pt = patient(
        visit("2020-01-01", vegf_plasma=1000),
        visit("2020-06-01", vegf_plasma=200),  # nadir on line 1
        visit("2021-02-01", vegf_plasma=250),  # line 2 starts (pre-treatment value)
        visit("2021-05-01", vegf_plasma=400),  # 2 x the nadir 200: a rise although line 2 has started
        visit("2021-08-01", vegf_plasma=300),
        visit("2021-11-01", vegf_plasma=460),  # +53 % over 300, the lowest since the previous rise
        treatments=[treatment("melphalan_dexamethasone", "2020-01-02", "2020-12-01"),
                    treatment("bortezomib_dexamethasone", "2021-02-01")],
    )
    got = flags(pt, "vegf_rise")
    assert [(f.date.isoformat(), f.evidence["nadir"], f.evidence["line_regimen"]) for f in got] == [
        ("2021-05-01", 200, "bortezomib_dexamethasone"), ("2021-11-01", 300, "bortezomib_dexamethasone")]


def test_vegf_values_before_the_first_line_are_not_its_nadir():
    pt = patient(
        visit("2019-06-01", vegf_plasma=100),
        visit("2019-09-01", vegf_plasma=140),  # +40 %: no rise before treatment
        visit("2020-06-01", vegf_plasma=160),  # first value on the line: 100 before it is not its nadir
        visit("2020-09-01", vegf_plasma=250),  # +56 % over 160
        treatments=[treatment("melphalan_dexamethasone", "2020-01-02")],
    )
    assert summary(pt, "vegf_rise") == [("vegf_plasma", "2020-09-01")]


def test_vegf_drawn_on_the_first_start_day_is_compared_as_pre_treatment():
    pt = patient(visit("2019-06-01", vegf_plasma=150), visit("2020-01-02", vegf_plasma=900),
                 visit("2020-06-01", vegf_plasma=300), visit("2020-09-01", vegf_plasma=420),
                 treatments=[treatment("melphalan_dexamethasone", "2020-01-02")])
    # 900 on the start day is a rise over the untreated 150; 420 is +40 % over 300: no second rise
    assert summary(pt, "vegf_rise") == [("vegf_plasma", "2020-01-02")]


def test_vegf_rise_without_any_treatment_uses_the_whole_series():
    pt = patient(visit("2020-01-01", vegf_plasma=300), visit("2020-06-01", vegf_plasma=700))
    (f,) = flags(pt, "vegf_rise")
    assert "no line of therapy recorded before it" in f.message


def test_supportive_treatment_does_not_reset_the_nadir():
    pt = patient(
        visit("2020-01-01", vegf_plasma=300), visit("2020-06-01", vegf_plasma=700),
        treatments=[treatment("corticosteroids", "2020-03-01")],
    )
    assert summary(pt, "vegf_rise") == [("vegf_plasma", "2020-06-01")]


@pytest.mark.parametrize(
    "series, expected",
    [
        # baseline 1240 on the start day; 600 is a 52 % fall (response), later values not repeated
        ([1240, 600, 500], [("2022-04-01", True, False)]),
        ([1240, 700], []),  # 44 % fall: no response
        ([1240, 600, 90], [("2022-04-01", True, False), ("2022-07-01", False, True)]),  # then normalised
        ([150, 90], [("2022-04-01", False, True)]),  # a 40 % fall, but normalised (<= 96.2 pg/mL)
        ([80, 30], []),  # baseline within the reference range: a 62 % fall is no response
    ],
)
def test_vegf_response(series, expected):
    dates = ["2022-01-10", "2022-04-01", "2022-07-01"]
    pt = patient(*[visit(dates[i], vegf_plasma=v) for i, v in enumerate(series)], treatments=[LEN_DEX])
    got = [(f.date.isoformat(), f.evidence["fall"], f.evidence["normalised"]) for f in flags(pt, "vegf_response")]
    assert got == expected


def test_vegf_response_needs_a_pre_treatment_value_and_a_treatment():
    # no value on or before the start: no baseline, no response
    pt = patient(visit("2022-04-01", vegf_plasma=1000), visit("2022-07-01", vegf_plasma=80),
                 treatments=[treatment("lenalidomide_dexamethasone", "2022-03-01")])
    assert flags(pt, "vegf_response") == []
    # no treatment at all: a fall is not a response
    pt = patient(visit("2022-01-01", vegf_plasma=1000), visit("2022-07-01", vegf_plasma=80))
    assert flags(pt, "vegf_response") == []


def test_vegf_response_message():
    pt = patient(visit("2022-01-05", vegf_plasma=1240), visit("2023-06-01", vegf_plasma=150), treatments=[LEN_DEX])
    (f,) = flags(pt, "vegf_response")
    assert f.message == (
        "VEGF (plasma) 150 pg/mL on 2023-06-01 is 88 % below its pre-treatment baseline 1240 pg/mL of 2022-01-05 "
        "(response threshold 50 % (DEFAULT)), since lenalidomide–dexamethasone started 2022-01-10")


def test_vegf_response_from_a_baseline_older_than_the_response_limit_says_so():
    """The response table refuses a baseline older than `response_baseline_max_months` (3,
    DEFAULT); the flag on the same values must not read as a plain response: it names the
    baseline's age and that the table calls the line not evaluable (issue 9)."""
    from poems_monitor.domain.response import assess_response

    pt = patient(visit("2021-06-01", vegf_plasma=1240), visit("2022-04-01", vegf_plasma=300), treatments=[LEN_DEX])
    (f,) = flags(pt, "vegf_response")
    assert f.message.endswith(
        "since lenalidomide–dexamethasone started 2022-01-10; caution: the baseline was taken 223 days before the "
        "line started, more than the 3 months (DEFAULT) a response baseline may be old, so the response table has "
        "no baseline and judges no response from it: confirm against a recent pre-treatment value")
    assert (f.evidence["baseline_too_old"], f.evidence["baseline_days_before_line"]) == (True, 223)
    (line,) = assess_response(pt, P, AS_OF)
    assert line.vegf.details["baseline"] is None  # the same rule refuses the same baseline
    assert line.vegf.category == "not_evaluable" and "(the last one, 1240 pg/mL on 2021-06-01, is older)" in line.vegf.reason
    # a baseline within the limit: a plain response, and the table agrees it is one
    pt = patient(visit("2021-11-01", vegf_plasma=1240), visit("2022-04-01", vegf_plasma=300), treatments=[LEN_DEX])
    (f,) = flags(pt, "vegf_response")
    assert "caution" not in f.message and f.evidence["baseline_too_old"] is False
    (line,) = assess_response(pt, P, AS_OF)
    assert line.vegf.category == "partial" and line.vegf.details["baseline"]["date"] == "2021-11-01"


@pytest.mark.parametrize(
    "sequence, expected",
    [
        (["plasma", "plasma", "plasma"], []),
        (["plasma", "serum"], [("vegf_serum", "2020-02-01")]),
        (["plasma", "serum", "plasma"], [("vegf_serum", "2020-02-01"), ("vegf_plasma", "2020-03-01")]),
        (["plasma", None, "serum"], [("vegf_serum", "2020-03-01")]),  # a visit without VEGF in between
        (["both", "plasma"], []),  # dropping one specimen is no change of series
    ],
)
def test_specimen_change(sequence, expected):
    visits = []
    for i, s in enumerate(sequence):
        values = {"plasma": {"vegf_plasma": 300}, "serum": {"vegf_serum": 900},
                  "both": {"vegf_plasma": 300, "vegf_serum": 900}, None: {"platelets": 300}}[s]
        visits.append(visit(f"2020-0{i + 1}-01", **values))
    assert summary(patient(*visits), "specimen_change") == expected


def test_lab_change_within_one_specimen_is_a_specimen_change_flag():
    pt = patient(visit("2020-01-01", obs("vegf_plasma", 300, lab="Mayo")),
                 visit("2020-04-01", obs("vegf_plasma", 320, lab="Mayo")),
                 visit("2020-07-01", obs("vegf_plasma", 330, lab="UCLH")))
    (f,) = flags(pt, "specimen_change")
    assert f.date == date(2020, 7, 1) and f.evidence["change"] == "lab" and f.evidence["previous_lab"] == "Mayo"


# --- thrombocytosis / polycythemia runs ------------------------------------------------------------


@pytest.mark.parametrize(
    "platelets, expected",
    [
        ([300, 451, 520, 600], ["2020-02-01"]),  # one run: flagged once, not at every later visit
        ([500, 300, 480], ["2020-01-01", "2020-03-01"]),  # two runs
        ([500, None, 520], ["2020-01-01"]),  # a visit without a count does not end the run
        ([450, 300], []),  # 450 is not above 450
    ],
)
def test_thrombocytosis_at_the_first_visit_of_each_run(platelets, expected):
    visits = [visit(f"2020-0{i + 1}-01", **({"platelets": v} if v is not None else {})) for i, v in enumerate(platelets)]
    assert [d for _, d in summary(patient(*visits), "thrombocytosis")] == expected


@pytest.mark.parametrize(
    "sex, hb, expected",
    [
        ("female", 16.1, 1), ("female", 16.0, 0), ("male", 16.1, 0), ("male", 16.6, 1),
        ("unknown", 19.0, 0), ("other", 19.0, 0),  # sex-specific limits are not applied
    ],
)
def test_polycythemia_is_sex_specific(sex, hb, expected):
    pt = patient(visit("2020-01-01", hemoglobin=hb), visit("2020-02-01", hemoglobin=hb), sex=sex)
    assert len(flags(pt, "polycythemia")) == expected
    assert len([f for f in flags(pt, "thrombosis_watch") if f.code == "polycythemia_untreated"]) == expected


def test_feature_recurred_is_not_raised_for_thrombocytosis_runs():
    pt = patient(visit("2020-01-01", platelets=500), visit("2020-02-01", platelets=300), visit("2020-03-01", platelets=500))
    assert flags(pt, "feature_recurred") == []
    assert len(flags(pt, "thrombocytosis")) == 2


def test_thrombocytosis_is_raised_again_when_the_run_passes_the_critical_limit():
    pt = patient(visit("2020-01-01", platelets=500), visit("2020-02-01", platelets=800),
                 visit("2020-03-01", platelets=1100), visit("2020-04-01", platelets=1200),  # critical > 1000
                 visit("2020-05-01", platelets=300), visit("2020-06-01", platelets=1050))  # new run, critical at once
    got = flags(pt, "thrombocytosis")
    assert [(f.date.isoformat(), f.severity) for f in got] == [
        ("2020-01-01", Severity.WARNING), ("2020-03-01", Severity.CRITICAL), ("2020-06-01", Severity.CRITICAL)]
    assert "above the critical limit 1000" in got[1].message


def test_thrombocytosis_flag_says_whether_it_counts_for_the_criteria():
    pt = patient(visit("2020-01-01", platelets=500, features={"thrombocytosis": "absent"}),
                 visit("2020-06-01", platelets=300), visit("2020-09-01", platelets=520), visit("2020-10-01", platelets=530))
    first, second = flags(pt, "thrombocytosis")
    assert first.evidence["criteria"] == "clinician_absent"
    assert "entered as absent by the clinician at this visit" in first.message
    assert second.evidence["criteria"] == "unconfirmed" and "not yet confirmed" in second.message
    # no new_feature beside the run flag, not even when the second count confirms it
    assert flags(pt, "new_feature") == []


# --- PFT decline --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "series, expected",
    [
        ([("2020-01-01", 90), ("2021-01-01", 80)], ["2021-01-01"]),  # 10 points in 12 months
        ([("2020-01-01", 90), ("2021-01-01", 81)], []),  # 9 points
        # best outside the 24-month window, 84 > floor, but 11 below the last value before the gap
        ([("2020-01-01", 95), ("2022-02-01", 84)], ["2022-02-01"]),
        ([("2020-01-01", 93), ("2022-02-01", 84)], []),  # 9 below it after the gap
        ([("2020-01-01", 95), ("2021-01-01", 90), ("2022-02-01", 79)], ["2022-02-01"]),  # 11 below 90, and below floor
        ([("2020-01-01", 100), ("2021-01-01", 88), ("2022-01-01", 87)], ["2021-01-01"]),  # not repeated
        ([("2020-01-01", 82), ("2021-01-01", 79)], ["2021-01-01"]),  # crossed the 80 % floor
        ([("2020-01-01", 70), ("2021-01-01", 68)], []),  # already below the floor at baseline: no crossing
    ],
)
def test_pft_decline(series, expected):
    pt = patient(*[visit(day, dlco_pct=v) for day, v in series])
    assert [d for _, d in summary(pt, "pft_decline")] == expected


@pytest.mark.parametrize(
    "series, expected",
    [
        # Defect 4 of issue 9: 72 -> 58 -> 45 raised one flag. Each further 10-point fall from the
        # value of the previous pft_decline raises it again.
        ([("2020-01-01", 72), ("2020-07-01", 58), ("2021-01-01", 45)], ["2020-07-01", "2021-01-01"]),
        ([("2020-01-01", 72), ("2020-07-01", 58), ("2021-01-01", 50), ("2021-07-01", 48)], ["2020-07-01", "2021-07-01"]),
        ([("2020-01-01", 72), ("2020-07-01", 58), ("2021-01-01", 49)], ["2020-07-01"]),  # 9 below 58
        # a 27-point fall after a gap longer than the 24-month window
        ([("2018-01-01", 72), ("2022-01-01", 45)], ["2022-01-01"]),
        ([("2018-01-01", 72), ("2022-01-01", 63)], []),  # 9 points after the gap
        ([("2018-01-01", 95), ("2022-01-01", 85), ("2022-06-01", 84)], ["2022-01-01"]),  # gap rule once
    ],
)
def test_pft_decline_is_raised_again(series, expected):
    pt = patient(*[visit(day, dlco_pct=v) for day, v in series])
    assert [d for _, d in summary(pt, "pft_decline")] == expected


def test_pft_decline_after_a_gap_names_the_value_before_it():
    pt = patient(visit("2018-01-01", dlco_pct=72), visit("2022-01-01", dlco_pct=45))
    (f,) = flags(pt, "pft_decline")
    assert f.evidence["after_gap"] is True and f.evidence["previous"] == 72
    assert "27 points below the last value 72 % of 2018-01-01, measured more than 24 months earlier" in f.message


def test_further_pft_decline_names_the_previous_flag():
    pt = patient(visit("2020-01-01", dlco_pct=72), visit("2020-07-01", dlco_pct=58), visit("2021-01-01", dlco_pct=45))
    second = flags(pt, "pft_decline")[1]
    assert second.evidence["further_fall"] is True and second.evidence["previous_flag_value"] == 58
    assert "13 points below 58 % of 2020-07-01, the value of the previous decline flag" in second.message


def test_pft_decline_fvc_message():
    pt = patient(visit("2020-01-01", fvc_pct=100), visit("2021-06-01", fvc_pct=88))
    (f,) = flags(pt, "pft_decline")
    assert f.code == "fvc_pct"
    assert f.message == ("FVC 88 % predicted on 2021-06-01 is 12 points below its best 100 % of 2020-01-01 "
                         "in the previous 24 months (threshold 10 points (DEFAULT))")


# --- echo ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "echoes, expected",
    [
        ([{"pasp": 35}, {"pasp": 49}], ["2020-07-01"]),  # risen 14 mmHg since the previous echo (step 10, DEFAULT)
        ([{"pasp": 35}, {"pasp": 44}], []),  # 9 mmHg: no rise, below 50
        ([{"pasp": 45}, {"pasp": 50}], ["2020-07-01"]),  # at the PH threshold sPAP >= 50 [LI13]
        ([{"pasp": 55}, {"pasp": 56}, {"pasp": 40}, {"pasp": 52}], ["2020-01-01", "2021-07-01"]),  # once per run
        ([{"lvef": 60}, {"lvef": 50}], []),  # 50 % is preserved [HL7-LT]
        ([{"lvef": 60}, {"lvef": 49}, {"lvef": 45}], ["2020-07-01"]),
        ([{"pasp": 30, "lvef": 60}, {}, {"pasp": 42}], ["2021-01-01"]),  # a visit without echo in between
    ],
)
def test_echo_abnormal(echoes, expected):
    dates = ["2020-01-01", "2020-07-01", "2021-01-01", "2021-07-01"]
    pt = patient(*[visit(dates[i], **values) for i, values in enumerate(echoes)])
    assert [d for _, d in summary(pt, "echo_abnormal")] == expected


def test_echo_abnormal_message_names_each_reason_with_its_source():
    pt = patient(visit("2020-01-01", pasp=38, lvef=62), visit("2020-07-01", pasp=52, lvef=44))
    (f,) = flags(pt, "echo_abnormal")
    assert (f.code, f.severity) == ("echo", Severity.WARNING)
    assert f.message == (
        "Echo on 2020-07-01: PASP 52 mmHg is at or above 50 mmHg (pulmonary hypertension threshold [LI13]); "
        "PASP rose 14 mmHg since the previous echo (38 mmHg on 2020-01-01; step 10 mmHg (DEFAULT)); "
        "LVEF 44 % is below 50 % ([HL7-LT])")
    assert f.evidence["reasons"] == ["pasp_high", "pasp_rise", "lvef_low"]
    assert f.evidence["previous_pasp"] == 38 and f.evidence["previous_pasp_date"] == "2020-01-01"


def test_echo_thresholds_come_from_the_protocol():
    pt = patient(visit("2020-01-01", pasp=40), visit("2020-07-01", pasp=45))
    assert flags(pt, "echo_abnormal") == []
    assert len(flags(pt, "echo_abnormal", protocol=replace(P, pasp_pulmonary_hypertension=45.0))) == 1
    assert len(flags(pt, "echo_abnormal", protocol=replace(P, pasp_rise_step=5.0))) == 1


# --- relapse suspected ----------------------------------------------------------------------------------

RESPONDING = (  # lenalidomide from 2020-01-02; VEGF 900 -> 300: a response on 2020-04-01
    visit("2020-01-01", vegf_plasma=900, features=BASELINE_FEATURES | {"ascites": "present", "pleural_effusion": "absent"}),
    visit("2020-04-01", vegf_plasma=300, features={"ascites": "absent", "pleural_effusion": "absent"}),
    visit("2020-10-01", vegf_plasma=90, features={"ascites": "absent"}),
)
LEN = treatment("lenalidomide_dexamethasone", "2020-01-02")


def test_relapse_suspected_after_a_response_names_its_triggers_and_the_response():
    pt = patient(*RESPONDING, visit("2021-04-01", vegf_plasma=95, features={"ascites": "present", "pleural_effusion": "present"}),
                 treatments=[LEN])
    (f,) = flags(pt, "relapse_suspected")
    assert (f.code, f.date, f.severity) == ("relapse", date(2021, 4, 1), Severity.WARNING)
    assert [(t["kind"], t["code"]) for t in f.evidence["triggers"]] == [
        ("feature_recurred", "ascites"), ("new_feature", "pleural_effusion")]
    # the most recent response before the trigger is named (VEGF normalised on 2020-10-01)
    assert f.evidence["after_response"] == {"kind": "vegf_response", "code": "vegf_plasma", "date": "2020-10-01"}
    assert f.message.startswith("Relapse suspected on 2021-04-01: ascites is present again (documented absent on "
                                "2020-10-01); pleural effusion is new; after a response on 2020-10-01 (VEGF response, "
                                "VEGF (plasma)). Restaging is due from 2021-04-01")


def test_vegf_rise_after_a_response_is_a_relapse_trigger():
    pt = patient(*RESPONDING, visit("2021-04-01", vegf_plasma=160), treatments=[LEN])
    assert [(t.date.isoformat(), t.kind, t.code) for t in relapse_triggers(pt, P, AS_OF)] == [
        ("2021-04-01", "vegf_rise", "vegf_plasma")]
    assert summary(pt, "relapse_suspected") == [("relapse", "2021-04-01")]


def test_no_relapse_suspected_without_a_response_first():
    # a rising VEGF and a new effusion on a line that never responded: worth flagging as such
    # (vegf_rise, new_feature), but there is nothing to relapse from
    pt = patient(visit("2020-01-01", vegf_plasma=900, features={"pleural_effusion": "absent"}),
                 visit("2020-04-01", vegf_plasma=800),
                 visit("2020-07-01", vegf_plasma=1300, features={"pleural_effusion": "present"}), treatments=[LEN])
    assert flags(pt, "vegf_rise") and flags(pt, "new_feature")
    assert relapse_triggers(pt, P, AS_OF) == () and flags(pt, "relapse_suspected") == []


def test_a_non_criteria_feature_is_no_relapse_trigger():
    pt = patient(*RESPONDING, visit("2021-04-01", features={"diarrhea": "present", "diabetes": "present",
                                                             "cherry_angioma": "present"}), treatments=[LEN])
    assert flags(pt, "new_feature") and flags(pt, "relapse_suspected") == []


def test_a_relapse_or_progression_event_is_always_a_trigger():
    pt = patient(visit("2020-01-01", vegf_plasma=900), treatments=[LEN],
                 events=[event("progression", "2020-03-01", "PET: new lesion"), event("relapse", "2022-05-01")])
    got = relapse_triggers(pt, P, AS_OF)
    assert [(t.date.isoformat(), t.kind, t.code, t.after_response) for t in got] == [
        ("2020-03-01", "event", "progression", None), ("2022-05-01", "event", "relapse", None)]
    assert summary(pt, "relapse_suspected") == [("relapse", "2020-03-01"), ("relapse", "2022-05-01")]
    assert "progression recorded (PET: new lesion)" in flags(pt, "relapse_suspected")[0].message
    # as-of cuts later records, as for every flag
    assert [t.date.isoformat() for t in relapse_triggers(pt, P, date(2021, 1, 1))] == ["2020-03-01"]


# --- neuropathy -------------------------------------------------------------------------------------------------


def test_neuropathy_worse_each_step_and_names_a_neurotoxic_regimen():
    pt = patient(
        visit("2020-01-01", onls=3), visit("2020-04-01", onls=4), visit("2020-07-01", onls=4), visit("2020-10-01", onls=6),
        treatments=[treatment("thalidomide_dexamethasone", "2020-02-01")],
    )
    got = flags(pt, "neuropathy_worse")
    assert [(f.date.isoformat(), f.evidence["previous"]) for f in got] == [("2020-04-01", 3), ("2020-10-01", 4)]
    assert got[0].message == ("ONLS total 4 on 2020-04-01 is 1 point worse than the previous score 3 of 2020-01-01 "
                              "while on thalidomide–dexamethasone (can worsen neuropathy [DISP23])")


def test_onls_total_is_computed_from_arm_and_leg():
    pt = patient(visit("2020-01-01", onls_arm=1, onls_leg=2), visit("2020-04-01", onls_arm=2, onls_leg=2))
    assert summary(pt, "neuropathy_worse") == [("onls", "2020-04-01")]


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([6, 5, 4, 3], ["2020-04-01"]),  # improved once per run, not at every later visit
        ([6, 6, 6], []),
        ([6, 5, 6, 5], ["2020-04-01", "2020-10-01"]),  # back to baseline, then improved again
    ],
)
def test_neuropathy_improved_against_baseline(scores, expected):
    dates = ["2020-01-01", "2020-04-01", "2020-07-01", "2020-10-01"]
    pt = patient(*[visit(dates[i], incat=s) for i, s in enumerate(scores)],
                 treatments=[treatment("melphalan_dexamethasone", "2020-01-02")])
    assert [d for _, d in summary(pt, "neuropathy_improved")] == expected


def test_neuropathy_baseline_is_the_score_before_the_latest_line():
    pt = patient(
        visit("2020-01-01", onls=8), visit("2021-01-01", onls=4), visit("2022-01-01", onls=6),
        visit("2022-06-01", onls=6),
        treatments=[treatment("melphalan_dexamethasone", "2020-01-05", "2020-12-01"),
                    treatment("lenalidomide_dexamethasone", "2022-01-02")],
    )
    # 6 at 2022-06 is 2 better than 8 (first baseline) but not better than 6, the line-2 baseline
    assert summary(pt, "neuropathy_improved") == [("onls", "2021-01-01")]


# --- thrombosis watch -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "regimen, prophylaxis, flagged",
    [
        ("lenalidomide_dexamethasone", None, True),
        ("lenalidomide_dexamethasone", "none", True),
        ("thalidomide_dexamethasone", "unknown", True),
        ("pomalidomide_dexamethasone", "aspirin", False),
        ("lenalidomide_dexamethasone", "lmwh", False),
        ("bortezomib_dexamethasone", "none", False),  # not an IMiD
    ],
)
def test_thrombosis_watch_imid_without_prophylaxis(regimen, prophylaxis, flagged):
    pt = patient(visit("2020-01-01"), treatments=[treatment(regimen, "2020-02-01", prophylaxis=prophylaxis)])
    got = [f for f in flags(pt, "thrombosis_watch") if f.rule == "thrombosis_watch_imid"]
    assert len(got) == int(flagged)
    if flagged:
        assert got[0].severity is Severity.CRITICAL and got[0].date == date(2020, 2, 1) and got[0].code == regimen


def test_thrombosis_watch_each_thrombotic_event_once():
    pt = patient(visit("2020-01-01"), events=[event("dvt", "2020-03-01"), event("relapse", "2020-05-01"),
                                               event("stroke", "2021-01-01")])
    assert summary(pt, "thrombosis_watch") == [("dvt", "2020-03-01"), ("stroke", "2021-01-01")]


def test_thrombosis_watch_thrombocytosis_only_while_untreated_and_once_per_run():
    pt = patient(
        visit("2020-01-01", platelets=600), visit("2020-02-01", platelets=650),  # untreated run: one flag
        visit("2020-06-01", platelets=300),
        visit("2020-09-01", platelets=700),  # new run, but on therapy: no watch flag
        treatments=[treatment("melphalan_dexamethasone", "2020-03-01")],
    )
    watch = [f for f in flags(pt, "thrombosis_watch") if f.code == "thrombocytosis_untreated"]
    assert [f.date.isoformat() for f in watch] == ["2020-01-01"]
    assert [d for _, d in summary(pt, "thrombocytosis")] == ["2020-01-01", "2020-09-01"]


# --- as_of, identity, JSON ---------------------------------------------------------------------------------------------


def test_only_records_on_or_before_as_of_count():
    pt = patient(
        visit("2020-01-01", features={"ascites": "absent"}),
        visit("2020-06-01", features={"ascites": "present"}),
        events=[event("dvt", "2020-07-01")],
        treatments=[treatment("lenalidomide_dexamethasone", "2020-08-01", prophylaxis="none")],
    )
    assert flags(pt, as_of=date(2020, 5, 31)) == []
    assert [f.kind.value for f in flags(pt, as_of=date(2020, 6, 1))] == ["new_feature"]
    assert len(flags(pt, as_of=date(2020, 8, 1))) == 3


def test_flag_id_is_stable_and_distinct():
    pt = patient(visit("2020-01-01", platelets=600), visit("2020-02-01", features={"ascites": "present"}))
    first = flags(pt)
    again = flags(pt, as_of=date(2031, 1, 1))
    assert [f.flag_id for f in first] == [f.flag_id for f in again]
    assert len({f.flag_id for f in first}) == len(first)
    f = first[0]
    assert f.flag_id == make_flag_id(f.mrn, f.kind.value, f.code, f.date)
    assert len(f.flag_id) == 16


def test_flag_json_matches_the_contract():
    pt = patient(visit("2020-01-01"), visit("2020-02-01", features={"ascites": "present"}))
    doc = flags_to_json(compute_flags(pt, P, date(2026, 11, 21)), date(2026, 11, 21))
    assert doc["as_of"] == "2026-11-21"
    (item,) = doc["flags"]
    assert set(item) >= {"mrn", "kind", "code", "date", "severity", "message", "rule", "evidence"}
    assert item["kind"] == "new_feature" and item["date"] == "2020-02-01" and item["severity"] == "warning"


def test_flag_is_frozen():
    f = Flag("H-1", FlagKind.NEW_FEATURE, "ascites", date(2020, 1, 1), Severity.INFO, "m", "new_feature")
    with pytest.raises(Exception):  # noqa: B017 (FrozenInstanceError; any refusal will do)
        f.code = "x"  # type: ignore[misc]


def test_protocol_threshold_changes_the_rule():
    strict = replace(P, platelets_high=600.0)
    pt = patient(visit("2020-01-01", platelets=550))
    assert flags(pt, "thrombocytosis", protocol=strict) == []
    assert len(flags(pt, "thrombocytosis")) == 1


def test_every_flag_kind_has_a_label_for_the_screens():
    from poems_monitor.domain.catalogue import FLAG_KIND_NAMES

    missing = [k.value for k in FlagKind if k.value not in FLAG_KIND_NAMES]
    assert missing == []
    assert FLAG_KIND_NAMES["echo_abnormal"] == "Echo abnormal"
    assert FLAG_KIND_NAMES["relapse_suspected"] == "Relapse suspected"
