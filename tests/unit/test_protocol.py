"""The clinic protocol file: defaults from REFERENCE.md, sources, and refusal of invalid files."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from poems_monitor.domain.protocol import (
    SPECS, Protocol, ProtocolError, default_protocol, default_protocol_text, load_protocol,
)

TEXT = default_protocol_text()


def _line_of(key: str) -> int:
    for number, line in enumerate(TEXT.splitlines(), start=1):
        if line.startswith(f"{key} ="):
            return number
    raise AssertionError(key)


def _replace_value(key: str, new: str) -> str:
    """The default text with `key`'s value replaced by `new` (raw TOML)."""
    lines = TEXT.splitlines()
    i = _line_of(key) - 1
    lines[i] = re.sub(r"value = [^,]+,", f"value = {new},", lines[i], count=1)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "key, value, source_tag",
    [
        ("vegf_plasma_elevated", 200, "[DSOUZA11]"),
        ("vegf_serum_elevated", 1040, "[MISAWA15]"),
        ("vegf_rise_fraction", 0.5, "DEFAULT"),
        ("platelets_high", 450, "DEFAULT"),  # a convention, not POEMS literature (issue 9 defect 12)
        ("hemoglobin_high_female", 16.0, "[WHO-PV]"),
        ("hemoglobin_high_male", 16.5, "[WHO-PV]"),
        ("hematocrit_high_female", 48, "[WHO-PV]"),
        ("hematocrit_high_male", 49, "[WHO-PV]"),
        ("pft_decline_points", 10, "DEFAULT"),
        ("pft_decline_window_months", 24, "DEFAULT"),
        ("neuropathy_worse_points", 1, "DEFAULT"),
        ("due_soon_days", 30, "DEFAULT"),
        ("vegf_first_year_months", 3, "DEFAULT"),
        ("vegf_months", 6, "[GENTILE24]"),
        ("echo_normal_months", 24, "DEFAULT"),
        ("echo_abnormal_months", 6, "DEFAULT"),
        ("pft_abnormal_months", 12, "DEFAULT"),
        ("endocrine_remission_months", 12, "DEFAULT"),
        ("remission_stable_years", 2, "DEFAULT"),
        ("es_days_after_engraftment", 4, "[SPITZER]"),
        ("thrombosis_risk_after_start_months", 3, "DEFAULT"),  # [MELLORS21]: 3 months of diagnosis, not of a line
        ("pasp_pulmonary_hypertension", 50, "[LI13]"),
        ("pasp_rise_step", 10, "DEFAULT"),
        ("lvef_floor_pct", 50, "[HL7-LT]"),
        ("count_confirmations", 2, "DEFAULT"),
        ("es_days_before_engraftment", 1, "Maiolino"),
        ("imaging_remission_months", 24, "DEFAULT"),
        ("restaging_within_months", 1, "DEFAULT"),
    ],
)
def test_default_values_and_sources(key, value, source_tag):
    p = default_protocol()
    assert getattr(p, key) == value
    assert p.source(key).startswith(source_tag)
    assert p.is_default(key) == (source_tag == "DEFAULT")


def test_every_setting_has_a_source_and_describe_lists_them_all_in_order():
    rows = default_protocol().describe()
    assert [r.key for r in rows] == [s.key for s in SPECS]
    for row in rows:
        assert row.source, row.key
        assert row.is_default == row.source.upper().startswith("DEFAULT")
        # every literature value names a REFERENCE.md key; everything else says DEFAULT
        assert row.is_default or re.match(r"\[[A-Z0-9/\-]+\]", row.source) or row.key == "es_days_before_engraftment", row


def test_integer_settings_are_ints_and_thresholds_floats():
    p = default_protocol()
    assert isinstance(p.due_soon_days, int) and isinstance(p.vegf_months, int)
    assert isinstance(p.vegf_plasma_elevated, float)


def test_loaded_values_can_be_changed_by_a_clinic():
    p = load_protocol(_replace_value("vegf_rise_fraction", "0.25"))
    assert p.vegf_rise_fraction == 0.25
    assert p == replace(default_protocol(), vegf_rise_fraction=0.25)


def test_cite_gives_short_tags():
    p = default_protocol()
    assert p.cite("hemoglobin_high_male") == "[WHO-PV]"
    assert p.cite("vegf_rise_fraction") == "(DEFAULT)"


@pytest.mark.parametrize(
    "mutate, key, fragment",
    [
        (lambda: _replace_value("vegf_rise_fraction", '"half"'), "thresholds.vegf_rise_fraction", "must be a number"),
        (lambda: _replace_value("vegf_months", "true"), "intervals.vegf_months", "must be a number"),
        (lambda: _replace_value("vegf_months", "6.5"), "intervals.vegf_months", "whole number"),
        (lambda: _replace_value("echo_normal_months", "-24"), "intervals.echo_normal_months", "negative"),
        (lambda: _replace_value("due_soon_days", "-1"), "status.due_soon_days", "negative"),
        (lambda: _replace_value("vegf_months", "0"), "intervals.vegf_months", "greater than 0"),
        (lambda: _replace_value("vegf_response_fraction", "1.5"), "thresholds.vegf_response_fraction", "at most 1"),
        (lambda: TEXT.replace("vegf_months = {", "vegf_monthz = {"), "intervals.vegf_monthz", "unknown setting"),
        (lambda: TEXT.replace('unit = "g/dL", source = "[WHO-PV] WHO 2016 polycythaemia vera: Hb >16.5',
                              'unit = "g/L", source = "[WHO-PV] WHO 2016 polycythaemia vera: Hb >16.5'),
         "thresholds.hemoglobin_high_male", "unit must be"),
        (lambda: re.sub(r'^hemoglobin_high_female = .*$', 'hemoglobin_high_female = { value = 16.0, unit = "g/dL" }', TEXT,
                        flags=re.M),
         "thresholds.hemoglobin_high_female", "source is missing"),
        (lambda: TEXT.replace('platelets_high = { value = 450, ', 'platelets_high = { ', 1), "thresholds.platelets_high",
         "value is missing"),
        (lambda: _replace_value("es_watch_start_day", "30"), "engraftment.es_watch_end_day", "earlier than"),
        # issue 9 "Bad input" / issue 11 item 5: impossible numbers are refused, naming line and key
        (lambda: _replace_value("vegf_plasma_elevated", "nan"), "thresholds.vegf_plasma_elevated", "finite number"),
        (lambda: _replace_value("vegf_serum_elevated", "inf"), "thresholds.vegf_serum_elevated", "finite number"),
        (lambda: _replace_value("pasp_rise_step", "-inf"), "thresholds.pasp_rise_step", "finite number"),
        (lambda: _replace_value("vegf_rise_fraction", "1e-320"), "thresholds.vegf_rise_fraction", "subnormal"),
        (lambda: _replace_value("platelets_high", "false"), "thresholds.platelets_high", "must be a number"),
        (lambda: _replace_value("echo_abnormal_months", "0"), "intervals.echo_abnormal_months", "impossible interval"),
        (lambda: _replace_value("imaging_months", "121"), "intervals.imaging_months", "above 10 years"),
        (lambda: _replace_value("platelets_high", "5000"), "thresholds.platelets_high", "absolute limits of Platelets"),
        (lambda: _replace_value("hemoglobin_high_male", "30"), "thresholds.hemoglobin_high_male", "absolute limits of Haemoglobin"),
        (lambda: _replace_value("lvef_floor_pct", "150"), "thresholds.lvef_floor_pct", "absolute limits of LVEF"),
        (lambda: _replace_value("pasp_pulmonary_hypertension", "250"), "thresholds.pasp_pulmonary_hypertension",
         "absolute limits of PASP (echo) (0–200 mmHg)"),
        (lambda: _replace_value("count_confirmations", "0"), "thresholds.count_confirmations", "at least 1"),
    ],
)
def test_invalid_files_are_refused_naming_line_and_key(mutate, key, fragment):
    text = mutate()
    with pytest.raises(ProtocolError) as err:
        load_protocol(text)
    setting = key.split(".")[-1]
    expected_line = next(
        (n for n, line in enumerate(text.splitlines(), start=1) if line.startswith(f"{setting} =")), None)
    assert err.value.key == key
    assert err.value.line == expected_line
    assert f"line {expected_line}" in str(err.value)
    assert key in str(err.value)
    assert fragment in str(err.value)


def test_missing_setting_names_its_section_line():
    text = "\n".join(line for line in TEXT.splitlines() if not line.startswith("due_soon_days ="))
    with pytest.raises(ProtocolError) as err:
        load_protocol(text)
    section_line = text.splitlines().index("[status]") + 1
    assert err.value.line == section_line
    assert "status.due_soon_days" in str(err.value) and "missing" in str(err.value)


def test_missing_section_is_refused():
    start = TEXT.index("[engraftment]")
    with pytest.raises(ProtocolError, match=r"engraftment: section \[engraftment\] is missing"):
        load_protocol(TEXT[:start])


def test_unknown_section_is_refused_with_its_line():
    text = TEXT + "\n[colours]\nbackground = { value = 1, source = \"DEFAULT\" }\n"
    with pytest.raises(ProtocolError) as err:
        load_protocol(text)
    assert err.value.line == len(TEXT.splitlines()) + 2
    assert "colours" in str(err.value)


def test_setting_in_the_wrong_section_says_where_it_belongs():
    line = next(l for l in TEXT.splitlines() if l.startswith("vegf_months ="))
    text = TEXT.replace(line + "\n", "").replace("[status]\n", "[status]\n" + line + "\n")
    with pytest.raises(ProtocolError, match=r"status.vegf_months: unknown setting \(it belongs in \[intervals\]\)"):
        load_protocol(text)


def test_syntax_error_names_the_line_and_key():
    lines = TEXT.splitlines()
    i = _line_of("imaging_months") - 1
    lines[i] = lines[i].replace("value = 12,", "value = = 12,")
    with pytest.raises(ProtocolError) as err:
        load_protocol("\n".join(lines))
    assert err.value.line == i + 1
    assert err.value.key == "imaging_months"
    assert f"line {i + 1}: imaging_months: not valid TOML" in str(err.value)


def test_wrong_format_header_is_refused():
    line = TEXT.splitlines().index('format = "poems-monitor/protocol"') + 1
    with pytest.raises(ProtocolError, match=f"line {line}: format: must be"):
        load_protocol(TEXT.replace('format = "poems-monitor/protocol"', 'format = "other"'))


def test_protocol_is_frozen():
    with pytest.raises(Exception):  # noqa: B017 (FrozenInstanceError; any refusal will do)
        default_protocol().vegf_months = 1  # type: ignore[misc]
    assert isinstance(default_protocol(), Protocol)


def test_source_labels_found_wrong_by_the_review_are_fixed():
    """Issue 9 defect 12: each label says what the value is, and where it does not come from."""
    p = default_protocol()
    assert "diagnostic threshold" in p.source("vegf_serum_elevated")
    assert "not for the diagnosis" in p.source("vegf_serum_upper_reference")
    assert "within 3 months of DIAGNOSIS (not of a line start)" in p.source("thrombosis_risk_after_start_months")
    assert p.source("es_days_before_engraftment").startswith("Maiolino criteria (not Spitzer)")
    assert p.cite("es_days_before_engraftment") == "(maiolino criteria)"
    assert p.source("es_days_after_engraftment").startswith("[SPITZER] Spitzer criteria")
    assert "convention, not POEMS literature" in p.source("platelets_high") and p.is_default("platelets_high")
    assert "WHO 2016" in p.source("hemoglobin_high_female") and ">15 g/dL (women) is the WHO 2008" in p.source("hemoglobin_high_female")
    assert ">17 g/dL (men) is the WHO 2008" in p.source("hemoglobin_high_male") and "set 17 to use it" in p.source("hemoglobin_high_male")


def test_the_clinic_can_choose_the_who_2008_haemoglobin_limits():
    p = load_protocol(_replace_value("hemoglobin_high_female", "15.0"))
    assert p.hemoglobin_high_female == 15.0


def test_tsh_reference_range_is_labelled_unverified_default():
    from poems_monitor.domain.catalogue import MEASURES

    source = MEASURES["tsh"].reference.source
    assert source.startswith("DEFAULT") and "UNVERIFIED" in source
