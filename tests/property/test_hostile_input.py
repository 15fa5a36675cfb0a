"""Hostile input: thousands of generated malformed, extreme and Unicode-laden timeline documents
and entered values. The importer answers with a clean list of problems (each with a JSON path)
or imports everything; it never raises anything but ImportRefused and never writes part of a
file. Entry validation (check_value, validate_visit) never raises at all."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from poems_monitor.domain.catalogue import EVENT_TYPES, EXAM_KINDS, EXAM_RESULTS, FEATURES, MEASURES, REGIMENS, SEXES
from poems_monitor.domain.timeline_json import Problem, parse_timeline
from poems_monitor.domain.validation import CheckedValue, check_value

pytestmark = pytest.mark.slow

TODAY = date(2026, 11, 21)
FAST = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DB_SETTINGS = settings(max_examples=300, deadline=None,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from([
    "", " ", "\x00", "\t\n", "\u202e", "\ufeff", "\ud7ff", "🩸💉", "Zoë Ångström", "李小龙", "اختبار", "١٢٣",
    "a" * 300, "x" * 10001, "' OR 1=1 --", "NULL", "None", "NaN", "Infinity", "-0", "1e309", "0x1F", "١٫٥",
    "2021-02-30", "2021-13-01", "0000-01-01", "9999-12-31", "2021-1-1", "2021-01-01T00:00:00", " 2021-01-01",
    "1900-01-01", "2026-11-22", "H-000123", "h-000123 ", "\u0301", "%s%s%n", "{0}", "<script>",
])
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1e-320, 5e-324, 1.7976931348623157e308, 2**63, -(2**63) - 1, 1e15, 0.1 + 0.2]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20), NASTY_TEXT)
ANY_JSON = st.recursive(
    SCALARS, lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=20,
)


def maybe(valid: st.SearchStrategy, hostile_weight: int = 1) -> st.SearchStrategy:
    """Mostly valid, sometimes hostile: reaches deep into the importer while still attacking it."""
    return st.one_of(*([valid] * 3), *([st.one_of(SCALARS, ANY_JSON)] * hostile_weight))


DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat)
UNITS = st.sampled_from(sorted({u for m in MEASURES.values() for u in m.accepted_units} | {"", "mg", "furlongs", "G/L"}))


def observation() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"code": maybe(st.sampled_from(sorted(MEASURES))), "value": maybe(st.one_of(NUMBERS, st.sampled_from(
            ["positive", "negative", "IgA lambda", "IgG kappa", "12", "<5"])))},
        optional={"unit": maybe(UNITS), "specimen": maybe(st.sampled_from(["plasma", "serum", "urine"])),
                  "qualifier": maybe(st.sampled_from(["<", ">"])), "lab": maybe(st.text(max_size=10)),
                  "bogus": SCALARS},
    )


def visit() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"date": maybe(DATES)},
        optional={
            "observations": maybe(st.lists(maybe(observation()), max_size=5)),
            "features": maybe(st.dictionaries(maybe(st.sampled_from(sorted(FEATURES))),
                                              maybe(st.sampled_from(["present", "absent", "unknown"])), max_size=4)),
            "exams": maybe(st.lists(maybe(st.fixed_dictionaries(
                {"kind": maybe(st.sampled_from(sorted(EXAM_KINDS))), "result": maybe(st.sampled_from(list(EXAM_RESULTS)))},
                optional={"note": maybe(st.text(max_size=20))})), max_size=2)),
            "note": maybe(st.text(max_size=30)),
        },
    )


def patient(mrns: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"mrn": maybe(mrns), "name": maybe(st.text(min_size=1, max_size=30)), "sex": maybe(st.sampled_from(SEXES)),
         "birth_date": maybe(st.dates(min_value=date(1920, 1, 1), max_value=date(2000, 1, 1)).map(date.isoformat))},
        optional={
            "diagnosis_date": maybe(DATES),
            "visits": maybe(st.lists(maybe(visit()), max_size=4)),
            "treatments": maybe(st.lists(maybe(st.fixed_dictionaries(
                {"regimen": maybe(st.sampled_from(sorted(REGIMENS))), "start": maybe(DATES)},
                optional={"stop": maybe(DATES), "thromboprophylaxis": maybe(st.sampled_from(["aspirin", "none", "lmwh"])),
                          "name": maybe(st.text(max_size=10)), "melphalan_mg": maybe(NUMBERS),
                          "engraftment_date": maybe(DATES)})), max_size=2)),
            "events": maybe(st.lists(maybe(st.fixed_dictionaries(
                {"type": maybe(st.sampled_from(sorted(EVENT_TYPES))), "date": maybe(DATES)},
                optional={"note": maybe(st.text(max_size=10))})), max_size=2)),
        },
    )


# a small set of MRNs so that generated files often extend or conflict with stored patients
MRNS = st.sampled_from(["H-1", "H-2", "H-3", "Ünïcødé-4", "  H-5  "])


def document() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"format": maybe(st.just("poems-monitor/timeline"), 0), "version": maybe(st.just(1), 0),
         "patients": maybe(st.lists(maybe(patient(MRNS)), max_size=3))},
        optional={"extra": SCALARS},
    )


VALID_OBSERVATIONS = st.one_of(
    st.builds(lambda v: {"code": "platelets", "value": v, "unit": "10*9/L"}, st.integers(20, 1500)),
    st.builds(lambda v: {"code": "platelets", "value": v, "unit": "10*3/uL"}, st.integers(20, 1500)),
    st.builds(lambda v: {"code": "hemoglobin", "value": v, "unit": "g/L"}, st.integers(60, 190)),
    st.builds(lambda v: {"code": "vegf_plasma", "value": v, "unit": "pg/mL"},
              st.floats(1, 9000, allow_nan=False).map(lambda x: round(x, 1))),
    st.builds(lambda v: {"code": "onls_arm", "value": v}, st.integers(0, 5)),
    st.builds(lambda v: {"code": "onls_leg", "value": v}, st.integers(0, 7)),
    st.builds(lambda v: {"code": "ife", "value": v}, st.sampled_from(["negative", "lambda", "kappa"])),
)
CLOSE_DATES = st.dates(min_value=date(2020, 1, 1), max_value=date(2020, 1, 8)).map(date.isoformat)


def _unique_codes(observations: list[dict]) -> list[dict]:
    seen, out = set(), []
    for o in observations:
        if o["code"] not in seen:
            seen.add(o["code"])
            out.append(o)
    return out


def valid_document() -> st.SearchStrategy:
    """Files the parser accepts, crowded onto few MRNs and dates: they extend stored patients or
    conflict with them (same visit, other value), which is where a partial write could hide."""
    visit = st.fixed_dictionaries({
        "date": CLOSE_DATES,
        "observations": st.lists(VALID_OBSERVATIONS, max_size=4).map(_unique_codes),
        "features": st.dictionaries(st.sampled_from(["polyneuropathy", "ascites", "splenomegaly"]),
                                    st.sampled_from(["present", "absent"]), max_size=2),
    }, optional={"note": st.sampled_from(["", "ok", "Zoë 李 🩸"])})
    patient_doc = st.fixed_dictionaries({
        "mrn": st.sampled_from(["V-1", "V-2", "V-3"]), "name": st.just("Valid Person"), "sex": st.just("female"),
        "birth_date": st.just("1960-01-01"),
        "visits": st.lists(visit, max_size=3, unique_by=lambda v: v["date"]),
        "treatments": st.lists(st.fixed_dictionaries({
            "regimen": st.sampled_from(["radiotherapy", "lenalidomide_dexamethasone"]), "start": CLOSE_DATES},
            optional={"note": st.sampled_from(["", "x"])}), max_size=2, unique_by=lambda t: (t["regimen"], t["start"])),
        "events": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["dvt", "relapse"]), "date": CLOSE_DATES},
                                                 optional={"note": st.sampled_from(["", "y"])}),
                           max_size=2, unique_by=lambda e: (e["type"], e["date"])),
    })
    return st.fixed_dictionaries({"format": st.just("poems-monitor/timeline"), "version": st.just(1),
                                  "patients": st.lists(patient_doc, max_size=2, unique_by=lambda p: p["mrn"])})


def _assert_clean(patients: list, problems: list[Problem]) -> None:
    assert isinstance(patients, list) and isinstance(problems, list)
    for p in problems:
        assert isinstance(p, Problem) and p.path.startswith("$") and p.message.strip()
        str(p)  # printable


# ---------------------------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------------------------

@FAST
@given(ANY_JSON)
def test_parse_timeline_never_raises_on_any_json_value(data):
    _assert_clean(*parse_timeline(data, TODAY))


@FAST
@given(document())
def test_parse_timeline_gives_clean_problems_for_near_valid_documents(data):
    patients, problems = parse_timeline(data, TODAY)
    _assert_clean(patients, problems)
    if not problems:  # what is accepted must be finite and in the past
        for p in patients:
            for v in p.visits:
                assert v.date <= TODAY
                for o in v.observations:
                    assert isinstance(o.value, str) or math.isfinite(float(o.value))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 ANY_JSON.map(lambda d: json.dumps(d, allow_nan=True).encode()),
                 st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)))
def test_reading_any_bytes_as_a_timeline_file_refuses_cleanly(tmp_path_factory, raw):
    from poems_monitor.services.timeline_io import ImportRefused, read_timeline_file

    path = tmp_path_factory.getbasetemp() / "hostile.json"
    path.write_bytes(raw)
    try:
        patients, _ = read_timeline_file(path, TODAY)
    except ImportRefused as refused:
        _assert_clean([], refused.problems)
        assert refused.problems
    else:
        assert isinstance(patients, list)


# ---------------------------------------------------------------------------------------------
# Import into a real database: all or nothing
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_db(tmp_path_factory):
    from poems_monitor.persistence.db import open_database

    database = open_database(tmp_path_factory.mktemp("hostile") / "hostile.sqlite")
    yield database
    database.dispose()


def _counts(db) -> dict[str, int]:  # noqa: ANN001
    from poems_monitor.models import AuditEntry, Event, Exam, FeatureStatus, Observation, Patient, Treatment, Visit

    with db.read() as s:
        return {m.__tablename__: s.execute(select(func.count()).select_from(m.__table__)).scalar_one()
                for m in (Patient, Visit, Observation, FeatureStatus, Exam, Treatment, Event, AuditEntry)}


@DB_SETTINGS
@given(st.one_of(document(), valid_document(), valid_document()))
def test_import_is_all_or_nothing_and_refuses_only_with_import_refused(shared_db, data):
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.timeline_io import ImportRefused, import_patients

    before = _counts(shared_db)
    patients, problems = parse_timeline(data, TODAY)
    if problems:
        event("refused by the parser")
        return  # the file is refused before the database is touched (as read_timeline_file does)
    try:
        summary = import_patients(shared_db, patients, Actor("fuzzer", Role.NURSE), reason="hostile test", raw=data)
    except ImportRefused as refused:
        _assert_clean([], refused.problems)
        assert _counts(shared_db) == before, "a refused import wrote something"
        event("refused by the import (conflicts)")
        return
    event("imported")
    after = _counts(shared_db)
    assert after["patient"] - before["patient"] == summary.patients_created
    assert after["visit"] - before["visit"] == summary.visits_added
    assert after["treatment"] - before["treatment"] == summary.treatments_added
    assert after["event"] - before["event"] == summary.events_added
    assert after["audit_entry"] - before["audit_entry"] == summary.patients_created + summary.patients_extended


def test_after_the_hostile_imports_the_database_is_sound(shared_db):
    from poems_monitor.services.integrity import check

    assert check(shared_db) == []


# ---------------------------------------------------------------------------------------------
# Entry validation
# ---------------------------------------------------------------------------------------------

CODES = st.one_of(st.sampled_from(sorted(MEASURES)), st.text(max_size=12), NASTY_TEXT)
VALUES = st.one_of(SCALARS, st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
                   st.sampled_from(["positive", "negative", "  12.5 ", "12,5", "1_000", "٣", "+5", "5.", ".5", "1e3"]))


@FAST
@given(CODES, VALUES, st.one_of(st.none(), UNITS, NASTY_TEXT), st.one_of(st.none(), st.sampled_from(SEXES), NASTY_TEXT))
def test_check_value_never_raises(code, value, unit, sex):
    result = check_value(code, value, unit, sex)
    assert isinstance(result, CheckedValue)
    if not result.refused and result.canonical is not None and not isinstance(result.canonical, str):
        assert math.isfinite(float(result.canonical))


@FAST
@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.lists(st.tuples(st.one_of(st.sampled_from(sorted(MEASURES)), NASTY_TEXT), VALUES,
                       st.one_of(st.none(), UNITS, NASTY_TEXT), st.one_of(st.none(), st.sampled_from(["<", ">", "=", ""])),
                       st.booleans()), max_size=6),
    st.lists(st.tuples(st.one_of(st.sampled_from(sorted(FEATURES)), NASTY_TEXT),
                       st.one_of(st.sampled_from(["present", "absent", "unknown"]), NASTY_TEXT)), max_size=4),
    st.one_of(st.none(), st.sampled_from(SEXES), NASTY_TEXT),
    st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1))),
)
# A decimal comma typed by a nurse ("0,5", "0,"): the check reads it, so the entered value must be
# read the same way (it once reached float() and raised).
@example(date(2026, 1, 5), [("tlc_pct", "0,", None, None, False), ("hemoglobin", "12,5", "g/dL", None, False)],
         [], "female", date(1960, 1, 1))
def test_validate_visit_never_raises(day, values, features, sex, birth):
    from poems_monitor.services.visits import EnteredValue, VisitInput, validate_visit

    entry = VisitInput(date=day, values=tuple(EnteredValue(c, v, u, None, q or None, confirmed) for c, v, u, q, confirmed in values),
                       features=tuple(features))
    observations, problems, marked = validate_visit(entry, sex, birth, TODAY)
    for o in observations:
        assert isinstance(o.value, str) or math.isfinite(float(o.value))
    for p in problems + marked:
        assert p.message.strip()
