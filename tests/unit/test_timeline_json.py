"""Reading the timeline JSON of INTERFACES.md section 2: every bad input is reported with its JSON
path, the patient, and a sentence; all problems of a file are collected."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest
from tests.conftest import TODAY

from poems_monitor.domain.timeline_json import FORMAT_NAME, FORMAT_VERSION, parse_timeline, timeline_to_json

# The example of INTERFACES.md section 2, typed as it stands there.
EXAMPLE = {
    "format": "poems-monitor/timeline",
    "version": 1,
    "patients": [
        {
            "mrn": "H-000123",
            "name": "Jane Example",
            "sex": "female",
            "birth_date": "1971-04-02",
            "diagnosis_date": "2019-03-14",
            "visits": [
                {
                    "date": "2019-03-14",
                    "observations": [
                        {"code": "vegf_plasma", "value": 1240, "unit": "pg/mL"},
                        {"code": "platelets", "value": 512, "unit": "10*9/L"},
                        {"code": "dlco_pct", "value": 64, "unit": "%"},
                        {"code": "onls_arm", "value": 2}, {"code": "onls_leg", "value": 3},
                    ],
                    "features": {"polyneuropathy": "present", "pleural_effusion": "absent"},
                    "exams": [{"kind": "echo", "result": "abnormal", "note": "RVSP 48"}],
                    "note": "free text",
                }
            ],
            "treatments": [
                {"regimen": "lenalidomide_dexamethasone", "start": "2019-04-01", "stop": "2020-03-30",
                 "thromboprophylaxis": "aspirin"},
                {"regimen": "asct", "start": "2020-06-10", "engraftment_date": "2020-06-22"},
            ],
            "events": [{"type": "dvt", "date": "2019-05-20", "note": ""}],
        }
    ],
}
P0 = "$.patients[0]"
V0 = f"{P0}.visits[0]"


def doc() -> dict:
    return copy.deepcopy(EXAMPLE)


def problems_of(document) -> list:
    patients, problems = parse_timeline(document, TODAY)
    return problems


def only_problem(document):
    problems = problems_of(document)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- the example itself -------------------------------------------------------------------------

def test_the_contract_example_is_valid():
    patients, problems = parse_timeline(doc(), TODAY)
    assert problems == []
    (p,) = patients
    assert (p.mrn, p.name, p.sex, p.birth_date) == ("H-000123", "Jane Example", "female", date(1971, 4, 2))
    (v,) = p.visits
    assert v.value("vegf_plasma").value == 1240
    assert v.feature("polyneuropathy") == "present"
    assert v.feature("ascites") == "unknown"  # not listed: unknown
    assert [(x.kind, x.result, x.note) for x in v.exams] == [("echo", "abnormal", "RVSP 48")]
    assert [t.regimen for t in p.treatments] == ["lenalidomide_dexamethasone", "asct"]
    assert p.treatments[1].engraftment_date == date(2020, 6, 22)
    assert [(e.type, e.date) for e in p.events] == [("dvt", date(2019, 5, 20))]


def test_onls_total_is_derived_when_absent():
    (p,), _ = parse_timeline(doc(), TODAY)
    total = p.visits[0].value("onls")
    assert total is not None
    assert total.value == 5
    assert total.derived


def test_onls_total_agreeing_with_arm_and_leg_is_kept_as_entered():
    d = doc()
    d["patients"][0]["visits"][0]["observations"].append({"code": "onls", "value": 5})
    (p,), problems = parse_timeline(d, TODAY)
    assert problems == []
    total = p.visits[0].value("onls")
    assert total.value == 5 and not total.derived
    assert [o.code for o in p.visits[0].observations].count("onls") == 1


def test_onls_total_disagreeing_with_arm_and_leg():
    d = doc()
    d["patients"][0]["visits"][0]["observations"].append({"code": "onls", "value": 6})
    problem = only_problem(d)
    assert problem.path == V0
    assert problem.message == "ONLS total 6 does not equal the sum of its parts 5"
    assert problem.mrn == "H-000123"


def test_converted_value_keeps_what_was_entered():
    d = doc()
    d["patients"][0]["visits"][0]["observations"].append({"code": "hemoglobin", "value": 125, "unit": "g/L"})
    (p,), problems = parse_timeline(d, TODAY)
    assert problems == []
    hb = p.visits[0].value("hemoglobin")
    assert (hb.value, hb.unit, hb.entered_value, hb.entered_unit) == (12.5, "g/dL", 125, "g/L")
    # written back as entered, so a re-import converts it the same way
    written = timeline_to_json(list([p]))["patients"][0]["visits"][0]["observations"]
    assert {"code": "hemoglobin", "value": 125, "unit": "g/L"} in written


def test_written_document_reads_back_to_the_same_records():
    patients, _ = parse_timeline(doc(), TODAY)
    written = timeline_to_json(patients)
    assert written["format"] == FORMAT_NAME and written["version"] == FORMAT_VERSION
    again, problems = parse_timeline(written, TODAY)
    assert problems == []
    assert again == patients
    assert timeline_to_json(again) == written


# --- bad input: one problem each, with its path and sentence ------------------------------------------

def _obs(d, index=0):
    return d["patients"][0]["visits"][0]["observations"][index]


def test_unknown_code():
    d = doc()
    _obs(d, 1)["code"] = "thrombocytes"
    problem = only_problem(d)
    assert problem.path == f"{V0}.observations[1].code"
    assert problem.message == "'thrombocytes' is not a known measure code"
    assert str(problem) == f"{V0}.observations[1].code: patient H-000123, 'thrombocytes' is not a known measure code"


def test_unknown_unit():
    d = doc()
    _obs(d, 1)["unit"] = "10*6/L"
    problem = only_problem(d)
    assert problem.path == f"{V0}.observations[1].unit"
    assert "Platelets: unit '10*6/L' is not accepted; use ×10⁹/L (10*9/L), ×10³/µL (10*3/uL)" == problem.message


def test_missing_unit_where_required():
    d = doc()
    del _obs(d, 1)["unit"]
    problem = only_problem(d)
    assert problem.path == f"{V0}.observations[1].unit"
    assert "the unit is missing" in problem.message


def test_value_beyond_absolute_limits():
    d = doc()
    _obs(d, 1)["value"] = 4500
    problem = only_problem(d)
    assert problem.path == f"{V0}.observations[1].value"
    assert problem.message == (
        "Platelets 4500 ×10⁹/L is above the largest possible value 3000 ×10⁹/L: check for a typing error"
    )


def test_value_that_is_not_a_number():
    d = doc()
    _obs(d, 0)["value"] = "1240"
    problem = only_problem(d)
    assert problem.path == f"{V0}.observations[0].value"
    assert "must be a number" in problem.message


def test_date_before_birth():
    d = doc()
    d["patients"][0]["visits"][0]["date"] = "1970-01-01"
    problem = only_problem(d)
    assert problem.path == f"{V0}.date"
    assert problem.message == "visit date 1970-01-01 is before the birth date 1971-04-02"


def test_event_and_treatment_dates_before_birth():
    d = doc()
    d["patients"][0]["events"][0]["date"] = "1960-05-20"
    d["patients"][0]["treatments"][0]["start"] = "1960-04-01"
    problems = problems_of(d)
    assert {p.path for p in problems} == {f"{P0}.events[0].date", f"{P0}.treatments[0].start"}
    assert all("before the birth date 1971-04-02" in p.message for p in problems)


def test_date_in_the_future():
    d = doc()
    tomorrow = TODAY + timedelta(days=1)
    d["patients"][0]["visits"][0]["date"] = tomorrow.isoformat()
    problem = only_problem(d)
    assert problem.path == f"{V0}.date"
    assert problem.message == f"visit date {tomorrow} is in the future (today is {TODAY})"


def test_today_is_not_in_the_future():
    d = doc()
    d["patients"][0]["visits"][0]["date"] = TODAY.isoformat()
    assert problems_of(d) == []


def test_badly_written_date():
    d = doc()
    d["patients"][0]["visits"][0]["date"] = "14/03/2019"
    problem = only_problem(d)
    assert problem.path == f"{V0}.date"
    assert problem.message == "date '14/03/2019' is not a date written YYYY-MM-DD"


def test_duplicate_mrn_in_one_file():
    d = doc()
    second = copy.deepcopy(d["patients"][0])
    second["name"] = "Someone Else"
    d["patients"].append(second)
    problem = only_problem(d)
    assert problem.path == "$.patients[1].mrn"
    assert problem.message == "MRN H-000123 appears twice in this file (also at $.patients[0])"


def test_duplicate_visit_date():
    d = doc()
    visits = d["patients"][0]["visits"]
    visits.append({"date": visits[0]["date"], "observations": [{"code": "weight", "value": 70, "unit": "kg"}]})
    problem = only_problem(d)
    assert problem.path == f"{P0}.visits[1].date"
    assert problem.message == "a visit on 2019-03-14 appears twice (also visits[0]): merge them"


def test_same_code_twice_at_one_visit():
    d = doc()
    d["patients"][0]["visits"][0]["observations"].append({"code": "platelets", "value": 500, "unit": "10*9/L"})
    problem = only_problem(d)
    assert problem.path == f"{V0}.observations[5].code"
    assert "twice" in problem.message


@pytest.mark.parametrize(
    "where, path",
    [
        (lambda d: d, "$.colour"),
        (lambda d: d["patients"][0], f"{P0}.colour"),
        (lambda d: d["patients"][0]["visits"][0], f"{V0}.colour"),
        (lambda d: d["patients"][0]["visits"][0]["observations"][0], f"{V0}.observations[0].colour"),
        (lambda d: d["patients"][0]["treatments"][1], f"{P0}.treatments[1].colour"),
        (lambda d: d["patients"][0]["events"][0], f"{P0}.events[0].colour"),
    ],
)
def test_unknown_key(where, path):
    d = doc()
    where(d)["colour"] = "blue"
    problem = only_problem(d)
    assert problem.path == path
    assert problem.message.startswith("'colour' is not a field of this format (allowed: ")


def test_wrong_format_name():
    d = doc()
    d["format"] = "poems/timeline"
    problem = only_problem(d)
    assert problem.path == "$.format"
    assert problem.message == "format must be 'poems-monitor/timeline', found 'poems/timeline'"


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_version(version):
    d = doc()
    d["version"] = version
    problem = only_problem(d)
    assert problem.path == "$.version"
    assert problem.message == f"version {version!r} is not supported; this poems-monitor reads version 1"


def test_wrong_version_imports_nothing_even_if_patients_are_valid():
    d = doc()
    d["version"] = 2
    patients, problems = parse_timeline(d, TODAY)
    assert patients == []
    assert problems


@pytest.mark.parametrize(
    "remove, path, message",
    [
        (lambda d: d["patients"][0].pop("birth_date"), f"{P0}.birth_date", "birth_date is missing"),
        (lambda d: d["patients"][0].pop("name"), f"{P0}.name", "name is missing"),
        (lambda d: d["patients"][0].pop("mrn"), f"{P0}.mrn", "mrn is missing"),
        (lambda d: d["patients"][0]["visits"][0].pop("date"), f"{V0}.date", "date is missing"),
        (lambda d: d["patients"][0]["visits"][0]["observations"][0].pop("value"), f"{V0}.observations[0].value",
         "VEGF (plasma): the value is missing"),
        (lambda d: d["patients"][0]["treatments"][0].pop("start"), f"{P0}.treatments[0].start", "start is missing"),
        (lambda d: d["patients"][0]["events"][0].pop("date"), f"{P0}.events[0].date", "date is missing"),
    ],
)
def test_missing_field(remove, path, message):
    d = doc()
    remove(d)
    problem = only_problem(d)
    assert problem.path == path
    assert problem.message == message


def test_missing_sex_names_the_choices():
    d = doc()
    del d["patients"][0]["sex"]
    problem = only_problem(d)
    assert problem.path == f"{P0}.sex"
    assert "female, male, other, unknown" in problem.message


@pytest.mark.parametrize(
    "change, path",
    [
        (lambda d: d["patients"][0]["visits"][0]["features"].update(fever="present"), f"{V0}.features.fever"),
        (lambda d: d["patients"][0]["visits"][0]["features"].update(ascites="yes"), f"{V0}.features.ascites"),
        (lambda d: d["patients"][0]["visits"][0]["exams"][0].update(kind="mri"), f"{V0}.exams[0].kind"),
        (lambda d: d["patients"][0]["visits"][0]["exams"][0].update(result="bad"), f"{V0}.exams[0].result"),
        (lambda d: d["patients"][0]["treatments"][0].update(regimen="lenalidomide"), f"{P0}.treatments[0].regimen"),
        (lambda d: d["patients"][0]["treatments"][0].update(thromboprophylaxis="heparin"),
         f"{P0}.treatments[0].thromboprophylaxis"),
        (lambda d: d["patients"][0]["treatments"][0].update(stop="2019-01-01"), f"{P0}.treatments[0].stop"),
        (lambda d: d["patients"][0]["treatments"].append({"regimen": "other", "start": "2021-01-01"}),
         f"{P0}.treatments[2].name"),
        (lambda d: d["patients"][0]["events"][0].update(type="fall"), f"{P0}.events[0].type"),
        (lambda d: d["patients"][0]["visits"][0]["observations"][0].update(specimen="serum"),
         f"{V0}.observations[0].specimen"),
    ],
)
def test_other_bad_values_name_their_path(change, path):
    d = doc()
    change(d)
    problem = only_problem(d)
    assert problem.path == path
    assert problem.mrn == "H-000123"
    assert problem.message


def test_not_an_object():
    problem = only_problem([])
    assert problem.path == "$"


# --- every problem is collected ---------------------------------------------------------------------

def test_three_errors_are_reported_as_three():
    d = doc()
    _obs(d, 0)["code"] = "vegf"  # unknown code
    _obs(d, 1)["value"] = 4500  # impossible platelets
    d["patients"][0]["events"][0]["date"] = (TODAY + timedelta(days=3)).isoformat()  # future
    patients, problems = parse_timeline(d, TODAY)
    assert sorted(p.path for p in problems) == sorted([
        f"{V0}.observations[0].code", f"{V0}.observations[1].value", f"{P0}.events[0].date",
    ])
    assert all(p.mrn == "H-000123" for p in problems)


def test_problems_of_several_patients_name_each_patient():
    d = doc()
    other = copy.deepcopy(d["patients"][0])
    other["mrn"] = "H-000999"
    other["visits"][0]["observations"][1]["unit"] = "mmol/L"
    d["patients"][0]["visits"][0]["observations"][0]["value"] = -1
    d["patients"].append(other)
    problems = problems_of(d)
    assert [(p.path, p.mrn) for p in problems] == [
        (f"{V0}.observations[0].value", "H-000123"),
        ("$.patients[1].visits[0].observations[1].unit", "H-000999"),
    ]


def test_lists_and_objects_where_codes_belong_are_problems_not_crashes():
    from poems_monitor.domain.timeline_json import parse_timeline

    data = {"format": "poems-monitor/timeline", "version": 1, "patients": [{
        "mrn": "H-1", "name": "0", "sex": [], "birth_date": None,
        "visits": [{"date": "2020-01-01", "features": {"ascites": ["present"]},
                    "exams": [{"kind": {}, "result": []}],
                    "observations": [{"code": "vegf_plasma", "value": 300, "unit": "pg/mL", "specimen": [],
                                      "qualifier": {}}]}],
        "treatments": [{"regimen": [], "start": None, "thromboprophylaxis": {}}],
        "events": [{"type": {}, "date": "2020-01-01"}]}]}
    patients, problems = parse_timeline(data, TODAY)
    paths = {p.path for p in problems}
    assert patients == []
    assert {"$.patients[0].sex", "$.patients[0].treatments[0].regimen", "$.patients[0].events[0].type",
            "$.patients[0].visits[0].features.ascites", "$.patients[0].visits[0].exams[0].kind",
            "$.patients[0].visits[0].exams[0].result"} <= paths


def test_an_observation_met_again_reads_as_the_first_time():
    """The reader remembers the records of observation objects it has read without a problem
    (a clinic's file repeats them): a repeat must give what reading it afresh gives, including
    where equal-looking objects differ (1, 1.0 and true; 0.0 and -0.0) and where the first one had
    a problem that must be reported again."""
    import math

    from poems_monitor.domain import timeline_json

    same = [
        {"code": "platelets", "value": 250, "unit": "10*9/L"},
        {"code": "platelets", "value": 250.0, "unit": "10*9/L"},
        {"code": "platelets", "value": True, "unit": "10*9/L"},
        {"code": "mrs", "value": 1},
        {"code": "mrs", "value": True},
        {"code": "onls_arm", "value": 0.0},
        {"code": "onls_arm", "value": -0.0},
        {"code": "platelets", "value": 250, "unit": "10*9/L", "lab": "x" * 81},
        {"code": "platelets", "value": 250, "unit": "10*9/L", "lab": "Lab A"},
        {"code": "platelets", "value": [250], "unit": "10*9/L"},
    ]
    document = doc()
    first = document["patients"][0]
    first["visits"] = [{"date": f"2019-03-{10 + i:02d}", "observations": [o]} for i, o in enumerate(same)]
    second = copy.deepcopy(first)
    second.update(mrn="H-000124", sex="male")
    document["patients"].append(second)

    timeline_json._SEEN_OBSERVATIONS.clear()
    once = parse_timeline(document, TODAY)
    again = parse_timeline(document, TODAY)  # every observation now a repeat
    timeline_json._SEEN_OBSERVATIONS.clear()
    assert once == again
    messages = [str(p) for p in again[1]]
    for patient in ("0", "1"):
        for i, field in ((2, "value"), (4, "value"), (7, "lab"), (9, "value")):
            assert any(m.startswith(f"$.patients[{patient}].visits[{i}].observations[0].{field}:") for m in messages), (
                patient, i, messages)
    assert len(messages) == 8

    del document["patients"][0]["visits"][2:5], document["patients"][0]["visits"][4:]
    for patient in document["patients"][1:]:
        document["patients"].remove(patient)
    patients, problems = parse_timeline(document, TODAY)
    assert not problems
    entered = [v.observations[0].entered_value for v in patients[0].visits]
    assert [type(e) for e in entered[:2]] == [float, float] and entered[:2] == [250.0, 250.0]
    zeros = [e for v in patients[0].visits if v.observations[0].code == "onls_arm" for e in [v.observations[0].entered_value]]
    assert [math.copysign(1, z) for z in zeros] == [1.0, -1.0]
