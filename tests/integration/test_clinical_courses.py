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
        ("feature_recurred", "peripheral_edema", "2024-03-11"),  # oedema back after 7 visits documented absent
        ("feature_recurred", "vegf_elevation", "2024-03-11"),  # 340 > 200 again after normal values
        ("neuropathy_worse", "onls", "2024-03-11"),  # 2 -> 3
    ])
    assert worklist_of(clinic, "C-0001", "2024-04-15") == sorted([
        ("echo", "overdue", "2024-03-11"),  # oedema reappeared on 2024-03-11: echo brought forward from 2024-03-14
        ("pft", "overdue", "2024-03-14"),  # normal PFT 2022-03-14 + 24 months; grace ended 2024-04-13
        ("imaging", "overdue", "2023-09-11"),  # VEGF rose on 2023-09-11 and no imaging since 2022-09-12
    ])  # VEGF, blood, ONLS, endocrine and review were all done on 2024-03-11: next in 6 months


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
    ])
    # 17 months after ASCT, everything done at the 12-month visit (2023-03-01): the 6-monthly
    # items come due on 2023-09-01; echo (normal since 2022-12) and PFT (abnormal: yearly) and
    # imaging (yearly after the 12-month PET) are not due yet.
    assert worklist_of(clinic, "C-0002", "2023-08-15") == sorted([
        ("vegf", "due_soon", "2023-09-01"),
        ("hematology", "due_soon", "2023-09-01"),
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
        ("hematology", "due_soon", "2023-09-12"),
        ("neuropathy_score", "due_soon", "2023-09-12"),
        ("review_visit", "due_soon", "2023-09-12"),
    ])
    # Before the reassessment: the 3-month time point after the end of radiotherapy (2023-06-10)
    # is what is due, for VEGF, ONLS and imaging.
    assert worklist_of(clinic, "C-0003", "2023-06-01") == sorted([
        ("vegf", "due_soon", "2023-06-10"),
        ("neuropathy_score", "due_soon", "2023-06-10"),
        ("imaging", "due_soon", "2023-06-10"),
        ("hematology", "due_soon", "2023-06-10"),  # last blood count 2023-03-10 + 3 months
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
        ("hematology", "due", "2021-08-17"),
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
    ])  # FVC 82 is 8 below its best and above 80: no flag
    assert worklist_of(clinic, "C-0005", "2022-10-20") == sorted([
        ("echo", "due", "2022-10-03"),  # pleural effusion appeared: echo now, not at 24 months
        ("imaging", "overdue", "2022-01-18"),  # yearly for 5 years after the line started: last 2021-01-18
    ])  # PFT was just done (abnormal: next in 12 months); endocrine yearly in stable remission


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
        ("hematology", "overdue", "2020-03-16"),
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
        ("hematology", "due_soon", "2024-07-22"),
        ("neuropathy_score", "due_soon", "2024-07-22"),
        ("review_visit", "due_soon", "2024-07-22"),
        ("thrombosis_review", "due_soon", "2024-07-22"),  # still on lenalidomide: 3-monthly review
    ])


# ---------------------------------------------------------------------------------------------
# The documents as a whole
# ---------------------------------------------------------------------------------------------


def test_clinic_documents_are_sorted_and_complete(clinic):
    doc = json.loads(run(clinic, "flags", "--as-of", "2026-11-21", "--json").stdout)
    mrns = [f["mrn"] for f in doc["flags"]]
    assert mrns == sorted(mrns) and set(mrns) == {f"C-000{i}" for i in range(1, 8)}
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
