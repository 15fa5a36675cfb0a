"""Derived features from measurements, and the diagnostic criteria over time."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
try:  # tests/ may be a package (relative import) or plain folders (basename import)
    from .timeline_builders import BASELINE_FEATURES, obs, patient, visit
except ImportError:
    from timeline_builders import BASELINE_FEATURES, obs, patient, visit  # type: ignore[no-redef]

from poems_monitor.domain.catalogue import CriterionClass, FeatureState
from poems_monitor.domain.criteria import assess_criteria
from poems_monitor.domain.derived import derive_features, feature_history
from poems_monitor.domain.protocol import default_protocol

P = default_protocol()


def _derived(v, sex="female"):
    return {f.code: f for f in derive_features(v, sex, P)}


@pytest.mark.parametrize(
    "values, sex, code, expected",
    [
        ({"vegf_plasma": 201}, "female", "vegf_elevation", "present"),
        ({"vegf_plasma": 200}, "female", "vegf_elevation", "absent"),  # strictly above 200 [DSOUZA11]
        ({"vegf_serum": 1041}, "male", "vegf_elevation", "present"),
        ({"vegf_serum": 900}, "male", "vegf_elevation", "absent"),  # 900 would be elevated in plasma, not serum
        ({"vegf_plasma": 150, "vegf_serum": 1200}, "male", "vegf_elevation", "present"),
        ({}, "male", "vegf_elevation", "unknown"),
        ({"platelets": 451}, "female", "thrombocytosis", "present"),
        ({"platelets": 450}, "female", "thrombocytosis", "absent"),
        ({"hemoglobin": 16.1}, "female", "polycythemia", "present"),
        ({"hemoglobin": 16.1}, "male", "polycythemia", "absent"),  # men: >16.5
        ({"hemoglobin": 16.6}, "male", "polycythemia", "present"),
        ({"hematocrit": 48.5}, "female", "polycythemia", "present"),
        ({"hematocrit": 48.5}, "male", "polycythemia", "absent"),  # men: >49
        ({"hemoglobin": 15.0, "hematocrit": 49.5}, "male", "polycythemia", "present"),
        ({"hemoglobin": 19.0}, "unknown", "polycythemia", "unknown"),
        ({"hemoglobin": 19.0, "hematocrit": 60}, "other", "polycythemia", "unknown"),
    ],
)
def test_derived_feature_from_measurements(values, sex, code, expected):
    feature = _derived(visit("2024-01-01", **values), sex)[code]
    assert feature.state.value == expected


def test_unknown_sex_explanation_says_polycythaemia_is_not_computed():
    feature = _derived(visit("2024-01-01", hemoglobin=19.0), "unknown")["polycythemia"]
    assert feature.source == "not_computed"
    assert "sex-specific" in feature.explanation and "unknown" in feature.explanation


def test_explanation_names_value_threshold_source_and_date():
    feature = _derived(visit("2024-03-02", vegf_plasma=640))["vegf_elevation"]
    assert feature.explanation == "VEGF (plasma) 640 pg/mL > 200 pg/mL [DSOUZA11] on 2024-03-02"


def test_entered_present_is_respected_when_not_measured_or_measured_normal():
    v = visit("2024-01-01", platelets=300, features={"thrombocytosis": "present", "vegf_elevation": "present"})
    derived = _derived(v)
    assert derived["thrombocytosis"].state is FeatureState.PRESENT and derived["thrombocytosis"].source == "entered"
    assert derived["vegf_elevation"].state is FeatureState.PRESENT and derived["vegf_elevation"].source == "entered"


def test_entered_polycythaemia_is_respected_for_unknown_sex():
    derived = _derived(visit("2024-01-01", features={"polycythemia": "present"}), "unknown")
    assert derived["polycythemia"].state is FeatureState.PRESENT


def test_censored_values():
    assert _derived(visit("2024-01-01", obs("vegf_plasma", 150, qualifier="<")))["vegf_elevation"].state.value == "absent"
    assert _derived(visit("2024-01-01", obs("vegf_plasma", 5000, qualifier=">")))["vegf_elevation"].state.value == "present"
    assert _derived(visit("2024-01-01", obs("vegf_plasma", 500, qualifier="<")))["vegf_elevation"].state.value == "unknown"


def test_feature_history_merges_entered_and_derived():
    pt = patient(visit("2024-01-01", platelets=500, features={"ascites": "present", "clubbing": "unknown"}))
    (vf,) = feature_history(pt, P)
    # one count of 500 is not yet thrombocytosis for the criteria (confirmation, INTERFACES 3)
    assert dict(vf.states) == {"ascites": "present"}
    assert vf.derived_feature("thrombocytosis").source == "unconfirmed"
    (vf,) = feature_history(patient(visit("2024-01-01", platelets=500, features={"thrombocytosis": "present"})), P)
    assert dict(vf.states) == {"thrombocytosis": "present"}


# --- criteria -------------------------------------------------------------------------------


def test_criteria_first_fulfilled_visit_and_first_documented_dates():
    pt = patient(
        visit("2020-01-10", features={"polyneuropathy": "present"}),
        visit("2020-03-01", features={"monoclonal_plasma_cell_disorder": "present", "hyperpigmentation": "present"}),
        visit("2020-05-01", vegf_plasma=800),
        visit("2020-07-01", vegf_plasma=90, features={"polyneuropathy": "present"}),
    )
    a = assess_criteria(pt, P)
    assert a.fulfilled_on == date(2020, 5, 1)
    assert [v.fulfilled for v in a.visits] == [False, False, True, True]
    assert a.criterion("polyneuropathy").first_documented == date(2020, 1, 10)
    assert a.criterion("vegf_elevation").first_documented == date(2020, 5, 1)
    assert a.criterion("skin_changes").first_documented == date(2020, 3, 1)
    assert a.criterion("skin_changes").features == ("hyperpigmentation",)
    assert a.criterion("castleman_disease").first_documented is None
    assert {c.code for c in a.used} == {"polyneuropathy", "monoclonal_plasma_cell_disorder", "vegf_elevation", "skin_changes"}
    # VEGF normal at the last visit: the criterion still counts from its first documentation
    assert [c.code for c in a.visits[-1].major] == ["vegf_elevation"]
    assert [c.klass for c in a.visits[-1].mandatory] == [CriterionClass.MANDATORY] * 2


@pytest.mark.parametrize(
    "endocrine, fulfilled",
    [
        ({"diabetes": "present"}, False),
        ({"hypothyroidism": "present"}, False),
        ({"diabetes": "present", "hypothyroidism": "present"}, False),
        ({"hypogonadism": "present"}, True),
        ({"diabetes": "present", "adrenal_insufficiency": "present"}, True),
    ],
)
def test_endocrinopathy_from_diabetes_or_thyroid_alone_does_not_count(endocrine, fulfilled):
    pt = patient(visit("2020-01-10", vegf_plasma=900, features={**BASELINE_FEATURES, **endocrine}))
    a = assess_criteria(pt, P)
    assert (a.fulfilled_on is not None) is fulfilled
    not_counted = {n.feature for n in a.not_counted}
    assert not_counted == {k for k in endocrine if k in ("diabetes", "hypothyroidism")}


@pytest.mark.parametrize(
    "features, values",
    [
        ({"polyneuropathy": "present", "sclerotic_bone_lesions": "present", "ascites": "present"}, {}),  # one mandatory
        (BASELINE_FEATURES | {"ascites": "present"}, {"vegf_plasma": 150}),  # no other major
        (BASELINE_FEATURES | {"castleman_disease": "present", "clubbing": "present"}, {}),  # "other" feature is no minor
        (BASELINE_FEATURES | {"castleman_disease": "present", "ascites": "absent"}, {}),
    ],
)
def test_criteria_not_fulfilled(features, values):
    assert assess_criteria(patient(visit("2020-01-10", features=features, **values)), P).fulfilled_on is None


def test_derived_thrombocytosis_is_a_minor_criterion_and_as_of_cuts_later_visits():
    pt = patient(
        visit("2020-01-10", features=BASELINE_FEATURES | {"sclerotic_bone_lesions": "present"}),
        visit("2020-06-01", platelets=610),
        visit("2020-09-01", platelets=590),  # the second count of the run confirms it
    )
    assert assess_criteria(pt, P).fulfilled_on == date(2020, 9, 1)
    assert assess_criteria(pt, P, as_of=date(2020, 8, 31)).fulfilled_on is None


# --- thrombocytosis / polycythaemia from counts: confirmation, the clinician's word (defect 8) ------

BONE = BASELINE_FEATURES | {"sclerotic_bone_lesions": "present"}


def test_one_reactive_count_does_not_fulfil_the_criterion():
    pt = patient(visit("2020-01-10", platelets=610, features=BONE))
    a = assess_criteria(pt, P)
    assert a.fulfilled_on is None
    (nc,) = a.not_counted
    assert nc.feature == "thrombocytosis" and "not yet confirmed" in nc.reason and "count_confirmations" in nc.reason


def test_a_second_count_in_the_run_confirms_and_the_criterion_says_so():
    pt = patient(visit("2020-01-10", platelets=610, features=BONE), visit("2020-02-10"),  # no count: run goes on
                 visit("2020-03-10", platelets=520))
    a = assess_criteria(pt, P)
    assert a.fulfilled_on == date(2020, 3, 10) and a.not_counted == ()
    note = a.criterion("thrombocytosis_polycythemia").note
    assert "confirmed: 2 counts above the limit in this run (first on 2020-01-10)" in note


def test_a_normal_count_ends_the_run_before_confirmation():
    pt = patient(visit("2020-01-10", platelets=610, features=BONE), visit("2020-02-10", platelets=300),
                 visit("2020-03-10", platelets=520))
    assert assess_criteria(pt, P).fulfilled_on is None


def test_the_clinicians_present_confirms_a_single_count():
    pt = patient(visit("2020-01-10", platelets=610, features=BONE | {"thrombocytosis": "present"}))
    a = assess_criteria(pt, P)
    assert a.fulfilled_on == date(2020, 1, 10)
    assert "confirmed by the clinician" in a.criterion("thrombocytosis_polycythemia").note


def test_the_clinicians_absent_at_the_same_visit_wins_over_the_count():
    pt = patient(visit("2020-01-10", platelets=610, features=BONE | {"thrombocytosis": "absent"}),
                 visit("2020-03-10", platelets=620, features={"thrombocytosis": "absent"}))
    a = assess_criteria(pt, P)
    assert a.fulfilled_on is None
    (nc,) = a.not_counted
    assert nc.reason.startswith("entered as absent by the clinician at this visit, which overrides the count")
    d = derive_features(pt.visits[0], "female", P)[1]
    assert (d.code, d.state, d.source, d.measured_above) == ("thrombocytosis", FeatureState.ABSENT, "clinician_absent", True)


def test_confirmation_is_a_protocol_setting():
    pt = patient(visit("2020-01-10", hemoglobin=16.8, features=BONE))
    assert assess_criteria(pt, P).fulfilled_on is None
    assert assess_criteria(pt, replace(P, count_confirmations=1)).fulfilled_on == date(2020, 1, 10)


def test_vegf_elevation_counts_from_one_value():
    assert assess_criteria(patient(visit("2020-01-10", vegf_plasma=900, features=BASELINE_FEATURES
                                         | {"ascites": "present"})), P).fulfilled_on == date(2020, 1, 10)


@pytest.mark.parametrize(
    "skin, fulfilled",
    [
        ({"cherry_angioma": "present"}, False),  # defect 9 of issue 9: not in the Dispenzieri skin list
        ({"glomeruloid_hemangioma": "present"}, True),  # in the list (REFERENCE 1)
        ({"cherry_angioma": "present", "hyperpigmentation": "present"}, True),
    ],
)
def test_cherry_angiomas_do_not_count_towards_the_skin_criterion(skin, fulfilled):
    pt = patient(visit("2020-01-10", vegf_plasma=900, features={**BASELINE_FEATURES, **skin}))
    a = assess_criteria(pt, P)
    assert (a.fulfilled_on is not None) is fulfilled
    assert ("cherry_angioma" in a.criterion("skin_changes").features) is False
    if "cherry_angioma" in skin:
        (nc,) = a.not_counted
        assert nc.feature == "cherry_angioma" and "not in the Dispenzieri skin list" in nc.reason


def test_explanations_are_written_only_when_read(monkeypatch):
    """Every visit gets derived features, but a sentence costs a fifth of a clinic's rules time:
    it is written when a flag, criterion or screen reads it, and then reads exactly as before."""
    import poems_monitor.domain.derived as derived_module

    written = []
    shown = derived_module._shown
    monkeypatch.setattr(derived_module, "_shown", lambda o, units: written.append(o.code) or shown(o, units))
    record = patient(*(visit(f"2024-0{m}-02", platelets=500 + m, vegf_plasma=640) for m in range(1, 4)))
    history = feature_history(record, P)
    assert written == []  # states, sources and evidence are there; no sentence yet
    assert [vf.state("thrombocytosis") for vf in history] == ["unknown", "present", "present"]  # two counts confirm
    first = history[0].derived_feature("thrombocytosis")
    assert first.evidence["platelets"]["value"] == 501
    assert first.explanation == (
        "Platelets 501 ×10⁹/L > 450 ×10⁹/L (DEFAULT) on 2024-01-02; not yet confirmed for the criteria: 2 counts "
        "above the limit in a run, or the clinician's \"present\", are needed (count_confirmations (DEFAULT))")
    assert written == ["platelets"]
    assert first.explanation is first.explanation  # written once, then kept
    assert written == ["platelets"]
