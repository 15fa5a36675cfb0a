"""Unit conversions (both ways) and the three tiers of entry limits, as a nurse reads them."""

from __future__ import annotations

import math

import pytest

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.units import UnitConversion, round_sig, same_unit
from poems_monitor.domain.validation import Tier, check_value

# (code, entered value, entered unit, expected canonical value, tolerance)
# Expected values come from the molar masses / definitions, not from the catalogue's factors:
# glucose 180.16 g/mol, calcium 40.08 g/mol, creatinine 113.12 g/mol, T4 776.87 g/mol,
# testosterone 288.42 g/mol; IFCC->NGSP HbA1c: % = 0.09148 * mmol/mol + 2.152.
CONVERSIONS = [
    ("hemoglobin", 125, "g/L", 12.5, 1e-9),
    ("m_protein", 3, "g/L", 0.3, 1e-9),
    ("albumin", 38, "g/L", 3.8, 1e-9),
    ("flc_kappa", 2.5, "mg/dL", 25.0, 1e-9),
    ("flc_lambda", 120, "mg/dL", 1200.0, 1e-9),
    ("glucose_fasting", 5.5, "mmol/L", 5.5 * 180.16 / 10, 0.05),
    ("glucose_fasting", 10.0, "mmol/L", 180.16, 0.1),
    ("calcium", 2.5, "mmol/L", 2.5 * 40.08 / 10, 0.01),
    ("calcium", 2.0, "mmol/L", 8.016, 0.01),
    ("creatinine", 88.4, "umol/L", 1.0, 0.005),
    ("creatinine", 442, "umol/L", 5.0, 0.01),
    ("hba1c", 48, "mmol/mol", 6.5, 0.05),
    ("hba1c", 53, "mmol/mol", 7.0, 0.02),
    ("hba1c", 31, "mmol/mol", 5.0, 0.02),
    ("platelets", 512, "10*3/uL", 512.0, 1e-9),
    ("free_t4", 12.87, "pmol/L", 12.87 * 776.87 / 10000, 0.005),
    ("free_t4", 25.74, "pmol/L", 2.0, 0.005),
    ("testosterone", 10, "nmol/L", 10 * 288.42 / 10, 0.5),
    ("testosterone", 0.5, "nmol/L", 14.42, 0.05),
]


@pytest.mark.parametrize("code, value, unit, expected, tol", CONVERSIONS)
def test_conversion_into_the_canonical_unit(code, value, unit, expected, tol):
    checked = check_value(code, value, unit, sex="female")
    assert not checked.refused, checked.message
    assert checked.unit == MEASURES[code].unit
    assert checked.canonical == pytest.approx(expected, abs=tol)
    if unit != MEASURES[code].unit and unit != "10*3/uL":
        assert checked.converted_from == unit


@pytest.mark.parametrize("code, value, unit, expected, tol", CONVERSIONS)
def test_conversion_back_gives_the_entered_value(code, value, unit, expected, tol):
    conv = MEASURES[code].conversion_for(unit)
    assert conv is not None
    canonical = conv.to_canonical(value)
    assert conv.from_canonical(canonical) == pytest.approx(value, rel=1e-12)
    # and from the independently known canonical value back to the entered unit
    assert conv.from_canonical(expected) == pytest.approx(value, rel=0.01)


def test_hba1c_conversion_is_affine_not_a_factor():
    conv = MEASURES["hba1c"].conversion_for("mmol/mol")
    # 0 mmol/mol is not 0 %: a plain factor would get every value wrong
    assert conv.to_canonical(0) == pytest.approx(2.152, abs=0.01)
    assert conv.from_canonical(7.0) == pytest.approx(53, abs=0.3)


def test_canonical_unit_converts_to_itself():
    checked = check_value("hemoglobin", 12.5, "g/dL", sex="female")
    assert checked.tier is Tier.OK
    assert checked.canonical == 12.5
    assert checked.converted_from is None


def test_units_are_matched_case_insensitively_and_trimmed():
    assert check_value("vegf_plasma", 80, "pg/ml").tier is Tier.OK
    assert check_value("vegf_plasma", 80, " pg/mL ").tier is Tier.OK
    assert same_unit("MG/DL", "mg/dL")


def test_round_sig_keeps_storage_stable():
    assert round_sig(0.1 * 3) == 0.3
    assert round_sig(120 * 0.1) == 12.0
    assert round_sig(0) == 0.0
    assert round_sig(UnitConversion("g/L", "g/L", 0.1).to_canonical(123)) == 12.3


# --- the three tiers ---------------------------------------------------------------------------

def test_impossible_value_is_refused_with_the_nurse_sentence():
    checked = check_value("platelets", 4500, "10*9/L")
    assert checked.tier is Tier.REFUSED
    assert checked.refused
    assert checked.message == (
        "Platelets 4500 ×10⁹/L is above the largest possible value 3000 ×10⁹/L: check for a typing error"
    )
    assert checked.field == "value"


def test_impossible_value_in_another_unit_names_both_units():
    # the limit is written in the unit the value was typed in (issue 15: units as the clinic works)
    checked = check_value("hemoglobin", 300, "g/L", sex="male")
    assert checked.refused
    assert checked.message == (
        "Haemoglobin 300 g/L (= 30 g/dL) is above the largest possible value 250 g/L: check for a typing error"
    )


def test_value_below_the_smallest_possible_is_refused():
    checked = check_value("weight", 0.5, "kg")
    assert checked.refused
    assert checked.message == "Weight 0.5 kg is below the smallest possible value 1 kg: check for a typing error"


def test_negative_count_is_refused():
    checked = check_value("platelets", -5, "10*9/L")
    assert checked.refused
    assert "below the smallest possible value 0" in checked.message


@pytest.mark.parametrize(
    "code, value, unit, side, limit",
    [
        ("platelets", 1500, "10*9/L", "above", "1000"),
        ("platelets", 12, "10*9/L", "below", "20"),
        ("hemoglobin", 6.1, "g/dL", "below", "7"),
        ("glucose_fasting", 2.0, "mmol/L", "below", "2.2 mmol/L"),
        ("calcium", 14, "mg/dL", "above", "13"),
        ("vegf_plasma", 12000, "pg/mL", "above", "10000"),
    ],
)
def test_critical_value_asks_for_confirmation(code, value, unit, side, limit):
    checked = check_value(code, value, unit, sex="male")
    assert checked.tier is Tier.CRITICAL
    assert not checked.refused
    assert f"is {side} the critical limit {limit}" in checked.message
    assert checked.message.endswith("please confirm")
    assert checked.canonical is not None  # a confirmed critical value can be stored


def test_out_of_range_value_is_saved_and_marked():
    checked = check_value("platelets", 600, "10*9/L")
    assert checked.tier is Tier.OUT_OF_RANGE
    assert checked.message == "Platelets 600 ×10⁹/L is outside the reference range 150–450 ×10⁹/L"
    assert checked.canonical == 600


def test_value_in_range_is_ok_without_a_message():
    checked = check_value("platelets", 250, "10*9/L")
    assert checked.tier is Tier.OK
    assert checked.message == ""
    assert checked.canonical == 250


@pytest.mark.parametrize(
    "value, tier",
    [(3000, Tier.CRITICAL), (3000.5, Tier.REFUSED), (0, Tier.CRITICAL), (1000, Tier.OUT_OF_RANGE),
     (450, Tier.OK), (451, Tier.OUT_OF_RANGE), (150, Tier.OK), (149, Tier.OUT_OF_RANGE)],
)
def test_tier_boundaries_are_inclusive(value, tier):
    assert check_value("platelets", value, "10*9/L").tier is tier


# --- units --------------------------------------------------------------------------------------

def test_unknown_unit_is_refused_naming_the_accepted_units():
    checked = check_value("hemoglobin", 12, "mmol/L", sex="female")
    assert checked.refused
    assert checked.field == "unit"
    assert "'mmol/L' is not accepted" in checked.message
    assert "g/dL" in checked.message and "g/L" in checked.message
    assert checked.message.startswith("Haemoglobin")


@pytest.mark.parametrize("unit", [None, "", "   "])
def test_missing_unit_is_refused_where_several_units_exist(unit):
    checked = check_value("hemoglobin", 12, unit, sex="female")
    assert checked.refused
    assert checked.field == "unit"
    assert checked.message == "Haemoglobin: the unit is missing; give one of g/dL, g/L"


@pytest.mark.parametrize("code, value", [("onls_arm", 2), ("onls_leg", 7), ("mrs", 0), ("incat", 10),
                                         ("dlco_pct", 64), ("lvef", 55), ("egfr", 90)])
def test_unit_is_optional_where_the_catalogue_has_one_unit(code, value):
    checked = check_value(code, value)
    assert not checked.refused, checked.message
    assert checked.unit == MEASURES[code].unit
    assert checked.canonical == value


def test_unknown_code_is_refused():
    checked = check_value("vegf", 100, "pg/mL")
    assert checked.refused
    assert checked.message == "'vegf' is not a measure this clinic records"


# --- numbers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [2.5, 0.1, "3.5"])
def test_non_integer_score_is_refused(value):
    checked = check_value("onls_arm", value)
    assert checked.refused
    assert "is not a whole score" in checked.message
    assert checked.message.startswith("ONLS arm")


def test_whole_score_written_as_float_is_accepted():
    assert check_value("onls_leg", 3.0).tier is Tier.OK


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", "twelve", None, True, [1]])
def test_not_a_finite_number_is_refused(value):
    checked = check_value("platelets", value, "10*9/L")
    assert checked.refused
    assert "is not a number" in checked.message
    assert checked.canonical is None


def test_numeric_text_is_read_as_a_number():
    checked = check_value("platelets", " 250 ", "10*9/L")
    assert checked.tier is Tier.OK
    assert checked.canonical == 250


def test_categorical_value():
    assert check_value("ife", "lambda").canonical == "lambda"
    assert check_value("ife", "Lambda ").canonical == "lambda"
    refused = check_value("ife", "maybe")
    assert refused.refused
    assert "'maybe' is not one of negative, lambda" in refused.message


# --- sex-specific references ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "sex, tier",
    [("female", Tier.OUT_OF_RANGE), ("male", Tier.OK), ("other", Tier.OK), ("unknown", Tier.OK), (None, Tier.OK)],
)
def test_haemoglobin_reference_depends_on_sex(sex, tier):
    # 16.3 g/dL is above the WHO 2016 limit for women (16.0) but not for men (16.5)
    assert check_value("hemoglobin", 16.3, "g/dL", sex=sex).tier is tier


@pytest.mark.parametrize("sex", ["other", "unknown", None])
def test_sex_specific_reference_is_not_applied_for_other_or_unknown(sex):
    hb = MEASURES["hemoglobin"]
    assert hb.reference_for(sex) is None
    # even a value outside both the female and the male range is not marked out of range
    assert check_value("hemoglobin", 10.5, "g/dL", sex=sex).tier is Tier.OK
    assert check_value("hematocrit", 52, "%", sex=sex).tier is Tier.OK
    # ... while absolute and critical limits still apply whatever the sex
    assert check_value("hemoglobin", 26, "g/dL", sex=sex).refused
    assert check_value("hemoglobin", 6, "g/dL", sex=sex).tier is Tier.CRITICAL


def test_sex_specific_reference_applies_for_female_and_male():
    assert check_value("hematocrit", 48.5, "%", sex="female").tier is Tier.OUT_OF_RANGE
    assert check_value("hematocrit", 48.5, "%", sex="male").tier is Tier.OK
    assert check_value("hematocrit", 0.485, "L/L", sex="female").canonical == pytest.approx(48.5)


def test_a_number_decided_from_the_remembered_plan_gets_the_long_way_s_verdict(monkeypatch):
    """`check_value` decides most numbers from a plan per code, unit and sex and keeps its verdict
    on each number found fine (an import checks millions); at every limit, just inside and just
    outside, for every measure, unit spelling and sex, asked once and again, the result is the one
    the long way gives (tier, sentence, canonical value, unit, conversion, field)."""
    from poems_monitor.domain import validation

    cases = []
    for code, m in sorted(MEASURES.items()):
        limits = {x for r in (m.absolute, m.critical, m.reference, m.reference_female, m.reference_male) if r
                  for x in (r.low, r.high) if x is not None}
        numbers = {0, -0.0, 1, 2.5, 10 ** 40, 10 ** 40 - 1, 1e300}
        for x in limits:
            numbers |= {x, x * (1 + 1e-9) + 1e-12, x * (1 - 1e-9) - 1e-12, int(x), round(x, 1)}
        units = [None, "", " ", m.unit, m.unit.upper(), f" {m.unit} ", "no-such-unit"] + [c.unit for c in m.alternatives]
        cases += [(code, n, u, sex) for n in sorted(numbers) for u in units for sex in (None, "female", "male", "other")]
    monkeypatch.setattr(validation, "_PLANS", {})
    monkeypatch.setattr(validation, "_fine_kept", 0)
    remembered = [check_value(*case) for case in cases] + [check_value(*case) for case in cases]
    monkeypatch.setattr(validation, "_plan", lambda key: None)  # the long way only
    monkeypatch.setattr(validation, "_PLANS", {})
    long_way = [check_value(*case) for case in cases] * 2
    assert len(cases) > 10_000
    assert sum(r.tier is Tier.OK for r in remembered) > 1000 and any(r.refused for r in remembered)
    for case, got, expected in zip(cases * 2, remembered, long_way):
        assert got == expected, case
