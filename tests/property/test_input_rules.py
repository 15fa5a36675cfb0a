"""Property tests of the shared input rules (issue 11): dates, numbers, MRNs, the streamed JSON
reader, spreadsheet-safe CSV cells and the scrubbing of error text, each over thousands of
generated inputs."""

from __future__ import annotations

import json
import math
import string
import unicodedata
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poems_monitor.domain.input_rules import (
    EARLIEST_DATE, date_range_problem, finite_number, mrn_key, mrn_problem, parse_iso_date,
)
from poems_monitor.domain.json_stream import Field, Item, JsonStreamError, NotAList, stream_document

pytestmark = pytest.mark.slow

FAST = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TODAY = date(2026, 11, 21)


@FAST
@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_an_iso_date_reads_back_and_only_1900_to_today_is_a_clinical_date(day):
    assert parse_iso_date(day.isoformat()) == day
    problem = date_range_problem(day, TODAY, "date")
    assert (problem is None) == (EARLIEST_DATE <= day <= TODAY)


@FAST
@given(st.text(max_size=12))
def test_only_ascii_yyyy_mm_dd_is_a_date(text):
    parsed = parse_iso_date(text)
    if parsed is not None:
        assert len(text) == 10 and all(c in string.digits + "-" for c in text) and parsed.isoformat() == text


@FAST
@given(st.dates(), st.sampled_from(["W", "０", "٠", "-"]))
def test_week_dates_and_other_digits_are_not_dates(day, mark):
    y, week, weekday = day.isocalendar()
    assert parse_iso_date(f"{y:04d}-W{week:02d}-{weekday}") is None
    if mark in ("０", "٠"):
        other = day.isoformat().translate({ord(d): chr(ord(mark) + int(d)) for d in "0123456789"})
        assert parse_iso_date(other) is None


@FAST
@given(st.one_of(st.integers(min_value=-(10**60), max_value=10**60), st.floats(), st.text(max_size=50),
                 st.booleans(), st.none()))
def test_finite_number_is_finite_or_none_and_never_raises(value):
    number = finite_number(value)
    assert number is None or (isinstance(number, float) and math.isfinite(number))
    if isinstance(value, bool) or value is None:
        assert number is None
    if isinstance(value, str) and number is not None:
        assert value.strip().isascii()


@FAST
@given(st.integers(min_value=0, max_value=9).flatmap(
    lambda d: st.text(alphabet=st.characters(categories=["Nd"]), min_size=1, max_size=6)))
def test_digits_other_than_ascii_are_not_numbers(text):
    assert (finite_number(text) is not None) == text.isascii()


@FAST
@given(st.text(min_size=1, max_size=64))
def test_an_accepted_mrn_holds_nothing_invisible_and_its_key_ignores_case(mrn):
    mrn = mrn.strip()
    if not mrn or mrn_problem(mrn) is not None:
        return
    assert not [c for c in mrn if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")]
    assert mrn_key(mrn) == mrn_key(mrn.upper()) == mrn_key(mrn.lower()) == mrn_key(unicodedata.normalize("NFD", mrn))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5), st.lists(JSON_VALUES, max_size=8),
       st.integers(min_value=1, max_value=64), st.booleans())
def test_the_streamed_reader_sees_what_json_loads_sees(fields, items, chunk, with_list):
    document = dict(fields)
    document.pop("patients", None)
    if with_list:
        document["patients"] = items
    text = json.dumps(document, indent=chunk % 3 or None)
    pieces = list(stream_document((text[i:i + chunk] for i in range(0, len(text), chunk)), "patients",
                                  chunk_chars=chunk))
    rebuilt = {p.key: p.value for p in pieces if isinstance(p, (Field, NotAList))}
    if with_list:
        rebuilt["patients"] = [p.value for p in pieces if isinstance(p, Item)]
    assert rebuilt == json.loads(text)


@FAST
@given(st.text(max_size=80), st.integers(min_value=1, max_value=16))
def test_the_streamed_reader_refuses_what_is_not_a_json_object_with_a_sentence(text, chunk):
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError):
        expected = None
    try:
        pieces = list(stream_document((text[i:i + chunk] for i in range(0, len(text), chunk)), "patients",
                                      chunk_chars=chunk))
    except JsonStreamError as exc:
        assert " at line " in str(exc) or "nested" in str(exc) or "larger" in str(exc)
        assert not isinstance(expected, dict) or any(isinstance(v, int) and abs(v) > 10**40 for v in expected.values())
        return
    assert isinstance(expected, dict)
    assert {p.key for p in pieces} <= set(expected)


@FAST
@given(st.text(max_size=30))
def test_spreadsheet_cells_never_start_a_formula(text):
    from poems_monitor.services.csv_export import spreadsheet_safe

    safe = spreadsheet_safe(text)
    assert safe in (text, "'" + text)
    if safe == text and text:
        assert text[0] not in "=+@\t\r"
        if text[0] == "-":
            float(text)  # only a number may start with a minus


MRNS = st.from_regex(r"[A-Z]{1,3}-?\d{3,8}", fullmatch=True)


@FAST
@given(MRNS, st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.sampled_from([
    "duplicate key value violates unique constraint \"ix_patient_mrn\"\nDETAIL:  Key (mrn)=({mrn}) already exists.",
    "null value in column \"x\"\nDETAIL:  Failing row contains (3, {mrn}, Some Body, {born}).",
    "[SQL: INSERT INTO patient VALUES (?, ?)]\n[parameters: ('{mrn}', '{born}')]",
    "no patient {mrn} born {born}",
    "patient '{mrn}' (born {born}) refused",
]))
def test_scrubbed_error_text_holds_no_mrn_or_birth_date(mrn, born, template):
    from poems_monitor.logging_setup import scrub

    text = scrub(template.format(mrn=mrn, born=born.isoformat()))
    assert mrn not in text and born.isoformat() not in text, text


@FAST
@given(st.lists(st.tuples(st.from_regex(r"[A-Z]-[0-9]{3}", fullmatch=True),
                          st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
                          st.sampled_from(["platelets", "hemoglobin", "vegf_plasma"]),
                          st.decimals(min_value=0, max_value=2000, places=1)), min_size=1, max_size=8),
       st.sampled_from(["\r", "\r\n", "\n"]))
def test_a_lab_csv_reads_the_same_with_any_line_ending(rows, newline):
    from poems_monitor.domain.lab_csv import parse_lab_csv

    units = {"platelets": "10*9/L", "hemoglobin": "g/dL", "vegf_plasma": "pg/mL"}
    lines = ["mrn,date,code,value,unit"] + [f"{m},{d.isoformat()},{c},{v},{units[c]}" for m, d, c, v in rows]
    reference = parse_lab_csv("\n".join(lines) + "\n", "iso", TODAY)
    other = parse_lab_csv(newline.join(lines) + newline, "iso", TODAY)
    assert [(r.row, r.mrn, r.date, r.code, r.value, r.problems) for r in other.rows] == \
        [(r.row, r.mrn, r.date, r.code, r.value, r.problems) for r in reference.rows]
    assert len(other.rows) == len(rows) and not other.file_problems
