"""What the rules remember on an immutable visit (its values by code, its findings and derived
features) answers exactly as computing again would, for the protocol and sex asked about."""

from __future__ import annotations

from dataclasses import replace

from poems_monitor.domain.derived import derive_features
from poems_monitor.domain.followup import visit_findings
from poems_monitor.domain.protocol import default_protocol

from .timeline_builders import obs, visit


def states(features) -> dict[str, str]:
    return {f.code: f.state.value for f in features}


def test_value_is_the_first_of_its_code_as_a_scan_finds_it():
    v = visit("2024-01-10", obs("platelets", 512), obs("platelets", 90), obs("vegf_plasma", 300))
    assert v.value("platelets").number == 512
    assert v.value("vegf_plasma").number == 300
    assert v.value("hemoglobin") is None


def test_derived_features_follow_the_protocol_they_are_asked_for():
    v = visit("2024-01-10", platelets=500)
    protocol = default_protocol()
    assert states(derive_features(v, "female", protocol))["thrombocytosis"] == "present"
    stricter = replace(protocol, platelets_high=600)  # a protocol change: the same visit, another verdict
    assert states(derive_features(v, "female", stricter, explain=False))["thrombocytosis"] == "absent"
    assert states(derive_features(v, "female", stricter))["thrombocytosis"] == "absent"
    assert states(derive_features(v, "female", protocol, explain=False))["thrombocytosis"] == "present"


def test_an_explained_result_answers_a_question_without_explanations_but_not_the_reverse():
    v = visit("2024-01-10", platelets=500)
    protocol = default_protocol()
    bare = derive_features(v, "female", protocol, explain=False)
    assert all(f.explanation == "" for f in bare if f.code == "thrombocytosis")
    explained = derive_features(v, "female", protocol)
    assert "500" in explained[1].explanation  # computed with its sentence, not the bare result
    assert derive_features(v, "female", protocol, explain=False) == explained


def test_polycythaemia_follows_the_sex_asked_for():
    v = visit("2024-01-10", hemoglobin=16.3)  # above the female limit, below the male one (WHO 2016)
    protocol = default_protocol()
    assert states(derive_features(v, "female", protocol))["polycythemia"] == "present"
    assert states(derive_features(v, "male", protocol))["polycythemia"] == "absent"
    assert states(derive_features(v, "unknown", protocol)).get("polycythemia") == "unknown"


def test_visit_findings_follow_the_protocol_they_are_asked_for():
    v = visit("2024-01-10", pasp=30)  # inside the catalogue's reference: the protocol's threshold decides
    protocol = default_protocol()
    low, high = replace(protocol, pasp_pulmonary_hypertension=25), replace(protocol, pasp_pulmonary_hypertension=40)
    assert visit_findings(v, "female", low).verdict == {"echo": True}
    assert visit_findings(v, "female", high).verdict == {"echo": False}
    assert visit_findings(v, "female", low).verdict == {"echo": True}
