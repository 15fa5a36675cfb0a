"""Lab CSV parsing: every kind of real-world mess, LOINC mapping, and row statuses (pure, no database)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.lab_csv import (
    DateFormat, KnownPatient, RowStatus, StoredValue, classify_rows, decode_csv_bytes, parse_lab_csv, sniff_separator,
)

TODAY = date(2026, 11, 21)
HEADER = "mrn,date,code,value,unit,specimen\n"


def parse(body: str, fmt: str = "iso", header: str = HEADER):
    return parse_lab_csv(header + body, fmt, TODAY)


def one(body: str, fmt: str = "iso", header: str = HEADER):
    parsed = parse(body, fmt, header)
    assert not parsed.file_problems, parsed.file_problems
    assert len(parsed.rows) == 1
    return parsed.rows[0]


def rules(row) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(p.column, p.rule) for p in row.problems]


# --- separators, BOM, blank lines ------------------------------------------------------------

@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_separator_is_sniffed_from_the_header(sep):
    text = sep.join(["mrn", "date", "code", "value", "unit"]) + "\n" + sep.join(["H-1", "2024-03-01", "platelets", "512", "10*9/L"])
    parsed = parse_lab_csv(text, "iso", TODAY)
    assert parsed.separator == sep
    assert parsed.rows[0].valid and parsed.rows[0].value == 512


def test_byte_order_mark_and_header_case_and_blanks_are_tolerated():
    text = "\ufeff MRN ; Date ;CODE; Value ;Unit\r\nH-1; 2024-03-01 ; Platelets ; 512 ; 10*9/L \r\n;;;;\r\n\r\n"
    parsed = parse_lab_csv(text, "iso", TODAY)
    assert parsed.columns[:5] == ("mrn", "date", "code", "value", "unit")
    assert len(parsed.rows) == 1
    row = parsed.rows[0]
    assert row.valid and row.mrn == "H-1" and row.code == "platelets" and row.value == 512


def test_bytes_decode_with_bom_utf16_and_windows_1252():
    assert decode_csv_bytes("\ufeffmrn,µ".encode("utf-8")) == "mrn,µ"
    assert decode_csv_bytes("mrn,µ".encode("utf-16")) == "mrn,µ"
    assert decode_csv_bytes("mrn,µmol/L".encode("cp1252")) == "mrn,µmol/L"


def test_header_without_required_columns_is_a_file_problem():
    parsed = parse_lab_csv("patient;when;what\nH-1;2024-01-01;x\n", "iso", TODAY)
    assert parsed.rows == ()
    assert parsed.file_problems[0].rule == "header"
    assert "mrn,date,code,value,unit" in parsed.file_problems[0].message
    assert not parsed.importable


def test_empty_file_and_header_only():
    assert parse_lab_csv("", "iso", TODAY).file_problems[0].rule == "empty"
    assert parse_lab_csv("\ufeff\n\n", "iso", TODAY).file_problems[0].rule == "empty"
    assert parse_lab_csv(HEADER, "iso", TODAY).file_problems[0].rule == "empty"


def test_sniffer_never_picks_a_separator_that_does_not_give_the_columns():
    assert sniff_separator("mrn;date;code;value;unit") == ";"
    assert sniff_separator("mrn|date|code|value|unit") is None


def test_unquoted_decimal_comma_in_comma_file_gives_a_hint():
    row = one("H-1,2024-03-01,hemoglobin,13,5,g/dL,\n")
    assert rules(row) == [("", "columns")]
    assert "decimal comma" in row.problems[0].message


def test_extra_columns_are_ignored_and_reported():
    parsed = parse("H-1,2024-03-01,platelets,512,10*9/L,,Jane\n", header="mrn,date,code,value,unit,specimen,name\n")
    assert parsed.ignored_columns == ("name",)
    assert parsed.rows[0].valid


def test_lab_and_method_columns_are_kept():
    parsed = parse("H-1,2024-03-01,vegf_plasma,640,pg/mL,plasma,Mayo,ELISA\n", header="mrn,date,code,value,unit,specimen,lab,method\n")
    obs = parsed.rows[0].observation()
    assert (obs.lab, obs.method, obs.specimen) == ("Mayo", "ELISA", "plasma")


# --- values: qualifiers and decimal commas ------------------------------------------------------

@pytest.mark.parametrize("text,qualifier,value", [
    ("<31", "<", 31.0), ("< 31", "<", 31.0), (">1000", ">", 1000.0), ('"<31,5"', "<", 31.5), ("31", None, 31.0),
])
def test_qualifiers_are_kept_as_censored_values(text, qualifier, value):
    row = one(f"H-1,2024-03-01,vegf_plasma,{text},pg/mL,\n")
    assert row.valid, row.problems
    assert (row.qualifier, row.value, row.entered_value) == (qualifier, value, value)
    assert row.observation().qualifier == qualifier


@pytest.mark.parametrize("text", ["<=31", ">=31", "≤31", "≥31"])
def test_other_qualifiers_are_refused_with_the_reason(text):
    row = one(f"H-1;2024-03-01;vegf_plasma;{text};pg/mL;\n", header=HEADER.replace(",", ";"))
    assert rules(row) == [("value", "number")]
    assert "only '<' and '>'" in row.problems[0].message


def test_decimal_comma_in_semicolon_file_and_quoted_in_comma_file():
    semi = one("H-1;2024-03-01;hemoglobin;13,5;g/dL;\n", header=HEADER.replace(",", ";"))
    comma = one('H-1,2024-03-01,hemoglobin,"13,5",g/dL,\n')
    assert semi.value == comma.value == 13.5


@pytest.mark.parametrize("text", ["1.234,5", "1,234.5", "1,2,3", "n.a.", "see note", "12 mg"])
def test_values_that_are_not_one_plain_number_are_invalid(text):
    row = one(f'H-1;2024-03-01;hemoglobin;{text};g/dL;\n', header=HEADER.replace(",", ";"))
    assert ("value", "number") in rules(row)
    assert row.status is RowStatus.INVALID


def test_qualifier_on_a_score_is_invalid():
    row = one("H-1,2024-03-01,incat,<2,,\n")
    assert rules(row) == [("value", "qualifier")]


def test_categorical_value_and_unit_rules():
    assert one("H-1,2024-03-01,ife,Lambda,,\n").value == "lambda"
    assert rules(one("H-1,2024-03-01,ife,maybe,,\n")) == [("value", "category")]
    assert ("unit", "unit") in rules(one("H-1,2024-03-01,ife,lambda,g/L,\n"))


# --- dates ---------------------------------------------------------------------------------------

def test_iso_dates():
    assert one("H-1,2024-03-01,platelets,512,10*9/L,\n").date == date(2024, 3, 1)
    assert one("H-1,2024-03-01 08:15,platelets,512,10*9/L,\n").date == date(2024, 3, 1)
    assert one("H-1,2024-03-01T08:15:00Z,platelets,512,10*9/L,\n").date == date(2024, 3, 1)


def test_dmy_dates_are_never_guessed():
    dmy = one("H-1,03/04/2024,platelets,512,10*9/L,\n", "dmy")
    assert dmy.date == date(2024, 4, 3)  # 3 April, not 4 March
    assert one("H-1,03.04.2024,platelets,512,10*9/L,\n", "dmy").date == date(2024, 4, 3)
    iso_chosen = one("H-1,03/04/2024,platelets,512,10*9/L,\n", "iso")
    assert rules(iso_chosen) == [("date", "date_format")]
    assert "choose that date format" in iso_chosen.problems[0].message
    dmy_chosen = one("H-1,2024-04-03,platelets,512,10*9/L,\n", DateFormat.DMY)
    assert rules(dmy_chosen) == [("date", "date_format")]


@pytest.mark.parametrize("text,fmt", [("2024-02-30", "iso"), ("31/04/2024", "dmy"), ("13/13/2024", "dmy"), ("24-1-3", "iso")])
def test_impossible_dates(text, fmt):
    assert rules(one(f"H-1,{text},platelets,512,10*9/L,\n", fmt)) == [("date", "date_format")]


def test_future_date_is_invalid():
    assert rules(one("H-1,2026-11-22,platelets,512,10*9/L,\n")) == [("date", "future_date")]
    assert one("H-1,2026-11-21,platelets,512,10*9/L,\n").valid


# --- codes and LOINC -----------------------------------------------------------------------------

def test_loinc_with_one_measure_maps_to_our_code():
    row = one("H-1,2024-03-01,777-3,512,10*3/uL,\n")
    assert row.code == "platelets" and row.code_as_read == "777-3"
    assert row.value == 512 and row.unit == "10*9/L" and row.entered_unit == "10*3/uL"


def test_every_unique_loinc_in_the_catalogue_maps():
    counts: dict[str, int] = {}
    for m in MEASURES.values():
        if m.loinc:
            counts[m.loinc] = counts.get(m.loinc, 0) + 1
    for m in MEASURES.values():
        if m.loinc and counts[m.loinc] == 1 and m.kind.value == "quantity":
            row = one(f"H-1,2024-03-01,{m.loinc},1,{m.unit},\n")
            assert row.code == m.code, (m.code, row.problems)


def test_vegf_loinc_is_ambiguous_without_specimen():
    row = one("H-1,2024-03-01,75628-8,640,pg/mL,\n")
    assert rules(row) == [("code", "ambiguous_loinc")]
    assert "plasma" in row.problems[0].message and "serum" in row.problems[0].message


@pytest.mark.parametrize("specimen,code", [("plasma", "vegf_plasma"), ("Serum", "vegf_serum"), ("PLASMA", "vegf_plasma")])
def test_vegf_loinc_with_specimen_maps_to_one_series(specimen, code):
    row = one(f"H-1,2024-03-01,75628-8,640,pg/mL,{specimen}\n")
    assert row.code == code and row.specimen == specimen.lower()


def test_vegf_loinc_with_other_specimen_is_invalid():
    assert rules(one("H-1,2024-03-01,75628-8,640,pg/mL,urine\n")) == [("specimen", "ambiguous_loinc")]


def test_our_code_with_contradicting_specimen_is_invalid():
    assert rules(one("H-1,2024-03-01,vegf_plasma,640,pg/mL,serum\n")) == [("specimen", "specimen")]
    assert rules(one("H-1,2024-03-01,platelets,512,10*9/L,blood\n")) == [("specimen", "specimen")]
    assert one("H-1,2024-03-01,platelets,512,10*9/L,whole blood\n").specimen == "whole_blood"


def test_unknown_codes():
    assert rules(one("H-1,2024-03-01,1234-5,1,mg/dL,\n")) == [("code", "unknown_code")]
    assert rules(one("H-1,2024-03-01,ferritin,1,ug/L,\n")) == [("code", "unknown_code")]
    assert rules(one("H-1,2024-03-01,polyneuropathy,1,,\n")) == [("code", "unknown_code")]
    assert one("H-1,2024-03-01,VEGF_PLASMA,640,pg/mL,\n").code == "vegf_plasma"


def test_onls_parts_are_recorded_at_the_visit_not_imported():
    for code in ("onls", "onls_arm", "onls_leg"):
        assert rules(one(f"H-1,2024-03-01,{code},2,,\n")) == [("code", "visit_only")]


# --- units and limits ----------------------------------------------------------------------------

def test_units_convert_as_in_the_catalogue():
    hb = one("H-1,2024-03-01,hemoglobin,135,g/L,\n")
    assert (hb.value, hb.unit, hb.entered_value, hb.entered_unit) == (13.5, "g/dL", 135.0, "g/L")
    creat = one("H-1,2024-03-01,creatinine,88.42,umol/L,\n")
    assert creat.value == pytest.approx(1.0)


def test_unit_labels_as_labs_write_them_map_to_ucum():
    assert one("H-1,2024-03-01,tsh,1.2,mIU/L,\n").entered_unit == "m[IU]/L"
    assert one("H-1,2024-03-01,creatinine,88.42,µmol/L,\n").entered_unit == "umol/L"
    assert one("H-1,2024-03-01,vegf_plasma,64,PG/ML,\n").entered_unit == "pg/mL"


def test_unknown_and_missing_units():
    bad = one("H-1,2024-03-01,platelets,512,g/L,\n")
    assert rules(bad) == [("unit", "unit")]
    assert "10*9/L" in bad.problems[0].message
    assert rules(one("H-1,2024-03-01,platelets,512,,\n")) == [("unit", "unit")]
    assert one("H-1,2024-03-01,lvef,55,,\n").valid  # one unit only: may be omitted


def test_limits():
    assert rules(one("H-1,2024-03-01,hemoglobin,30,g/dL,\n")) == [("value", "absolute_limits")]
    assert rules(one("H-1,2024-03-01,incat,2.5,,\n")) == [("value", "whole_score")]
    critical = one("H-1,2024-03-01,platelets,1500,10*9/L,\n")
    assert critical.valid and critical.note.startswith("critical:")
    high = one("H-1,2024-03-01,platelets,512,10*9/L,\n")
    assert high.valid and "reference range" in high.note


def test_missing_fields_name_their_column():
    row = one(",,,,,\n".replace(",,,,,", " , , x , , ,"))
    assert {c for c, r in rules(row) if r == "required"} == {"mrn", "date", "value"}
    assert str(row.problems[0]).startswith("line 2, column mrn:")


def test_every_problem_is_collected_with_line_numbers():
    parsed = parse("H-1,2024-03-01,platelets,512,10*9/L,\nH-1,2024-13-01,platelets,x,g,\n\nH-2,2024-03-01,foo,1,,\n")
    lines = sorted({p.row for p in parsed.problems})
    assert lines == [3, 5]
    assert [r.row for r in parsed.bad_rows()] == [3, 5]


# --- statuses against the store -----------------------------------------------------------------

PATIENTS = {"H-1": KnownPatient("female", date(1970, 1, 1)), "H-2": KnownPatient("male", date(1960, 1, 1))}


def classify(body: str, stored=None):  # noqa: ANN001
    return classify_rows(parse(body), PATIENTS, stored or {})


def test_statuses_new_duplicate_conflicting_invalid():
    stored = {
        ("H-1", date(2024, 3, 1), "platelets"): StoredValue(512.0, "10*9/L"),
        ("H-1", date(2024, 3, 1), "hemoglobin"): StoredValue(12.0, "g/dL"),
        ("H-1", date(2024, 3, 1), "vegf_plasma"): StoredValue(31.0, "pg/mL", "<"),
    }
    result = classify(
        "H-1,2024-03-01,777-3,512,10*3/uL,\n"      # duplicate (after conversion)
        "H-1,2024-03-01,hemoglobin,135,g/L,\n"     # conflicting: 13.5 vs 12
        "H-1,2024-03-01,vegf_plasma,31,pg/mL,\n"   # conflicting: 31 vs <31
        "H-1,2024-03-02,platelets,400,10*9/L,\n"   # new
        "H-9,2024-03-01,platelets,400,10*9/L,\n"   # unknown MRN
        "H-1,1969-03-01,platelets,400,10*9/L,\n",  # before birth
        stored,
    )
    statuses = [r.status for r in result.rows]
    assert statuses == [RowStatus.DUPLICATE, RowStatus.CONFLICTING, RowStatus.CONFLICTING, RowStatus.NEW,
                        RowStatus.INVALID, RowStatus.INVALID]
    assert result.rows[1].stored == "12 g/dL"
    assert result.rows[2].stored == "<31 pg/mL"
    assert rules(result.rows[4]) == [("mrn", "unknown_mrn")]
    assert rules(result.rows[5]) == [("date", "before_birth")]
    assert not result.importable
    assert result.counts() == {"new": 1, "duplicate": 1, "conflicting": 2, "invalid": 2}


def test_repeated_rows_in_the_file():
    same = classify("H-1,2024-03-01,platelets,512,10*9/L,\nH-1,2024-03-01,platelets,512,10*9/L,\n")
    assert [r.status for r in same.rows] == [RowStatus.NEW, RowStatus.DUPLICATE]
    assert same.importable
    differ = classify("H-1,2024-03-01,platelets,512,10*9/L,\nH-1,2024-03-01,platelets,513,10*9/L,\n")
    assert [r.status for r in differ.rows] == [RowStatus.INVALID, RowStatus.INVALID]
    assert all(rules(r) == [("value", "repeated_in_file")] for r in differ.rows)


def test_sex_specific_reference_is_applied_per_patient():
    result = classify("H-1,2024-03-01,hemoglobin,16.3,g/dL,\nH-2,2024-03-01,hemoglobin,16.3,g/dL,\n")
    female, male = result.rows
    assert "reference range" in female.note  # > 16.0 for women
    assert male.note == ""  # <= 16.5 for men
    unknown = classify_rows(parse("H-3,2024-03-01,hemoglobin,16.3,g/dL,\n"), {"H-3": KnownPatient("unknown", None)}, {})
    assert "no reference range" in unknown.rows[0].note


def test_all_new_file_is_importable():
    result = classify("H-1,2024-03-01,platelets,512,10*9/L,\nH-2,2024-03-01,75628-8,<40,pg/mL,serum\n")
    assert result.importable
    assert [r.status for r in result.rows] == [RowStatus.NEW, RowStatus.NEW]


# --- a file repeats its texts: each row still gets its own line in every sentence ------------

def test_repeated_rows_each_name_their_own_line_and_a_small_memory_reads_the_same(monkeypatch):
    from poems_monitor.domain.lab_csv import RowReader

    body = ("H-1,2024-03-01,platelets,abc,10*9/L,\n"  # line 2: not a number
            "H-2,2024-13-01,platelets,abc,10*9/L,\n"  # line 3: the same value, a bad date
            "H-1,2024-03-01,platelets,512,10*9/L,\n"  # line 4: fine
            "H-3,2024-13-01,platelets,512,g/L,\n"  # line 5: the same bad date, a unit that is refused
            ",2024-03-01,platelets,abc,10*9/L,\n")  # line 6: the value of line 2 again, no MRN
    first = parse(body)
    described = [(r.row, [(p.row, p.column, p.rule) for p in r.problems], r.value, r.mrn, r.date) for r in first.rows]
    assert described[0][1] == [(2, "value", "number")]
    assert described[1][1] == [(3, "date", "date_format"), (3, "value", "number")]
    assert described[2][1] == [] and described[2][2] == 512
    assert described[3][1] == [(5, "date", "date_format"), (5, "unit", "unit")]
    assert described[4][1] == [(6, "mrn", "required"), (6, "value", "number")]
    assert all(str(p).startswith(f"line {r.row}") for r in first.rows for p in r.problems)
    monkeypatch.setattr(RowReader, "MEMO_SIZE", 1)  # forgets at once: every row read the long way
    assert parse(body) == first
    built = [dataclasses.replace(r) for r in first.rows]  # through LabRow's own __init__
    assert [vars(r) for r in built] == [vars(r) for r in first.rows]


def test_a_row_s_observation_is_the_record_its_constructor_builds():
    from poems_monitor.domain.timeline import ObservationRecord

    rows = parse("H-1,2024-03-01,platelets,<512,10*9/L,\nH-1,2024-03-01,ife,lambda,,serum\n").rows
    for r in rows:
        built = r.observation()
        assert vars(built) == vars(ObservationRecord(
            code=r.code, value=r.value, unit=r.unit, entered_value=r.entered_value, entered_unit=r.entered_unit,
            specimen=r.specimen, lab=r.lab, method=r.method, qualifier=r.qualifier))
        assert built.number == (r.value if isinstance(r.value, float) else None)
