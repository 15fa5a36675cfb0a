"""Sentences the rules write quote dates and decimals as the user's language writes them (issue 15):
French "1 mars 2021" and "87,5", Japanese "2021/03/01"; English keeps ISO dates and decimal points.
Evidence, ids and JSON stay ISO and canonical in every language."""

from __future__ import annotations

from datetime import date

import pytest
try:  # tests/ may be a package (relative import) or plain folders (basename import)
    from .timeline_builders import event, obs, patient, treatment, visit
except ImportError:
    from timeline_builders import event, obs, patient, treatment, visit  # type: ignore[no-redef]

from poems_monitor import i18n
from poems_monitor.domain.derived import derive_features
from poems_monitor.domain.flags import compute_flags, flags_to_json, make_flag_id
from poems_monitor.domain.followup import followup_plan
from poems_monitor.domain.patient_status import patient_status
from poems_monitor.domain.protocol import default_protocol
from poems_monitor.domain.response import assess_response

P = default_protocol()


@pytest.fixture(autouse=True)
def back_to_english():
    yield
    i18n.set_language("en")


def _fvc_decline():
    pt = patient(visit("2020-01-01", fvc_pct=100), visit("2021-06-01", fvc_pct=87.5))
    (flag,) = [f for f in compute_flags(pt, P, date(2030, 1, 1)) if f.kind.value == "pft_decline"]
    return flag


@pytest.mark.parametrize(("language", "value", "day", "best_day"), [
    ("en", "87.5", "2021-06-01", "2020-01-01"),
    ("fr", "87,5", "1 juin 2021", "1 janv. 2020"),
    ("ja", "87.5", "2021/06/01", "2020/01/01"),
])
def test_a_flag_message_quotes_dates_and_decimals_in_the_language(language, value, day, best_day):
    i18n.set_language(language)
    flag = _fvc_decline()
    assert f"{value} %" in flag.message and day in flag.message and best_day in flag.message
    assert "12,5" in flag.message if language == "fr" else "12.5" in flag.message  # the fall, in points
    # the data stay ISO and canonical whatever the language
    assert flag.evidence["date"] == "2021-06-01" and flag.evidence["value"] == 87.5
    assert flag.flag_id == make_flag_id("H-000123", "pft_decline", "fvc_pct", date(2021, 6, 1))
    assert flags_to_json([flag], date(2030, 1, 1))["flags"][0]["date"] == "2021-06-01"


def test_the_english_flag_message_is_unchanged():
    assert _fvc_decline().message == ("FVC 87.5 % predicted on 2021-06-01 is 12.5 points below its best 100 % of "
                                      "2020-01-01 in the previous 24 months (threshold 10 points (DEFAULT))")


@pytest.mark.parametrize(("language", "appeared", "partial"), [
    ("en", "appeared on 2021-03-01", "spirometry without DLCO on 2021-01-05"),
    ("fr", "1 mars 2021", "spirométrie sans DLCO le 5 janv. 2021"),
    ("ja", "2021/03/01", "2021/01/05 のスパイロメトリー"),
])
def test_worklist_reasons_quote_dates_in_the_language(language, appeared, partial):
    i18n.set_language(language)
    pt = patient(
        visit("2020-01-01", exams=[("echo", "normal")], features={"pleural_effusion": "absent"}),
        visit("2020-01-10", dlco_pct=64), visit("2021-01-05", fvc_pct=90, fev1_pct=88),
        visit("2021-03-01", features={"pleural_effusion": "present"}),
    )
    items = {i.item: i for i in followup_plan(pt, P, date(2021, 3, 5))}
    assert appeared in items["echo"].reason
    assert partial in items["pft"].reason
    assert items["echo"].to_json()["due"] == "2021-03-01"


@pytest.mark.parametrize(("language", "text"), [
    ("en", "Death recorded on 2024-12-02."),
    ("fr", "Décès enregistré le 2 déc. 2024."),
    ("ja", "2024/12/02 に死亡を記録。"),
])
def test_patient_status_quotes_the_date_in_the_language(language, text):
    i18n.set_language(language)
    pt = patient(visit("2024-01-10"), events=[event("death", "2024-12-02")])
    status = patient_status(pt, P, date(2025, 1, 1))
    assert status.explanation == text
    assert status.to_json()["since"] == "2024-12-02"


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "VEGF (plasma) 640.5 pg/mL > 200 pg/mL [DSOUZA11] on 2024-03-02"),
    ("fr", "VEGF (plasma) 640,5 pg/mL > 200 pg/mL [DSOUZA11] le 2 mars 2024"),
])
def test_a_derived_feature_explanation_is_one_sentence_in_the_language(language, expected):
    """The explanation is written when read, in the language of that moment; its date closes a
    whole sentence ("{thresholds} on {date}") a translator can order."""
    features = {f.code: f for f in derive_features(visit("2024-03-02", vegf_plasma=640.5), "female", P)}
    i18n.set_language(language)
    assert features["vegf_elevation"].explanation == expected


@pytest.mark.parametrize(("language", "baseline", "imaging"), [
    ("en", "baseline M-protein 0.2 g/dL on 2021-01-10", "imaging of 2021-04-10 pending"),
    ("fr", "0,2 g/dL le 10 janv. 2021", "10 avr. 2021"),
    ("ja", "0.2 g/dL", "2021/04/10"),
])
def test_response_reasons_quote_dates_and_decimals_in_the_language(language, baseline, imaging):
    i18n.set_language(language)
    pt = patient(visit("2021-01-10", obs("ife", "lambda"), m_protein=0.2, exams=[("imaging", "abnormal")]),
                 visit("2021-04-10", exams=[("imaging", "pending")]),
                 visit("2021-06-10", obs("ife", "lambda"), m_protein=0.1),
                 treatments=[treatment("lenalidomide_dexamethasone", "2021-01-15")])
    (line,) = assess_response(pt, P, date(2021, 12, 1))
    assert baseline in line.hematologic.reason and imaging in line.radiologic.reason
    assert line.to_json()["start"] == "2021-01-15"


@pytest.mark.parametrize(("language", "vte"), [
    ("en", "(deep vein thrombosis 2016-05-01)"), ("fr", "1 mai 2016"), ("ja", "2016/05/01"),
])
def test_a_safety_flag_quotes_the_date_in_the_language(language, vte):
    i18n.set_language(language)
    pt = patient(
        visit("2020-01-01", platelets=620), visit("2020-04-01", platelets=400),
        treatments=[treatment("lenalidomide_dexamethasone", "2020-02-01", "2020-12-01", prophylaxis="aspirin")],
        events=[event("dvt", "2016-05-01")],
    )
    (flag,) = [f for f in compute_flags(pt, P, date(2021, 1, 1)) if f.rule == "thrombosis_watch_aspirin_risk"]
    assert vte in flag.message
    assert flag.date == date(2020, 2, 1) and flag.evidence["start"] == "2020-02-01"
