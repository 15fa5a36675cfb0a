"""End to end: hand-built POEMS courses go through `import`, then `flags` and `worklist`, as a
clinic would run them, and produce exactly the flags and follow-up items a physician expects.

The expectations below were written from the course and the shipped protocol defaults (not copied
from output); each comment says why. Defaults used: VEGF, haematology, ONLS and review every 3
months in the first year of a line and every 6 months later; endocrine every 6 months (12 in a
stable remission of 2 years off therapy); review every 12 months in stable remission; echo every
24 months while normal (6 in the first year after an abnormal one); PFT every 24 months while
normal, 12 while abnormal; imaging 3 months after radiotherapy or the end of a line, 12 months
after ASCT, yearly for 5 years after the last line started, and when VEGF rises; thrombosis
review 3-monthly while a risk is present; "due soon" 30 days before the due date, "due" for 30
days from it, then "overdue". Plasma VEGF elevated above 200, upper reference 96.2; serum 1040.
An item is done only by a resulted study of what it is for (INTERFACES 4, amended 2026-12): a
pending exam completes nothing, the PFT needs a DLCO, haematology needs the monoclonal work-up
(M-protein, IFE or FLC; the courses 01-07 record blood counts only). A relapse event or a VEGF
rise puts `restaging` due at once. Nothing is scheduled, or recorded, after a death.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

COURSES = Path(__file__).resolve().parents[1] / "data" / "courses"


def run(db: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "poems_monitor", *args, "--db", str(db)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def flags_of(db: Path, mrn: str, as_of: str) -> list[tuple[str, str, str]]:
    doc = json.loads(run(db, "flags", "--mrn", mrn, "--as-of", as_of, "--json").stdout)
    assert doc["as_of"] == as_of
    for f in doc["flags"]:  # every flag is explainable and has the documented fields
        assert f["mrn"] == mrn and f["rule"] and f["message"] and isinstance(f["evidence"], dict)
        assert f["severity"] in ("info", "warning", "critical") and len(f["flag_id"]) == 16
    return sorted((f["kind"], f["code"], f["date"]) for f in doc["flags"])


def worklist_of(db: Path, mrn: str, as_of: str) -> list[tuple[str, str, str]]:
    doc = json.loads(run(db, "worklist", "--as-of", as_of, "--json").stdout)
    assert doc["as_of"] == as_of and set(doc) == {"as_of", "items"}
    rows = [i for i in doc["items"] if i["mrn"] == mrn]
    for i in rows:
        assert set(i) == {"mrn", "name", "item", "status", "due", "last_done", "reason"} and i["reason"]
    return sorted((i["item"], i["status"], i["due"]) for i in rows)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory) -> Path:
    """One clinic database holding every course, each imported through the command line."""
    db = tmp_path_factory.mktemp("courses") / "clinic.sqlite"
    files = sorted(COURSES.glob("*.json"))
    assert len(files) >= 6
    for f in files:
        out = run(db, "import", str(f))
        assert "1 new patient," in out.stdout
    return db


# ---------------------------------------------------------------------------------------------
# 1. Lenalidomide-dexamethasone: response, then VEGF relapse 18 months after stopping
# ---------------------------------------------------------------------------------------------


def test_lendex_response_then_vegf_relapse(clinic):
    assert flags_of(clinic, "C-0001", "2024-04-15") == sorted([
        ("criteria_met", "poems_criteria", "2021-03-01"),  # PN + clonal + bone/VEGF + oedema/skin at diagnosis
        ("vegf_response", "vegf_plasma", "2021-06-14"),  # 420 <= 50 % of the pre-treatment 880
        ("neuropathy_improved", "onls", "2021-06-14"),  # ONLS 5 -> 4 after the line started
        ("vegf_response", "vegf_plasma", "2021-12-13"),  # 90 <= 96.2: normalised (a second, distinct response)
        ("vegf_rise", "vegf_plasma", "2023-09-11"),  # 160 >= 1.5 x nadir 85 and above 96.2
        ("relapse_suspected", "relapse", "2023-09-11"),  # that rise, after the VEGF response: restage
        ("feature_recurred", "peripheral_edema", "2024-03-11"),  # oedema back after 7 visits documented absent
        ("feature_recurred", "vegf_elevation", "2024-03-11"),  # 340 > 200 again after normal values
        ("vegf_rise", "vegf_plasma", "2024-03-11"),  # 340 >= 1.5 x 160, the nadir since the previous rise
        ("neuropathy_worse", "onls", "2024-03-11"),  # 2 -> 3
        ("relapse_suspected", "relapse", "2024-03-11"),  # relapse event + oedema and VEGF elevation back
    ])
    assert worklist_of(clinic, "C-0001", "2024-04-15") == sorted([
        # the VEGF rise of 2023-09-11 suspects a relapse: restaging (imaging, VEGF, monoclonal
        # work-up, echo, PFT, review) is due at once; VEGF and review were done since, not the rest
        ("restaging", "overdue", "2023-09-11"),
        ("echo", "overdue", "2023-09-11"),  # part of the restaging (earlier than the oedema of 2024-03-11)
        ("pft", "overdue", "2023-09-11"),  # part of the restaging (earlier than 24 months after 2022-03-14)
        ("imaging", "overdue", "2023-09-11"),  # VEGF rose on 2023-09-11 and no imaging since 2022-09-12
        # blood counts only, never an M-protein, immunofixation or FLC: the response work-up was never done
        ("hematology", "never_done", "2021-03-01"),
    ])  # VEGF, ONLS, endocrine and review were all done on 2024-03-11: next in 6 months


# ---------------------------------------------------------------------------------------------
# 2. ASCT with engraftment and engraftment syndrome
# ---------------------------------------------------------------------------------------------


def test_asct_engraftment_syndrome(clinic):
    assert flags_of(clinic, "C-0002", "2023-08-15") == sorted([
        ("criteria_met", "poems_criteria", "2022-01-10"),
        ("thrombocytosis", "thrombocytosis", "2022-01-10"),  # platelets 520 at diagnosis
        ("thrombosis_watch", "thrombocytosis_untreated", "2022-01-10"),  # before any therapy
        ("vegf_response", "vegf_plasma", "2022-06-01"),  # 300 <= 50 % of 1500 (baseline before the infusion)
        ("neuropathy_improved", "onls", "2022-06-01"),  # 5 -> 4 after ASCT
        ("vegf_response", "vegf_plasma", "2022-12-01"),  # 90: normalised
    ])  # the engraftment syndrome is an event, not a flag kind; the DLCO recovers, no decline
    # Day +11, the day of neutrophil engraftment: the engraftment-syndrome window (Maiolino: from
    # 1 day before engraftment; Spitzer: 96 h after) needs a review now; thrombosis review in the
    # first 3 months of a line (and platelets were high at the last count) is due within 30 days.
    assert worklist_of(clinic, "C-0002", "2022-03-12") == sorted([
        ("review_visit", "due", "2022-03-11"),
        ("thrombosis_review", "due_soon", "2022-04-10"),
        ("hematology", "never_done", "2022-01-10"),  # blood counts without the monoclonal work-up
    ])
    # 17 months after ASCT, everything done at the 12-month visit (2023-03-01): the 6-monthly
    # items come due on 2023-09-01; echo (normal since 2022-12) and PFT (abnormal: yearly) and
    # imaging (yearly after the 12-month PET) are not due yet.
    # The window (2022-03-11..16) had no visit, but the engraftment syndrome itself was recorded
    # on 2022-03-13: the watch is answered.
    assert worklist_of(clinic, "C-0002", "2023-08-15") == sorted([
        ("vegf", "due_soon", "2023-09-01"),
        ("hematology", "never_done", "2022-01-10"),  # blood counts only: the monoclonal work-up is missing
        ("neuropathy_score", "due_soon", "2023-09-01"),
        ("endocrine", "due_soon", "2023-09-01"),
        ("review_visit", "due_soon", "2023-09-01"),
    ])


# ---------------------------------------------------------------------------------------------
# 3. Radiotherapy of a single lesion
# ---------------------------------------------------------------------------------------------


def test_radiotherapy_single_lesion(clinic):
    assert flags_of(clinic, "C-0003", "2023-09-01") == sorted([
        ("criteria_met", "poems_criteria", "2023-01-16"),
        ("vegf_response", "vegf_plasma", "2023-06-12"),  # 210 <= 50 % of 520 (not yet normal)
        ("neuropathy_improved", "onls", "2023-06-12"),  # 3 -> 2
    ])
    # The 3-month reassessment after radiotherapy was done on 2023-06-12; in the first year of
    # the line VEGF, blood, ONLS and review are 3-monthly, so due on 2023-09-12.
    assert worklist_of(clinic, "C-0003", "2023-09-01") == sorted([
        ("vegf", "due_soon", "2023-09-12"),
        ("hematology", "never_done", "2023-01-16"),  # blood counts only: the monoclonal work-up is missing
        ("neuropathy_score", "due_soon", "2023-09-12"),
        ("review_visit", "due_soon", "2023-09-12"),
    ])
    # Before the reassessment: the 3-month time point after the end of radiotherapy (2023-06-10)
    # is what is due, for VEGF, ONLS and imaging.
    assert worklist_of(clinic, "C-0003", "2023-06-01") == sorted([
        ("vegf", "due_soon", "2023-06-10"),
        ("neuropathy_score", "due_soon", "2023-06-10"),
        ("imaging", "due_soon", "2023-06-10"),
        ("hematology", "never_done", "2023-01-16"),  # blood counts only, no monoclonal work-up
        ("review_visit", "due_soon", "2023-06-10"),  # last visit 2023-03-10 + 3 months
    ])


# ---------------------------------------------------------------------------------------------
# 4. Thalidomide with worsening neuropathy
# ---------------------------------------------------------------------------------------------


def test_thalidomide_neuropathy_worse(clinic):
    assert flags_of(clinic, "C-0004", "2021-09-01") == sorted([
        ("criteria_met", "poems_criteria", "2020-05-04"),  # Castleman + serum VEGF 2800 > 1040; hepatomegaly
        ("neuropathy_worse", "onls", "2020-08-17"),  # 5 -> 6 on thalidomide
        ("neuropathy_worse", "onls", "2020-11-02"),  # 6 -> 7: thalidomide stopped
        ("vegf_response", "vegf_serum", "2020-11-02"),  # 1200 <= 50 % of 2800: VEGF responded while nerves worsened
        ("vegf_response", "vegf_serum", "2021-02-15"),  # serum 900 <= 1040 on melphalan (baseline 1200 before it)
        ("neuropathy_improved", "onls", "2021-05-17"),  # 7 (before melphalan) -> 5
    ])  # thalidomide had LMWH: no thrombosis flag; serum VEGF only: no specimen change
    assert worklist_of(clinic, "C-0004", "2021-09-01") == sorted([
        ("vegf", "due", "2021-08-17"),  # first year of melphalan-dexamethasone: 3-monthly from 2021-05-17
        ("hematology", "never_done", "2020-05-04"),  # blood counts only, no monoclonal work-up
        ("neuropathy_score", "due", "2021-08-17"),
        ("review_visit", "due", "2021-08-17"),
        ("endocrine", "due", "2021-08-15"),  # TSH 2021-02-15 + 6 months
    ])


# ---------------------------------------------------------------------------------------------
# 5. Remission, then a new pleural effusion and a falling DLCO
# ---------------------------------------------------------------------------------------------


def test_new_pleural_effusion_and_falling_dlco(clinic):
    assert flags_of(clinic, "C-0005", "2022-10-20") == sorted([
        ("criteria_met", "poems_criteria", "2018-01-22"),
        ("thrombocytosis", "thrombocytosis", "2018-01-22"),  # 470 > 450
        ("thrombosis_watch", "thrombocytosis_untreated", "2018-01-22"),
        ("vegf_response", "vegf_plasma", "2018-05-07"),  # 300 <= 50 % of 650
        ("neuropathy_improved", "onls", "2018-05-07"),
        ("vegf_response", "vegf_plasma", "2019-01-21"),  # 90: normalised
        ("new_feature", "pleural_effusion", "2022-10-03"),  # absent at the 6 earlier visits
        ("pft_decline", "dlco_pct", "2022-10-03"),  # 71 is 13 below the best 84 of 2022-01 and below 80
        ("relapse_suspected", "relapse", "2022-10-03"),  # a new EVO feature after the VEGF response
    ])  # FVC 82 is 8 below its best and above 80: no flag
    assert worklist_of(clinic, "C-0005", "2022-10-20") == sorted([
        ("echo", "due", "2022-10-03"),  # pleural effusion appeared: echo now, not at 24 months
        ("imaging", "overdue", "2022-01-18"),  # yearly for 5 years after the line started: last 2021-01-18
        ("hematology", "never_done", "2018-01-22"),  # blood counts only, no monoclonal work-up
        # the new criteria feature after the VEGF response is the relapse_suspected flag's trigger,
        # and the same trigger puts restaging due at once (issue 9, defect 5: one rule)
        ("restaging", "due", "2022-10-03"),
        ("review_visit", "due", "2022-10-03"),  # a review after the trigger
    ])  # PFT and VEGF were done that day (PFT abnormal: next in 12 months); endocrine yearly in remission
    restaging = worklist_rows(clinic, "C-0005", "2022-10-20")["restaging"]
    assert restaging["reason"].startswith("relapse suspected on 2022-10-03 (pleural effusion is new): restage at once")
    assert restaging["reason"].endswith("Imaging, Haematology, Echo, Review visit still needed")


# ---------------------------------------------------------------------------------------------
# 6. Lost to follow-up
# ---------------------------------------------------------------------------------------------


def test_lost_to_follow_up(clinic):
    assert flags_of(clinic, "C-0006", "2022-03-01") == sorted([
        ("criteria_met", "poems_criteria", "2019-06-03"),  # VEGF 480 major; skin minor
        ("vegf_response", "vegf_plasma", "2019-09-16"),  # 200 <= 50 % of 480
        ("neuropathy_improved", "onls", "2019-09-16"),
    ])
    # Last seen 2019-12-16 in the first year of lenalidomide: everything is overdue, each from
    # the date the protocol wanted it.
    assert worklist_of(clinic, "C-0006", "2022-03-01") == sorted([
        ("vegf", "overdue", "2020-03-16"),
        ("hematology", "never_done", "2019-06-03"),  # blood counts only, no monoclonal work-up
        ("neuropathy_score", "overdue", "2020-03-16"),
        ("review_visit", "overdue", "2020-03-16"),
        ("endocrine", "overdue", "2019-12-17"),  # TSH only at diagnosis: 6 months after the line started
        ("echo", "overdue", "2021-06-03"),  # normal at diagnosis + 24 months
        ("pft", "overdue", "2021-06-03"),
        ("imaging", "overdue", "2020-06-17"),  # a year after lenalidomide started
    ])


# ---------------------------------------------------------------------------------------------
# 7. IMiD without thromboprophylaxis, then a DVT
# ---------------------------------------------------------------------------------------------


def test_imid_without_prophylaxis_then_dvt(clinic):
    assert flags_of(clinic, "C-0007", "2024-07-01") == sorted([
        ("criteria_met", "poems_criteria", "2024-01-08"),
        ("thrombocytosis", "thrombocytosis", "2024-01-08"),  # 560
        ("polycythemia", "polycythemia", "2024-01-08"),  # Hb 16.4 > 16.0 (women, WHO 2016)
        ("thrombosis_watch", "thrombocytosis_untreated", "2024-01-08"),
        ("thrombosis_watch", "polycythemia_untreated", "2024-01-08"),
        ("thrombosis_watch", "lenalidomide_dexamethasone", "2024-01-22"),  # IMiD, prophylaxis "none"
        ("thrombosis_watch", "dvt", "2024-03-04"),
        ("vegf_response", "vegf_plasma", "2024-04-22"),  # 350 <= 50 % of 950
        ("neuropathy_improved", "onls", "2024-04-22"),
    ])  # platelets 480 on 2024-03-04 continue the run: no second thrombocytosis flag
    flags = json.loads(run(clinic, "flags", "--mrn", "C-0007", "--as-of", "2024-07-01", "--json").stdout)["flags"]
    severities = {(f["code"], f["date"]): f["severity"] for f in flags}
    assert severities[("lenalidomide_dexamethasone", "2024-01-22")] == "critical"
    assert severities[("dvt", "2024-03-04")] == "critical"
    assert worklist_of(clinic, "C-0007", "2024-07-01") == sorted([
        ("vegf", "due_soon", "2024-07-22"),
        ("hematology", "never_done", "2024-01-08"),  # blood counts only, no monoclonal work-up
        ("neuropathy_score", "due_soon", "2024-07-22"),
        ("review_visit", "due_soon", "2024-07-22"),
        ("thrombosis_review", "due_soon", "2024-07-22"),  # still on lenalidomide: 3-monthly review
    ])


# ---------------------------------------------------------------------------------------------
# 8. VEGF relapse across a treatment interruption (issue 9, defect 1)
# ---------------------------------------------------------------------------------------------


def test_vegf_relapse_across_a_treatment_interruption(clinic):
    flags = flags_of(clinic, "C-0101", "2021-10-01")
    assert flags == sorted([
        ("criteria_met", "poems_criteria", "2020-02-03"),
        ("vegf_response", "vegf_plasma", "2020-05-11"),  # 480 <= 50 % of 1100
        ("neuropathy_improved", "onls", "2020-05-11"),  # 5 -> 4
        ("vegf_response", "vegf_plasma", "2020-11-09"),  # 90 <= 96.2: normalised
        # Lenalidomide paused 2021-02-10, restarted 2021-06-01. The restart no longer resets the
        # nadir: 140 is +56 % over the nadir 90 of 2020-11-09 (the old rule compared it with nothing).
        ("vegf_rise", "vegf_plasma", "2021-09-06"),
        ("relapse_suspected", "relapse", "2021-09-06"),  # that rise, after the VEGF response
    ])  # 110 during the pause is +22 %: no rise; LMWH prophylaxis: no thrombosis flag
    doc = json.loads(run(clinic, "flags", "--mrn", "C-0101", "--as-of", "2021-10-01", "--json").stdout)
    rise = next(f for f in doc["flags"] if f["kind"] == "vegf_rise")
    assert (rise["evidence"]["nadir"], rise["evidence"]["nadir_date"], rise["evidence"]["nadir_since"]) == (
        90, "2020-11-09", "2020-02-10")  # counted from the first line's start


# ---------------------------------------------------------------------------------------------
# 9. Progressive DLCO fall after a four-year gap (issue 9, defect 4)
# ---------------------------------------------------------------------------------------------


def test_progressive_dlco_fall_after_a_gap(clinic):
    assert flags_of(clinic, "C-0102", "2022-04-01") == sorted([
        ("criteria_met", "poems_criteria", "2016-03-07"),  # sclerotic lesion major; hepatomegaly minor
        ("vegf_response", "vegf_plasma", "2016-09-05"),  # 150 <= 50 % of 420 after radiotherapy
        ("vegf_response", "vegf_plasma", "2017-03-06"),  # 90: normalised
        ("pft_decline", "dlco_pct", "2021-03-01"),  # 62 is 13 below 75, the last value before a 4-year gap
        ("pft_decline", "dlco_pct", "2021-09-06"),  # 50: 12 below 62 (best of the window and previous flag)
        ("pft_decline", "dlco_pct", "2022-03-07"),  # 39: a further 11 below 50, the previous flag's value
    ])  # DLCO was below the 80 % floor from diagnosis: no floor crossing; FVC 88 -> 84: no decline


# ---------------------------------------------------------------------------------------------
# 10. Echo abnormal: PASP and LVEF (issue 9, defect 3)
# ---------------------------------------------------------------------------------------------


def test_echo_abnormal(clinic):
    assert flags_of(clinic, "C-0103", "2024-08-01") == sorted([
        ("criteria_met", "poems_criteria", "2022-01-10"),
        ("vegf_response", "vegf_plasma", "2022-07-11"),  # 300 <= 50 % of 700
        ("echo_abnormal", "echo", "2023-01-09"),  # PASP 58 >= 50 [LI13], and +11 since 47
        ("echo_abnormal", "echo", "2023-07-10"),  # LVEF 47 < 50 [HL7-LT] (PASP 60 still high: same run)
        ("echo_abnormal", "echo", "2024-07-08"),  # PASP back to 54 after 44: new run, and +10
    ])  # PASP 38 -> 47 is +9: below the step; LVEF 52 and 53 are preserved
    doc = json.loads(run(clinic, "flags", "--mrn", "C-0103", "--as-of", "2024-08-01", "--json").stdout)
    reasons = [f["evidence"]["reasons"] for f in doc["flags"] if f["kind"] == "echo_abnormal"]
    assert reasons == [["pasp_high", "pasp_rise"], ["lvef_low"], ["pasp_high", "pasp_rise"]]


# ---------------------------------------------------------------------------------------------
# 11. Relapse restaging trigger after ASCT (issue 9, defect 5, flag side)
# ---------------------------------------------------------------------------------------------


def test_relapse_restaging_trigger_after_asct(clinic):
    assert flags_of(clinic, "C-0104", "2021-06-01") == sorted([
        ("criteria_met", "poems_criteria", "2019-04-01"),
        ("vegf_response", "vegf_plasma", "2019-10-07"),  # 300 <= 50 % of 900
        ("vegf_response", "vegf_plasma", "2020-04-06"),  # 85: normalised
        ("new_feature", "splenomegaly", "2021-04-05"),
        ("new_feature", "cherry_angioma", "2021-04-05"),  # recorded, but no criteria feature: no trigger
        ("relapse_suspected", "relapse", "2021-04-05"),  # new organomegaly after the response
        ("relapse_suspected", "relapse", "2021-05-03"),  # progression recorded (PET)
    ])
    doc = json.loads(run(clinic, "flags", "--mrn", "C-0104", "--as-of", "2021-06-01", "--json").stdout)
    relapse = [f for f in doc["flags"] if f["kind"] == "relapse_suspected"]
    assert [[(t["kind"], t["code"], t["date"]) for t in f["evidence"]["triggers"]] for f in relapse] == [
        [("new_feature", "splenomegaly", "2021-04-05")], [("event", "progression", "2021-05-03")]]
    assert relapse[0]["evidence"]["after_response"] == {"kind": "vegf_response", "code": "vegf_plasma", "date": "2020-04-06"}
    assert "Restaging is due from 2021-04-05" in relapse[0]["message"]


# ---------------------------------------------------------------------------------------------
# 12. A reactive count the clinician documented absent, then confirmed; cherry angiomas (defects 8, 9)
# ---------------------------------------------------------------------------------------------


def test_reactive_count_clinician_absent_then_confirmed(clinic):
    assert flags_of(clinic, "C-0105", "2023-07-01") == sorted([
        # platelets 520 after an infection, documented "absent" by the clinician: the count is still
        # flagged (thrombosis risk before therapy) but does not count for the criteria
        ("thrombocytosis", "thrombocytosis", "2023-02-06"),
        ("thrombosis_watch", "thrombocytosis_untreated", "2023-02-06"),
        # 540 is the second count of the run: confirmed; the cherry angiomas never counted
        ("criteria_met", "poems_criteria", "2023-03-06"),
    ])  # 600 on 2023-06-05 continues the run, below the critical limit 1000: no second flag
    doc = json.loads(run(clinic, "flags", "--mrn", "C-0105", "--as-of", "2023-07-01", "--json").stdout)
    count = next(f for f in doc["flags"] if f["kind"] == "thrombocytosis")
    assert count["evidence"]["criteria"] == "clinician_absent"
    assert "entered as absent by the clinician at this visit" in count["message"]
    met = next(f for f in doc["flags"] if f["kind"] == "criteria_met")
    minor = next(c for c in met["evidence"]["criteria"] if c["criterion"] == "thrombocytosis_polycythemia")
    assert minor["first_documented"] == "2023-03-06"
    assert "confirmed: 2 counts above the limit in this run (first on 2023-02-06)" in minor["note"]
    assert [n["feature"] for n in met["evidence"]["not_counted"]] == ["cherry_angioma"]


# ---------------------------------------------------------------------------------------------
# 31. Lenalidomide on aspirin alone with two IMWG risk factors (issue 9, defect 6)
# ---------------------------------------------------------------------------------------------


def test_aspirin_with_risk_factors(clinic):
    assert flags_of(clinic, "C-0031", "2023-09-30") == sorted([
        ("thrombosis_watch", "pe", "2021-05-10"),  # a thrombotic event, before the diagnosis
        ("criteria_met", "poems_criteria", "2023-02-06"),
        ("thrombocytosis", "thrombocytosis", "2023-02-06"),  # 610 > 450
        ("thrombosis_watch", "thrombocytosis_untreated", "2023-02-06"),
        # aspirin alone from the start although two factors are known: the PE of 2021 (a previous
        # VTE counts for life) and the thrombocytosis of the diagnosis visit [PALUMBO08][MELLORS21]
        ("thrombosis_watch", "lenalidomide_dexamethasone", "2023-02-20"),
        ("vegf_response", "vegf_plasma", "2023-05-22"),  # 380 <= 50 % of 820
        ("neuropathy_improved", "onls", "2023-05-22"),  # 5 -> 4
    ])  # 430 on 2023-05-22 ends the thrombocytosis run; no cytopenia, no critical value
    flags = json.loads(run(clinic, "flags", "--mrn", "C-0031", "--as-of", "2023-09-30", "--json").stdout)["flags"]
    (watch,) = [f for f in flags if f["rule"] == "thrombosis_watch_aspirin_risk"]
    assert watch["evidence"]["risk_factors"] == ["previous_vte", "thrombocytosis"]
    assert "high-dose dexamethasone (dose not recorded)" in watch["message"]


# ---------------------------------------------------------------------------------------------
# 32. Late cytopenias years after melphalan-dexamethasone and ASCT (issue 9, defect 7)
# ---------------------------------------------------------------------------------------------


def test_cytopenia_after_melphalan(clinic):
    assert flags_of(clinic, "C-0032", "2024-06-01") == sorted([
        ("criteria_met", "poems_criteria", "2016-03-07"),  # VEGF 1400 major; splenomegaly, hypogonadism minor
        ("vegf_response", "vegf_plasma", "2016-09-05"),  # 300 <= 50 % of 1400 on MDex
        ("neuropathy_improved", "onls", "2016-09-05"),  # 6 -> 5
        ("vegf_response", "vegf_plasma", "2018-06-11"),  # 90: normalised after ASCT (baseline 300)
        ("neuropathy_improved", "onls", "2018-06-11"),  # 5 before ASCT -> 3
        ("cytopenia", "platelets", "2024-05-13"),  # 68 < 75 (CTCAE grade 2)
        ("cytopenia", "hemoglobin", "2024-05-13"),  # 9.6 < 10.0 g/dL
        ("cytopenia", "neutrophils", "2024-05-13"),  # 1.1 < 1.5
    ])
    flags = json.loads(run(clinic, "flags", "--mrn", "C-0032", "--as-of", "2024-06-01", "--json").stdout)["flags"]
    for f in (f for f in flags if f["kind"] == "cytopenia"):
        assert f["severity"] == "warning" and f["evidence"]["grade"] == 2
        assert f["evidence"]["cumulative_melphalan_mg"] == 1220  # 840 mg MDex + 380 mg high-dose
        assert "cumulative melphalan 1220 mg" in f["message"] and "ASCT 2017-06-12" in f["message"]
        assert "MDS" in f["message"]


# ---------------------------------------------------------------------------------------------
# 33. LMWH prophylaxis while lenalidomide pulls platelets below 50 (issue 9, defect 6)
# ---------------------------------------------------------------------------------------------


def test_anticoagulation_with_low_platelets(clinic):
    assert flags_of(clinic, "C-0033", "2023-06-01") == sorted([
        ("criteria_met", "poems_criteria", "2022-09-05"),
        ("thrombocytosis", "thrombocytosis", "2022-09-05"),  # 520
        ("thrombosis_watch", "thrombocytosis_untreated", "2022-09-05"),
        ("bleeding_risk", "platelets", "2022-12-12"),  # 44 < 50 on LMWH (DEFAULT limit)
        ("cytopenia", "platelets", "2022-12-12"),  # 44 < 75: CTCAE grade 3
        ("vegf_response", "vegf_plasma", "2022-12-12"),  # 320 <= 50 % of 700
        ("neuropathy_improved", "onls", "2022-12-12"),  # 4 -> 3
    ])  # LMWH is adequate prophylaxis for an IMiD: no aspirin watch; 160 on 2023-03-13 ends both runs
    flags = json.loads(run(clinic, "flags", "--mrn", "C-0033", "--as-of", "2023-06-01", "--json").stdout)["flags"]
    severities = {(f["kind"], f["code"]): f["severity"] for f in flags}
    assert severities[("bleeding_risk", "platelets")] == "critical"
    assert severities[("cytopenia", "platelets")] == "critical"


# ---------------------------------------------------------------------------------------------
# 21-25. Follow-up safety (issue 9): pending results, incomplete studies, relapse, death, ES window
# ---------------------------------------------------------------------------------------------


def worklist_rows(db: Path, mrn: str, as_of: str) -> dict[str, dict]:
    doc = json.loads(run(db, "worklist", "--as-of", as_of, "--json").stdout)
    return {i["item"]: i for i in doc["items"] if i["mrn"] == mrn}


def test_pending_echo_completes_nothing(clinic):
    # Abnormal echo (RVSP 52) at diagnosis: repeat at 6 months (2021-08-01). The 6-month echo of
    # 2021-08-02 is still "pending": it completes nothing, so the echo stays due from 2021-08-01
    # and is overdue after the 30-day grace, with the pending study named. Everything else was done
    # on 2021-08-02 (VEGF, M-protein/IFE, ONLS, TSH, review; first year of lenalidomide: 3-monthly).
    assert worklist_of(clinic, "C-F01", "2021-09-01") == [("echo", "overdue", "2021-08-01")]
    echo = worklist_rows(clinic, "C-F01", "2021-09-01")["echo"]
    assert echo["last_done"] == "2021-02-01"
    assert echo["reason"] == ("last result abnormal (since 2021-02-01): every 6 months in the first year; "
                              "Echocardiogram pending since 2021-08-02")


def test_spirometry_without_dlco_is_not_the_pft(clinic):
    # DLCO 62 % at diagnosis (abnormal: repeat at 12 months, 2021-03-02). On 2021-03-08 only
    # spirometry was done (FVC 88, FEV1 90, normal): it does not count as the PFT, so the PFT is
    # still due from 2021-03-02 (within its grace on 2021-03-20) and the card says why.
    assert worklist_of(clinic, "C-F02", "2021-03-20") == [("pft", "due", "2021-03-02")]
    pft = worklist_rows(clinic, "C-F02", "2021-03-20")["pft"]
    assert pft["last_done"] == "2020-03-02"
    assert pft["reason"].endswith("; spirometry without DLCO on 2021-03-08: PFT not complete")


def test_relapse_restaging(clinic):
    # Radiological relapse recorded on 2022-05-16 (with PET, VEGF and M-protein/IFE that day):
    # restaging is due at once; echo, PFT and a review visit after the relapse are still needed,
    # each due from the relapse date (not 24 months after the normal echo/PFT of 2021-03-08).
    assert worklist_of(clinic, "C-F03", "2022-05-30") == sorted([
        ("restaging", "due", "2022-05-16"),
        ("echo", "due", "2022-05-16"),
        ("pft", "due", "2022-05-16"),
        ("review_visit", "due", "2022-05-16"),
    ])
    restaging = worklist_rows(clinic, "C-F03", "2022-05-30")["restaging"]
    assert restaging["reason"] == ("relapse suspected on 2022-05-16 (relapse recorded (new FDG-avid lesion on PET-CT)): "
                                   "restage at once, complete "
                                   "within 1 month (DEFAULT): Echo, Lung function, Review visit still needed")
    # Echo and PFT done on 2022-06-13 (a visit after the relapse): restaging complete, nothing due
    # soon (VEGF etc. 6-monthly from 2022-05-16; echo/PFT normal: 24 months).
    assert worklist_of(clinic, "C-F03", "2022-06-20") == []


def test_death_ends_follow_up_and_refuses_later_records(clinic, tmp_path):
    # Alive on 2021-01-15: the abnormal echo of diagnosis is overdue (6 months: 2020-12-01).
    assert worklist_of(clinic, "C-F04", "2021-01-15") == [("echo", "overdue", "2020-12-01")]
    assert worklist_of(clinic, "C-F04", "2021-06-01") == []  # died on 2021-02-10: no follow-up
    # A file adding a visit after the death to the stored patient is refused whole (exit 2), naming the path.
    late = {"format": "poems-monitor/timeline", "version": 1, "patients": [{
        "mrn": "C-F04", "name": "Maria Rossi", "sex": "female", "birth_date": "1950-11-30", "diagnosis_date": "2020-06-01",
        "visits": [{"date": "2021-03-01", "observations": [{"code": "platelets", "value": 300, "unit": "10*9/L"}]}]}]}
    path = tmp_path / "late.json"
    path.write_text(json.dumps(late), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "poems_monitor", "import", str(path), "--db", str(clinic)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert ("$.patients[0].visits[0].date: patient C-F04, visit date 2021-03-01 is after the recorded death on "
            "2021-02-10: nothing can be recorded after a death; check the date (or the date of death)") in result.stderr
    assert "nothing was imported" in result.stderr
    # The same inside one file: the course with a visit after its own death.
    course = json.loads((COURSES / "24_death_on_treatment.json").read_text(encoding="utf-8"))
    course["patients"][0]["mrn"] = "C-F04B"
    course["patients"][0]["visits"].append({"date": "2021-02-11", "note": "seen in clinic"})
    path.write_text(json.dumps(course), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "poems_monitor", "import", str(path), "--db", str(clinic)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "$.patients[0].visits[3].date: patient C-F04B, visit date 2021-02-11" in result.stderr
    assert worklist_of(clinic, "C-F04B", "2021-01-15") == []  # nothing of it was imported


def test_engraftment_watch_missed_window(clinic):
    # ASCT 2023-02-06, engraftment not recorded: watch day +5..+21 (2023-02-11..27). During the
    # window with no visit yet: the review is due from its first day, every day of the window.
    assert worklist_of(clinic, "C-F05", "2023-02-15") == [("review_visit", "due", "2023-02-11")]
    # First visit back on day +28: the window had no assessment. It does not vanish: it stays
    # overdue as "not assessed" (the ordinary review would be due only on 2023-06-06).
    assert worklist_of(clinic, "C-F05", "2023-03-20") == [("review_visit", "overdue", "2023-02-11")]
    review = worklist_rows(clinic, "C-F05", "2023-03-20")["review_visit"]
    assert review["last_done"] == "2023-03-06"
    assert review["reason"].endswith("not assessed (no visit recorded inside the window)")


# ---------------------------------------------------------------------------------------------
# The documents as a whole
# ---------------------------------------------------------------------------------------------


def test_clinic_documents_are_sorted_and_complete(clinic):
    doc = json.loads(run(clinic, "flags", "--as-of", "2026-11-21", "--json").stdout)
    mrns = [f["mrn"] for f in doc["flags"]]
    every = {json.loads(f.read_text(encoding="utf-8"))["patients"][0]["mrn"] for f in COURSES.glob("*.json")}
    assert mrns == sorted(mrns) and set(mrns) == every  # every course has at least its criteria_met flag
    items = json.loads(run(clinic, "worklist", "--as-of", "2026-11-21", "--json").stdout)["items"]
    rank = {"overdue": 0, "never_done": 1, "due": 2, "due_soon": 3}
    keys = [(rank[i["status"]], i["due"] or "") for i in items]
    assert keys == sorted(keys)  # most urgent first, then oldest due date
    text = run(clinic, "worklist", "--as-of", "2026-11-21").stdout
    assert "C-0006" in text and "OVERDUE" in text


def test_bad_date_is_one_sentence(clinic):
    result = subprocess.run([sys.executable, "-m", "poems_monitor", "worklist", "--as-of", "21/11/2026", "--db", str(clinic)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("--as-of must be a date written YYYY-MM-DD (for example 2026-11-21); "
                                     "'21/11/2026' is not one")
    result = subprocess.run([sys.executable, "-m", "poems_monitor", "flags", "--mrn", "NOPE", "--json", "--db", str(clinic)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.strip() == "No patient with MRN NOPE"
