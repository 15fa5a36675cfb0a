"""Numbers written and read back (issue 10, defect 5): nothing the app prints carries a thousands
separator, and a thousands-grouped shape such as "1,240" is never silently read as 1.24."""

from __future__ import annotations

from datetime import date

import pytest

from poems_monitor.domain.lab_csv import RowStatus, parse_lab_csv
from poems_monitor.domain.numbers import format_measure_value, format_number, read_number
from poems_monitor.domain.validation import Tier, check_value

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize("text,value", [
    ("1240", 1240), ("13.1", 13.1), ("13,1", 13.1), ("0,125", 0.125), ("1.240", 1.24), ("123,4567", 123.4567),
    ("-3,5", -3.5), (".5", 0.5),
])
def test_plain_numbers_with_a_decimal_point_or_comma_are_read(text, value):
    assert read_number(text).value == pytest.approx(value)


@pytest.mark.parametrize("text,readings", [
    ("1,240", ("1240", "1.24")), ("12,345", ("12345", "12.345")), ("999,000", ("999000", "999")),
])
def test_a_comma_before_three_digits_is_refused_with_both_readings(text, readings):
    reading = read_number(text)
    assert reading.value is None
    for shown in readings:
        assert shown in reading.problem


@pytest.mark.parametrize("text,grouped", [
    ("1.240,50", "1240.5"), ("1,240.50", "1240.5"), ("1,240,000", "1240000"), ("1.240.000", "1240000"),
])
def test_grouped_numbers_with_two_separators_are_refused_naming_the_grouped_reading(text, grouped):
    reading = read_number(text)
    assert reading.value is None and grouped in reading.problem and "separator" in reading.problem


def test_check_value_refuses_a_grouped_vegf_and_names_both_readings():
    checked = check_value("vegf_plasma", "1,240", "pg/mL")
    assert checked.tier is Tier.REFUSED
    assert "VEGF (plasma)" in checked.message and "1240" in checked.message and "1.24" in checked.message


@pytest.mark.parametrize("value", [1240.0, 1234567.0, 15000.5, 1e9])
def test_printed_values_never_carry_a_thousands_separator(value):
    for code in ("vegf_plasma", "platelets", "hemoglobin", "flc_ratio"):
        text = format_measure_value(code, value)
        assert "," not in text and read_number(text).value == pytest.approx(value, rel=1e-3)
    assert "," not in format_number(value)


def test_the_printed_summary_and_chart_tooltips_print_1240_without_a_separator():
    from poems_monitor.services.dashboard import Series, SeriesPoint
    from poems_monitor.services.patient_summary import format_number as summary_number
    from poems_monitor.ui.charts.trend_chart import format_value, point_tooltip

    point = SeriesPoint(date(2026, 3, 1), 1240.0, specimen="plasma")
    assert summary_number("vegf_plasma", 1240.0) == "1240"
    assert format_value("vegf_plasma", point) == "1240"
    tooltip = point_tooltip(Series("vegf_plasma", "VEGF (plasma)", "pg/mL", (point,)), point)
    assert "1,240" not in tooltip and "1240" in tooltip


@pytest.mark.parametrize("text,readings", [("1,240", ("1240", "1.24")), ("12,345", ("12345", "12.345"))])
def test_the_lab_csv_reader_refuses_a_grouped_value_with_both_readings(text, readings):
    body = f"mrn;date;code;value;unit\nH-1;2024-03-01;vegf_plasma;{text};pg/mL\n"
    parsed = parse_lab_csv(body, "iso", TODAY)
    row = parsed.rows[0]
    assert row.status is RowStatus.INVALID
    message = " ".join(p.message for p in row.problems)
    assert all(shown in message for shown in readings)
    quoted = parse_lab_csv(f'mrn,date,code,value,unit\nH-1,2024-03-01,vegf_plasma,"{text}",pg/mL\n', "iso", TODAY)
    assert quoted.rows[0].status is RowStatus.INVALID


def test_the_lab_csv_reader_still_reads_a_decimal_comma():
    parsed = parse_lab_csv("mrn;date;code;value;unit\nH-1;2024-03-01;hemoglobin;13,5;g/dL\n", "iso", TODAY)
    assert parsed.rows[0].valid and parsed.rows[0].value == 13.5
