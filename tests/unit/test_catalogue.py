"""The catalogue holds every code of INTERFACES.md section 2, with units, limits and sources.

The expected lists are typed here from INTERFACES.md and REFERENCE.md, not read from the
catalogue, so that a code dropped or renamed in the catalogue fails a test.
"""

from __future__ import annotations

import pytest

from poems_monitor.domain.catalogue import (
    CRITERIA, DRUG_CLASSES, EVENT_TYPES, EXAM_KINDS, EXAM_RESULTS, FEATURES, MEASURES, REGIMENS, SEXES,
    THROMBOPROPHYLAXIS, CriterionClass, FeatureState, MeasureKind, display_name, measure,
)

# INTERFACES.md section 2, "Measurements (canonical UCUM unit)". None: the contract names no unit
# (a ratio, a categorical result); scores carry their range instead.
REQUIRED_MEASURES: dict[str, str | None] = {
    "vegf_plasma": "pg/mL", "vegf_serum": "pg/mL", "platelets": "10*9/L", "hemoglobin": "g/dL",
    "hematocrit": "%", "m_protein": "g/dL", "flc_kappa": "mg/L", "flc_lambda": "mg/L", "flc_ratio": None,
    "ife": None, "tsh": "m[IU]/L", "free_t4": "ng/dL", "glucose_fasting": "mg/dL", "hba1c": "%",
    "testosterone": "ng/dL", "estradiol": "pg/mL", "prolactin": "ng/mL", "cortisol_am": "ug/dL",
    "calcium": "mg/dL", "pth": "pg/mL", "creatinine": "mg/dL", "egfr": "mL/min/{1.73_m2}", "albumin": "g/dL",
    "fvc_pct": "%", "fev1_pct": "%", "tlc_pct": "%", "dlco_pct": "%", "mip": "cm[H2O]", "mep": "cm[H2O]",
    "pasp": "mm[Hg]", "lvef": "%", "weight": "kg", "onls_arm": None, "onls_leg": None, "onls": None,
    "incat": None, "mrs": None,
}

# Scores and their ranges, as INTERFACES.md gives them.
SCORE_RANGES = {"onls_arm": (0, 5), "onls_leg": (0, 7), "onls": (0, 12), "incat": (0, 10), "mrs": (0, 6)}

# "g/L converts", "mg/dL converts", ... in INTERFACES.md section 2.
REQUIRED_ALTERNATIVE_UNITS = {
    "platelets": "10*3/uL", "hemoglobin": "g/L", "m_protein": "g/L", "flc_kappa": "mg/dL", "flc_lambda": "mg/dL",
    "glucose_fasting": "mmol/L", "calcium": "mmol/L", "creatinine": "umol/L", "albumin": "g/L",
}

# Features, grouped into the criteria of REFERENCE.md section 1 (numbering of that table).
FEATURE_CRITERION = {
    "polyneuropathy": "polyneuropathy",
    "monoclonal_plasma_cell_disorder": "monoclonal_plasma_cell_disorder",
    "castleman_disease": "castleman_disease",
    "sclerotic_bone_lesions": "sclerotic_bone_lesions",
    "vegf_elevation": "vegf_elevation",
    "hepatomegaly": "organomegaly", "splenomegaly": "organomegaly", "lymphadenopathy": "organomegaly",
    "peripheral_edema": "extravascular_volume_overload", "pleural_effusion": "extravascular_volume_overload",
    "ascites": "extravascular_volume_overload", "pericardial_effusion": "extravascular_volume_overload",
    "hypogonadism": "endocrinopathy", "hypothyroidism": "endocrinopathy", "adrenal_insufficiency": "endocrinopathy",
    "diabetes": "endocrinopathy", "hyperprolactinemia": "endocrinopathy", "hypoparathyroidism": "endocrinopathy",
    "gynecomastia": "endocrinopathy",
    "hyperpigmentation": "skin_changes", "hypertrichosis": "skin_changes", "glomeruloid_hemangioma": "skin_changes",
    "cherry_angioma": "skin_changes", "plethora": "skin_changes", "acrocyanosis": "skin_changes",
    "flushing": "skin_changes", "white_nails": "skin_changes", "skin_thickening": "skin_changes",
    "papilledema": "papilledema",
    "thrombocytosis": "thrombocytosis_polycythemia", "polycythemia": "thrombocytosis_polycythemia",
    "clubbing": "other", "weight_loss": "other", "hyperhidrosis": "other", "pulmonary_hypertension": "other",
    "restrictive_lung_disease": "other", "cardiomyopathy": "other", "diarrhea": "other", "low_b12": "other",
}
# REFERENCE.md section 1: class and number of each criterion.
CRITERION_CLASS = {
    "polyneuropathy": (CriterionClass.MANDATORY, 1),
    "monoclonal_plasma_cell_disorder": (CriterionClass.MANDATORY, 2),
    "castleman_disease": (CriterionClass.MAJOR, 3),
    "sclerotic_bone_lesions": (CriterionClass.MAJOR, 4),
    "vegf_elevation": (CriterionClass.MAJOR, 5),
    "organomegaly": (CriterionClass.MINOR, 6),
    "extravascular_volume_overload": (CriterionClass.MINOR, 7),
    "endocrinopathy": (CriterionClass.MINOR, 8),
    "skin_changes": (CriterionClass.MINOR, 9),
    "papilledema": (CriterionClass.MINOR, 10),
    "thrombocytosis_polycythemia": (CriterionClass.MINOR, 11),
    "other": (CriterionClass.OTHER, None),
}
DERIVED_FEATURES = {"vegf_elevation", "thrombocytosis", "polycythemia"}

REQUIRED_REGIMENS = (
    "radiotherapy", "melphalan_dexamethasone", "lenalidomide_dexamethasone", "thalidomide_dexamethasone",
    "pomalidomide_dexamethasone", "bortezomib_dexamethasone", "bortezomib_cyclophosphamide_dexamethasone",
    "daratumumab_based", "cyclophosphamide_based", "asct", "bevacizumab", "corticosteroids", "ivig",
    "plasma_exchange", "other",
)
REQUIRED_DRUG_CLASSES = {"imid", "proteasome_inhibitor", "alkylator", "anti_cd38", "anti_vegf", "steroid",
                         "radiation", "transplant"}
# What the rules must be able to find in each regimen (pharmacology, not read from the code).
REGIMEN_CLASSES_AT_LEAST = {
    "radiotherapy": {"radiation"},
    "melphalan_dexamethasone": {"alkylator", "steroid"},
    "lenalidomide_dexamethasone": {"imid", "steroid"},
    "thalidomide_dexamethasone": {"imid", "steroid"},
    "pomalidomide_dexamethasone": {"imid", "steroid"},
    "bortezomib_dexamethasone": {"proteasome_inhibitor", "steroid"},
    "bortezomib_cyclophosphamide_dexamethasone": {"proteasome_inhibitor", "alkylator", "steroid"},
    "daratumumab_based": {"anti_cd38"},
    "cyclophosphamide_based": {"alkylator"},
    "asct": {"transplant"},
    "bevacizumab": {"anti_vegf"},
    "corticosteroids": {"steroid"},
}
# Classes a regimen must NOT carry (a wrong class changes what the rules say).
REGIMEN_CLASSES_NOT = {
    "lenalidomide_dexamethasone": {"proteasome_inhibitor", "transplant", "anti_vegf"},
    "bortezomib_dexamethasone": {"imid"},
    "bevacizumab": {"imid", "steroid"},
    "radiotherapy": {"imid", "proteasome_inhibitor", "alkylator", "steroid", "transplant"},
    "ivig": REQUIRED_DRUG_CLASSES,
    "plasma_exchange": REQUIRED_DRUG_CLASSES,
}

REQUIRED_EVENTS = ("dvt", "pe", "arterial_thrombosis", "stroke", "tia", "myocardial_infarction", "relapse",
                   "progression", "engraftment_syndrome", "hospitalisation", "death", "other")
THROMBOTIC_EVENTS = {"dvt", "pe", "arterial_thrombosis", "stroke", "tia", "myocardial_infarction"}
REQUIRED_EXAM_KINDS = ("echo", "pft", "imaging", "bone_marrow", "nerve_conduction", "endocrine_panel")
# INTERFACES.md: "dlco_pct to pft, pasp or lvef to echo".
MEASURE_EXAM = {"dlco_pct": "pft", "fvc_pct": "pft", "pasp": "echo", "lvef": "echo"}

# REFERENCE.md section 2.
LOINC = {
    "vegf_plasma": "75628-8", "vegf_serum": "75628-8", "platelets": "777-3", "hemoglobin": "718-7",
    "hematocrit": "4544-3", "m_protein": "33358-3", "flc_kappa": "36916-5", "flc_lambda": "33944-0",
    "flc_ratio": "48378-4", "tsh": "3016-3", "free_t4": "3024-7", "glucose_fasting": "1558-6", "hba1c": "4548-4",
    "testosterone": "2986-8", "estradiol": "2243-4", "prolactin": "2842-3", "cortisol_am": "2143-6",
    "calcium": "17861-6", "pth": "2731-8", "creatinine": "2160-0", "egfr": "98979-8", "albumin": "1751-7",
    "lvef": "10230-1", "pasp": "82341-9", "weight": "29463-7",
}


# --- measures ---------------------------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(REQUIRED_MEASURES))
def test_every_required_measure_exists_with_a_name(code):
    m = MEASURES[code]
    assert m.code == code
    assert m.name.strip() and m.name != code
    assert display_name(code) == m.name


@pytest.mark.parametrize("code, unit", sorted((c, u) for c, u in REQUIRED_MEASURES.items() if u is not None))
def test_canonical_unit_is_the_contract_unit(code, unit):
    assert MEASURES[code].unit == unit


@pytest.mark.parametrize("code, limits", sorted(SCORE_RANGES.items()))
def test_scores_are_whole_numbers_within_their_published_range(code, limits):
    m = MEASURES[code]
    assert m.kind is MeasureKind.SCORE
    assert m.integer
    assert (m.absolute.low, m.absolute.high) == limits


def test_onls_total_is_computed_from_arm_and_leg():
    assert set(MEASURES["onls"].derived_from) == {"onls_arm", "onls_leg"}


def test_ife_is_categorical_and_accepts_lambda_and_negative():
    ife = MEASURES["ife"]
    assert ife.kind is MeasureKind.CATEGORICAL
    assert {"negative", "lambda", "kappa"} <= set(ife.categories)


def test_vegf_plasma_and_serum_are_two_series_on_their_own_specimens():
    assert MEASURES["vegf_plasma"].specimen == "plasma"
    assert MEASURES["vegf_serum"].specimen == "serum"
    # serum normal range is far above plasma: the two must not share a reference range
    assert MEASURES["vegf_serum"].reference.high > MEASURES["vegf_plasma"].reference.high


@pytest.mark.parametrize("code, unit", sorted(REQUIRED_ALTERNATIVE_UNITS.items()))
def test_contract_alternative_units_are_accepted(code, unit):
    m = MEASURES[code]
    assert unit in m.accepted_units
    assert m.conversion_for(unit) is not None
    assert not m.unit_optional  # several units: the unit must be given


@pytest.mark.parametrize("code", sorted(MEASURES))
def test_every_measure_has_unit_and_absolute_limits_with_sources(code):
    m = MEASURES[code]
    ranges = {"absolute": m.absolute, "critical": m.critical, "reference": m.reference,
              "reference_female": m.reference_female, "reference_male": m.reference_male}
    if m.kind is MeasureKind.CATEGORICAL:
        assert m.categories, f"{code}: a categorical measure needs its categories"
    else:
        assert m.unit.strip(), f"{code} has no canonical unit"
        assert m.unit_label.strip(), f"{code} has no unit label for the entry form"
        assert m.absolute.low is not None and m.absolute.high is not None, f"{code}: both absolute limits needed"
        assert m.absolute.low < m.absolute.high
    for name, r in ranges.items():
        if r is None:
            continue
        assert r.source and r.source.strip(), f"{code}.{name} has no source"
        if m.kind is MeasureKind.CATEGORICAL:
            continue
        # critical and reference limits must be possible values
        for limit in (r.low, r.high):
            if limit is not None:
                assert m.absolute.contains(limit), f"{code}.{name} limit {limit} lies outside the absolute limits"


@pytest.mark.parametrize("code", sorted(c for c in MEASURES if MEASURES[c].critical is not None))
def test_critical_limits_lie_outside_the_reference_range(code):
    """A value inside the reference range must never need confirmation."""
    m = MEASURES[code]
    for ref in (m.reference, m.reference_female, m.reference_male):
        if ref is None:
            continue
        if m.critical.high is not None and ref.high is not None:
            assert m.critical.high >= ref.high
        if m.critical.low is not None and ref.low is not None:
            assert m.critical.low <= ref.low


def test_haemoglobin_and_haematocrit_have_sex_specific_references():
    for code in ("hemoglobin", "hematocrit"):
        m = MEASURES[code]
        assert m.sex_specific
        assert m.reference_female is not None and m.reference_male is not None
    # WHO 2016 upper limits (REFERENCE.md section 0)
    assert MEASURES["hemoglobin"].reference_female.high == 16.0
    assert MEASURES["hemoglobin"].reference_male.high == 16.5
    assert MEASURES["hematocrit"].reference_female.high == 48
    assert MEASURES["hematocrit"].reference_male.high == 49


@pytest.mark.parametrize("code, loinc", sorted(LOINC.items()))
def test_loinc_codes_from_the_reference(code, loinc):
    assert MEASURES[code].loinc == loinc


@pytest.mark.parametrize("code, kind", sorted(MEASURE_EXAM.items()))
def test_exam_measures_count_as_their_exam(code, kind):
    assert MEASURES[code].exam_kind == kind


def test_unknown_measure_lookup_names_the_code():
    with pytest.raises(KeyError, match="no_such_code"):
        measure("no_such_code")


# --- features and criteria ------------------------------------------------------------------------

@pytest.mark.parametrize("code, criterion", sorted(FEATURE_CRITERION.items()))
def test_every_required_feature_belongs_to_its_criterion(code, criterion):
    f = FEATURES[code]
    assert f.criterion == criterion
    assert f.name.strip()
    assert f.derived == (code in DERIVED_FEATURES)


@pytest.mark.parametrize("code, expected", sorted(CRITERION_CLASS.items(), key=lambda kv: kv[0]))
def test_criteria_follow_reference_section_1(code, expected):
    c = CRITERIA[code]
    assert (c.klass, c.number) == expected


def test_every_catalogue_feature_points_at_a_known_criterion():
    for f in FEATURES.values():
        assert f.criterion in CRITERIA, f.code


def test_diabetes_and_hypothyroidism_alone_do_not_fulfil_endocrinopathy():
    assert FEATURES["diabetes"].counts_alone is False
    assert FEATURES["hypothyroidism"].counts_alone is False
    assert FEATURES["hypogonadism"].counts_alone is True


def test_feature_states_are_the_contract_words():
    assert {s.value for s in FeatureState} == {"present", "absent", "unknown"}


# --- regimens, events, exams ------------------------------------------------------------------------

@pytest.mark.parametrize("code", REQUIRED_REGIMENS)
def test_every_required_regimen_exists(code):
    assert REGIMENS[code].name.strip()


def test_drug_classes_are_the_contract_classes():
    assert set(DRUG_CLASSES) == REQUIRED_DRUG_CLASSES
    for r in REGIMENS.values():
        assert r.drug_classes <= REQUIRED_DRUG_CLASSES, r.code


@pytest.mark.parametrize("code, classes", sorted(REGIMEN_CLASSES_AT_LEAST.items()))
def test_regimen_drug_classes(code, classes):
    assert classes <= REGIMENS[code].drug_classes


@pytest.mark.parametrize("code, classes", sorted(REGIMEN_CLASSES_NOT.items()))
def test_regimen_does_not_carry_a_wrong_class(code, classes):
    assert not (classes & REGIMENS[code].drug_classes)


def test_thromboprophylaxis_choices():
    assert set(THROMBOPROPHYLAXIS) == {"none", "aspirin", "lmwh", "doac", "warfarin", "unknown"}


@pytest.mark.parametrize("code", REQUIRED_EVENTS)
def test_every_required_event_type_exists(code):
    e = EVENT_TYPES[code]
    assert e.name.strip()
    assert e.thrombotic == (code in THROMBOTIC_EVENTS)


@pytest.mark.parametrize("code", REQUIRED_EXAM_KINDS)
def test_every_required_exam_kind_exists(code):
    assert EXAM_KINDS[code].name.strip()


def test_exam_results_and_sexes():
    assert set(EXAM_RESULTS) == {"normal", "abnormal", "pending"}
    assert set(SEXES) == {"female", "male", "other", "unknown"}


def test_codes_do_not_collide_across_tables():
    """display_name() looks codes up table by table; a measure and a feature sharing a code would
    show the wrong name. Only the documented overlaps (feature == its own criterion) are allowed."""
    tables = {"measure": set(MEASURES), "feature": set(FEATURES), "regimen": set(REGIMENS) - {"other"},
              "event": set(EVENT_TYPES) - {"other"}, "exam": set(EXAM_KINDS)}
    names = list(tables)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not (tables[a] & tables[b]), f"{a} and {b} share codes {tables[a] & tables[b]}"
