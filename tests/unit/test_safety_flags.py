"""Safety rules of issue 9 (defects 6 and 7) and issue 10 (defects 3 and 4): thromboprophylaxis
adequacy, bleeding risk on anticoagulation, cytopenia after alkylators, critical values that no
one confirmed, and a critical value inside an open run of thrombocytosis/polycythaemia."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

try:  # tests/ may be a package (relative import) or plain folders (basename import)
    from .timeline_builders import BASELINE_FEATURES, d, event, obs, patient, treatment, visit
except ImportError:
    from timeline_builders import BASELINE_FEATURES, d, event, obs, patient, treatment, visit  # type: ignore[no-redef]

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.flags import compute_flags
from poems_monitor.domain.protocol import default_protocol
from poems_monitor.domain.timeline import TreatmentRecord

P = default_protocol()
AS_OF = date(2030, 1, 1)


def flags(pt, kind: str | None = None, as_of: date = AS_OF, rule: str | None = None):
    return [f for f in compute_flags(pt, P, as_of)
            if (kind is None or f.kind.value == kind) and (rule is None or f.rule == rule)]


def confirmed(o):
    """The observation as the entry form stores it: a person saw and confirmed it."""
    return replace(o, confirmed_at_entry=True)


# --- neutrophils in the catalogue -------------------------------------------------------------------------------------


def test_neutrophils_measure_has_loinc_ucum_and_sourced_limits():
    m = MEASURES["neutrophils"]
    assert (m.loinc, m.unit, m.group) == ("751-8", "10*9/L", "hematology")
    assert m.conversion_for("10*3/uL") is not None  # the same count in another notation
    assert m.critical is not None and m.critical.low == 0.5 and "[CTCAE5]" in m.critical.source
    assert m.absolute.low == 0 and m.absolute.high is not None and m.absolute.high <= 100
    assert "[CTCAE5]" in m.description and "1.5" in m.description


# --- thrombosis watch: aspirin with risk factors (issue 9, defect 6) --------------------------------------------------


def test_aspirin_with_two_risk_factors_is_watched_and_lists_them():
    pt = patient(
        visit("2020-01-01", platelets=620, features=BASELINE_FEATURES),  # thrombocytosis
        visit("2020-04-01", platelets=400),
        treatments=[treatment("lenalidomide_dexamethasone", "2020-02-01", "2020-12-01", prophylaxis="aspirin")],
        events=[event("dvt", "2016-05-01")],  # a VTE four years earlier: still at risk
    )
    (f,) = flags(pt, "thrombosis_watch", rule="thrombosis_watch_aspirin_risk")
    assert f.date == date(2020, 2, 1) and f.code == "lenalidomide_dexamethasone"
    assert f.evidence["risk_factors"] == ["previous_vte", "thrombocytosis"]
    assert "previous venous thromboembolism (deep vein thrombosis 2016-05-01)" in f.message
    assert "thrombocytosis" in f.message.lower() and "[PALUMBO08]" in f.message
    assert "dose not recorded" in f.message  # high-dose dexamethasone is never assumed


def test_aspirin_with_one_risk_factor_is_not_watched():
    pt = patient(
        visit("2020-01-01", platelets=620),
        treatments=[treatment("lenalidomide_dexamethasone", "2020-02-01", prophylaxis="aspirin")],
    )
    assert flags(pt, "thrombosis_watch", rule="thrombosis_watch_aspirin_risk") == []


def test_risk_factor_arising_on_therapy_raises_the_watch_on_that_visit():
    pt = patient(
        visit("2020-01-01", platelets=300, onls_leg=3),
        visit("2020-05-01", platelets=300, onls_leg=5),  # wheelchair for 10 m: immobility
        treatments=[treatment("pomalidomide_dexamethasone", "2020-02-01", prophylaxis="aspirin")],
        events=[event("pe", "2019-03-01")],
    )
    (f,) = flags(pt, "thrombosis_watch", rule="thrombosis_watch_aspirin_risk")
    assert f.date == date(2020, 5, 1)
    assert f.evidence["risk_factors"] == ["previous_vte", "immobility"]


def test_lmwh_is_adequate_and_bortezomib_is_not_an_imid():
    vte = [event("dvt", "2019-01-01")]
    high = visit("2020-01-01", platelets=700, hemoglobin=17.5, features={"diabetes": "present"})
    for t in (treatment("lenalidomide_dexamethasone", "2020-02-01", prophylaxis="lmwh"),
              treatment("bortezomib_dexamethasone", "2020-02-01", prophylaxis="aspirin")):
        assert flags(patient(high, treatments=[t], events=vte, sex="male"), rule="thrombosis_watch_aspirin_risk") == []


# --- bleeding risk ----------------------------------------------------------------------------------------------------


def test_anticoagulant_prophylaxis_with_low_platelets_raises_bleeding_risk_once_per_run():
    pt = patient(
        visit("2020-01-01", platelets=210),
        visit("2020-03-01", platelets=42),  # below 50 on LMWH
        visit("2020-04-01", platelets=38),  # same run: no second flag
        visit("2020-06-01", platelets=120),
        visit("2020-08-01", platelets=45),  # a new run
        visit("2021-03-01", platelets=30),  # LMWH stopped: not a bleeding-risk flag
        treatments=[treatment("lenalidomide_dexamethasone", "2020-02-01", "2020-12-31", prophylaxis="lmwh")],
    )
    got = flags(pt, "bleeding_risk")
    assert [(f.code, f.date.isoformat()) for f in got] == [("platelets", "2020-03-01"), ("platelets", "2020-08-01")]
    assert "LMWH" in got[0].message and "50" in got[0].message and "(DEFAULT)" in got[0].message
    assert got[0].evidence["platelets"] == 42 and got[0].evidence["limit"] == 50


def test_aspirin_with_low_platelets_is_not_bleeding_risk():
    pt = patient(visit("2020-03-01", platelets=30),
                 treatments=[treatment("lenalidomide_dexamethasone", "2020-02-01", prophylaxis="aspirin")])
    assert flags(pt, "bleeding_risk") == []


# --- cytopenia (issue 9, defect 7) ------------------------------------------------------------------------------------


def test_cytopenia_names_cumulative_melphalan_and_asct():
    mdex = TreatmentRecord("melphalan_dexamethasone", d("2018-01-01"), d("2018-12-01"), melphalan_mg=900)
    asct = TreatmentRecord("asct", d("2019-06-01"), d("2019-06-02"), melphalan_mg=360, engraftment_date=d("2019-06-13"))
    pt = patient(
        visit("2017-12-01", platelets=300, hemoglobin=13.5, neutrophils=4.0),
        visit("2021-01-01", platelets=70, hemoglobin=13.0, neutrophils=1.2),
        treatments=[mdex, asct],
    )
    got = {f.code: f for f in flags(pt, "cytopenia")}
    assert set(got) == {"platelets", "neutrophils"}
    f = got["neutrophils"]
    assert f.date == date(2021, 1, 1)
    assert "1,260 mg" not in f.message and "1260 mg" in f.message  # cumulative melphalan, plain digits
    assert "ASCT 2019-06-01" in f.message and "MDS" in f.message and "[CTCAE5]" in f.message
    assert f.evidence["cumulative_melphalan_mg"] == 1260 and f.evidence["grade"] == 2


def test_cytopenia_without_alkylators_says_none_and_grades_severity():
    pt = patient(visit("2020-01-01", hemoglobin=7.5))
    (f,) = flags(pt, "cytopenia")
    assert f.code == "hemoglobin" and f.evidence["grade"] == 3 and f.severity.value == "critical"
    assert "no alkylator" in f.message


def test_cytopenia_fires_once_per_run():
    pt = patient(visit("2020-01-01", platelets=60), visit("2020-02-01", platelets=50), visit("2020-03-01", platelets=200),
                 visit("2020-04-01", platelets=70))
    assert [f.date.isoformat() for f in flags(pt, "cytopenia")] == ["2020-01-01", "2020-04-01"]


# --- critical values (issue 10, defect 4) -----------------------------------------------------------------------------


def test_unconfirmed_critical_value_is_flagged_and_a_confirmed_one_is_not():
    imported = patient(visit("2020-01-01", platelets=1100), visit("2020-02-01", obs("glucose_fasting", 30)))
    got = flags(imported, "critical_value")
    assert [(f.code, f.date.isoformat()) for f in got] == [("platelets", "2020-01-01"), ("glucose_fasting", "2020-02-01")]
    assert "above the critical limit 1000" in got[0].message and "confirm" in got[0].message
    entered = patient(visit("2020-01-01", confirmed(obs("platelets", 1100))))
    assert flags(entered, "critical_value") == []


# --- a critical value inside an open run (issue 10, defect 3; INTERFACES §3 amended) ---------------------------------


def test_critical_value_inside_open_thrombocytosis_run_flags_again():
    pt = patient(
        visit("2020-01-01", platelets=620),
        visit("2020-02-01", platelets=700),
        visit("2020-03-01", confirmed(obs("platelets", 1200))),  # confirmed at entry: still a new flag
        visit("2020-04-01", confirmed(obs("platelets", 1150))),  # still critical: no third one
    )
    got = flags(pt, "thrombocytosis")
    assert [(f.code, f.date.isoformat()) for f in got] == [("thrombocytosis", "2020-01-01"), ("thrombocytosis", "2020-03-01")]
    assert got[1].severity.value == "critical" and "1200" in got[1].message and "1000" in got[1].message
