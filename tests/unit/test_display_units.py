"""The protocol's [units] table (issue 15, units as the clinic works): read and checked on load,
refused with a sentence naming the measure and the rule, absent = canonical units, and the
conversion between the clinic's unit and the canonical one exact both ways."""

from __future__ import annotations

import pytest

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.display_units import CANONICAL, DisplayUnits, choosable_units, parse_units, units_toml
from poems_monitor.domain.protocol import ProtocolError, default_protocol, default_protocol_text, load_protocol
from poems_monitor.domain.validation import check_value

SI = '\n[units]\ncreatinine = "umol/L"\nglucose_fasting = "mmol/L"\nhemoglobin = "g/L"\nalbumin = "g/L"\ncalcium = "mmol/L"\n'


def with_units(table: str) -> str:
    return default_protocol_text() + table


def test_a_protocol_without_the_table_means_canonical_units():
    p = default_protocol()
    assert p.units == CANONICAL
    assert p.units.label("creatinine") == "mg/dL" and p.units.unit("hemoglobin") == "g/dL"


def test_an_si_protocol_is_read_and_only_chooses_how_values_are_shown():
    p = load_protocol(with_units(SI))
    assert p.units.as_table() == {"creatinine": "umol/L", "glucose_fasting": "mmol/L", "hemoglobin": "g/L",
                                  "albumin": "g/L", "calcium": "mmol/L"}
    assert p.units.label("creatinine") == "µmol/L"
    assert p.units.label("platelets") == "×10⁹/L"  # not listed: canonical
    # the thresholds the rules compare stay canonical
    assert p.hemoglobin_high_female == default_protocol().hemoglobin_high_female == 16.0
    assert [s.value for s in p.describe()] == [s.value for s in default_protocol().describe()]


def test_units_are_spelled_as_the_catalogue_spells_them():
    p = load_protocol(with_units('\n[units]\ncreatinine = "UMOL/L"\nhemoglobin = "g/dL"\n'))
    assert p.units.as_table() == {"creatinine": "umol/L"}  # the canonical unit needs no row


@pytest.mark.parametrize(("row", "words"), [
    ('creatinin = "umol/L"', ["units.creatinin", "'creatinin' is not a measure of the catalogue"]),
    ('creatinine = "g/L"', ["units.creatinine", "Creatinine cannot be shown in 'g/L'",
                            'converts it only to "mg/dL", "umol/L"']),
    ('hemoglobin = "mmol/L"', ["units.hemoglobin", "Haemoglobin cannot be shown in 'mmol/L'"]),
    ('creatinine = 88.42', ["units.creatinine", "must be a UCUM code in quotes"]),
    ('onls = "points"', ["units.onls", "ONLS total cannot be shown in 'points'"]),
])
def test_a_bad_unit_row_is_refused_naming_the_line_the_measure_and_the_rule(row, words):
    text = with_units("\n[units]\n" + row + "\n")
    with pytest.raises(ProtocolError) as refused:
        load_protocol(text)
    message = str(refused.value)
    for word in words:
        assert word in message
    assert refused.value.line == len(text.splitlines())
    assert refused.value.key.startswith("units.")


def test_units_must_be_a_table():
    with pytest.raises(ProtocolError, match="must be a table"):
        load_protocol(default_protocol_text().replace('version = 1\n', 'version = 1\nunits = "SI"\n'))


def test_typed_in_micromoles_stored_canonical_and_shown_as_typed():
    units = parse_units({"creatinine": "umol/L"})
    checked = check_value("creatinine", 88.4, "umol/L")
    assert checked.unit == "mg/dL"
    assert checked.canonical == pytest.approx(1.0, abs=0.001)  # 88.4 / 88.42
    assert units.text("creatinine", checked.canonical, 88.4, "umol/L") == "88.4 µmol/L"
    # a value stored canonical without the typed number is converted and written at µmol/L precision
    assert units.text("creatinine", 1.0) == "88 µmol/L"
    assert units.text("hemoglobin", 13.1) == "13.1 g/dL"  # not chosen: canonical


@pytest.mark.parametrize("code", sorted(c for c, m in MEASURES.items() if m.alternatives))
def test_round_trip_is_exact_for_every_choosable_unit(code):
    """A value read in the clinic's unit and typed back reads the same: from the number kept as
    typed, and even from the canonical value alone at the unit's decimals."""
    m = MEASURES[code]
    lo, hi = m.absolute.low or 0.0, m.absolute.high or 1000.0
    for unit in choosable_units(code):
        units = DisplayUnits(((code, unit),)) if unit != m.unit else CANONICAL
        decimals = units.decimals(code)
        for fraction in (0.013, 0.1, 0.37, 0.5, 0.91):
            text = f"{units.to_display(code, lo + (hi - lo) * fraction):.{decimals}f}"
            canonical = check_value(code, text, unit).canonical  # what the entry form stores
            assert units.number(code, canonical, float(text), unit) == text, (code, unit)
            assert units.number(code, canonical) == text, (code, unit)


def test_limits_are_written_in_the_unit_the_value_was_typed_in():
    over = check_value("creatinine", 3000, "umol/L")
    assert over.refused
    assert "largest possible value 2653 µmol/L" in over.message  # 30 mg/dL
    critical = check_value("creatinine", 1000, "umol/L")
    assert "critical limit 884 µmol/L" in critical.message  # 10 mg/dL
    low = check_value("hemoglobin", 95, "g/L", sex="female")
    assert "reference range 120–160 g/L" in low.message
    assert "critical limit 10 mg/dL" in check_value("creatinine", 11, "mg/dL").message


def test_units_toml_writes_the_table_back():
    units = parse_units({"hemoglobin": "g/L", "creatinine": "umol/L"})
    assert units_toml(units) == '[units]\ncreatinine = "umol/L"\nhemoglobin = "g/L"\n'
    assert load_protocol(default_protocol_text() + "\n" + units_toml(units)).units == units
    assert units_toml(CANONICAL) == ""


def test_explanations_and_flags_quote_the_clinic_unit_and_decide_on_canonical_values():
    from poems_monitor.domain.derived import derive_features
    from poems_monitor.domain.flags import compute_flags
    from tests.unit.timeline_builders import patient, visit

    si = load_protocol(with_units(SI))
    v = visit("2024-05-05", hemoglobin=17.0, platelets=300)
    poly_si = next(f for f in derive_features(v, "male", si) if f.code == "polycythemia")
    poly = next(f for f in derive_features(v, "male", default_protocol()) if f.code == "polycythemia")
    assert poly_si.state == poly.state  # the same decision, on 17.0 g/dL > 16.5 g/dL
    assert "Haemoglobin 170 g/L > 165 g/L [WHO-PV]" in poly_si.explanation
    assert "Haemoglobin 17 g/dL > 16.5 g/dL [WHO-PV]" in poly.explanation
    record = patient(visit("2026-10-01", creatinine=12.0), sex="male")
    as_of = __import__("datetime").date(2026, 11, 21)
    flags_si = compute_flags(record, si, as_of)
    flags = compute_flags(record, default_protocol(), as_of)
    assert [f.flag_id for f in flags_si] == [f.flag_id for f in flags]  # same flags, same identities
    critical = next(f for f in flags_si if f.code == "creatinine")
    assert "Creatinine 1061 µmol/L" in critical.message and "884 µmol/L" in critical.message


def test_the_response_table_quotes_m_protein_and_vegf_in_the_clinic_unit():
    from datetime import date

    from poems_monitor.domain.response import assess_response
    from tests.unit.timeline_builders import obs, patient, treatment, visit

    record = patient(visit("2021-01-10", obs("ife", "lambda"), m_protein=0.3, vegf_plasma=1240),
                     visit("2021-06-10", obs("ife", "lambda"), m_protein=0.9, vegf_plasma=300),
                     treatments=[treatment("lenalidomide_dexamethasone", "2021-02-01")])
    si = load_protocol(with_units('\n[units]\nm_protein = "g/L"\nvegf_plasma = "ng/mL"\n'))
    line_si = assess_response(record, si, date(2021, 12, 1))[0]
    line = assess_response(record, default_protocol(), date(2021, 12, 1))[0]
    assert line_si.hematologic.category == line.hematologic.category == "progression"  # decided in g/dL
    assert ">= 5 g/L above its nadir 3 g/L on 2021-01-10" in line_si.hematologic.rule
    assert ">= 0.5 g/dL above its nadir 0.3 g/dL on 2021-01-10" in line.hematologic.rule
    assert "baseline 1.24 ng/mL on 2021-01-10" in line_si.vegf.evidence
    assert line_si.vegf.category == line.vegf.category
