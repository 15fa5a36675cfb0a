"""`poems-monitor response --mrn MRN [--as-of DATE] --json` end to end (INTERFACES.md section 5).

The course `tests/data/response/two_lines.json` is imported through the command line and
its response per line is read back at four dates. The expectations were written from the course
and the protocol defaults, not copied from output:
- line 1 bortezomib-dexamethasone 2020-01-20 to 2020-07-20; plasma VEGF 1200 -> 500 (fall 58 %:
  partial) -> 90 (at or below 96.2: complete) -> 85 (nadir) -> 95 -> 260 (>= 1.5 x 85 and > 96.2:
  progression) -> 300 on 2022-03-14 (risen again: confirmed); M-protein 0.3 g/dL at baseline is
  below the measurable 0.5 g/dL: too small to measure; immunofixation negative with a normal
  FLC ratio from 2020-07-06 (complete), lambda again on 2022-01-10 (progression); ONLS 5 -> 4
  (improved) -> 3 -> 5 (back to baseline: stable); imaging abnormal -> normal (complete) ->
  abnormal on 2022-03-14 (progression);
- relapse event 2022-03-01; line 2 lenalidomide-dexamethasone from 2022-03-15 with baselines on
  2022-03-14: VEGF 300 -> 200 (33 %: stable) -> 140 (53 %: partial); M-protein 0.6 (measurable)
  -> 0.45 -> 0.28 (53 %: partial); ONLS 5 -> 5 -> 4 (improved); imaging on 2022-09-12 pending: not
  counted, so radiologic is not evaluable and says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

COURSE = Path(__file__).resolve().parents[1] / "data" / "response" / "two_lines.json"

DOMAIN_CATEGORIES = {
    "vegf": {"complete", "partial", "stable", "progression", "not_evaluable"},
    "hematologic": {"complete", "partial", "stable", "progression", "not_evaluable"},
    "neurologic": {"improved", "stable", "worse", "not_evaluable"},
    "radiologic": {"complete", "persistent", "stable", "progression", "not_evaluable"},
}
STATUSES = {"suspected", "active", "responding", "remission", "relapse", "lost_to_follow_up", "transferred", "deceased"}


def cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poems_monitor", *args, "--db", str(db)],
                          capture_output=True, text=True, timeout=120)


def response(db: Path, mrn: str, as_of: str) -> dict:
    result = cli(db, "response", "--mrn", mrn, "--as-of", as_of, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    check_shape(doc, mrn, as_of)
    return doc


def check_shape(doc: dict, mrn: str, as_of: str) -> None:
    """The document of INTERFACES.md section 5, field by field."""
    assert set(doc) == {"mrn", "as_of", "lines", "status"}
    assert doc["mrn"] == mrn and doc["as_of"] == as_of
    starts = [line["start"] for line in doc["lines"]]
    assert starts == sorted(starts)  # oldest first
    for line in doc["lines"]:
        assert {"regimen", "start", "stop", "vegf", "hematologic", "neurologic", "radiologic"} <= set(line)
        assert line["stop"] is None or line["stop"] >= line["start"]
        for domain, categories in DOMAIN_CATEGORIES.items():
            part = line[domain]
            assert part["category"] in categories, (domain, part["category"])
            assert isinstance(part["rule"], str) and part["rule"]
            if part["category"] == "not_evaluable":
                assert part["reason"], f"{domain} not evaluable without a reason"
        vegf = line["vegf"]
        assert {"category", "specimen", "baseline", "best", "latest", "rule"} <= set(vegf)
        assert vegf["specimen"] in ("plasma", "serum")
        for key in ("baseline", "best", "latest"):
            assert vegf[key] is None or set(vegf[key]) >= {"value", "date"}
    status = doc["status"]
    assert status["status"] in STATUSES and status["explanation"] and status["rule"]


@pytest.fixture(scope="module")
def clinic(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("response") / "clinic.sqlite"
    result = cli(db, "import", str(COURSE))
    assert result.returncode == 0 and "1 new patient," in result.stdout, result.stderr
    return db


def cats(line: dict) -> tuple[str, str, str, str]:
    return tuple(line[d]["category"] for d in ("vegf", "hematologic", "neurologic", "radiologic"))


def test_first_line_early_partial_vegf_and_too_small_m_protein(clinic):
    doc = response(clinic, "R-0001", "2020-05-01")
    (line,) = doc["lines"]
    assert (line["regimen"], line["start"], line["stop"]) == ("bortezomib_dexamethasone", "2020-01-20", None)
    assert cats(line) == ("partial", "not_evaluable", "improved", "not_evaluable")
    vegf = line["vegf"]
    assert vegf["baseline"] == {"value": 1200, "date": "2020-01-06"}
    assert vegf["best"] == vegf["latest"] == {"value": 500, "date": "2020-04-06"}
    assert vegf["rule"] == "partial: fall >= 50 % from baseline (DEFAULT)"
    hem = line["hematologic"]  # "too small to measure" is a result, not a gap
    assert hem["too_small_to_measure"] is True and "too small to measure" in hem["reason"]
    assert hem["m_protein"]["baseline"] == {"value": 0.3, "date": "2020-01-06"}
    assert "no resulted imaging" in line["radiologic"]["reason"]
    assert doc["status"]["status"] == "responding" and doc["status"]["since"] == "2020-04-06"


def test_off_therapy_complete_response_is_remission(clinic):
    doc = response(clinic, "R-0001", "2021-12-01")
    (line,) = doc["lines"]
    assert line["stop"] == "2020-07-20"
    assert cats(line) == ("complete", "complete", "improved", "complete")
    assert line["vegf"]["since"] == "2020-07-06" and line["vegf"]["best"] == {"value": 85, "date": "2021-01-11"}
    assert line["hematologic"]["since"] == "2020-07-06"
    assert line["neurologic"]["scale"] == "onls" and line["neurologic"]["latest"] == {"value": 3, "date": "2021-07-12"}
    assert doc["status"]["status"] == "remission" and doc["status"]["since"] == "2020-07-20"


def test_relapse_event_before_the_next_line(clinic):
    doc = response(clinic, "R-0001", "2022-03-05")
    (line,) = doc["lines"]
    assert cats(line) == ("progression", "progression", "improved", "complete")
    assert line["vegf"]["since"] == "2022-01-10" and line["vegf"]["confirmed"] is False
    assert line["vegf"]["nadir"] == {"value": 85, "date": "2021-01-11"}
    assert "immunofixation positive again" in line["hematologic"]["rule"]
    assert doc["status"] == {**doc["status"], "status": "relapse", "since": "2022-03-01"}


def test_two_lines_second_responding_imaging_pending(clinic):
    doc = response(clinic, "R-0001", "2022-10-01")
    first, second = doc["lines"]
    assert cats(first) == ("progression", "progression", "stable", "progression")
    assert first["vegf"]["confirmed"] is True and first["vegf"]["latest"] == {"value": 300, "date": "2022-03-14"}
    assert first["radiologic"]["since"] == "2022-03-14"
    assert (second["regimen"], second["stop"]) == ("lenalidomide_dexamethasone", None)
    assert cats(second) == ("partial", "partial", "improved", "not_evaluable")
    assert second["vegf"]["baseline"] == {"value": 300, "date": "2022-03-14"}
    assert second["hematologic"]["m_protein"]["latest"] == {"value": 0.28, "date": "2022-09-12"}
    radiologic = second["radiologic"]  # a pending exam is named and never counted
    assert radiologic["pending"] == [{"value": "pending", "date": "2022-09-12", "note": "PET/CT done, report awaited"}]
    assert "2022-09-12 pending" in radiologic["reason"]
    assert doc["status"]["status"] == "responding" and doc["status"]["since"] == "2022-09-12"


def test_text_output_names_status_and_rules(clinic):
    result = cli(clinic, "response", "--mrn", "R-0001", "--as-of", "2022-10-01")
    assert result.returncode == 0, result.stderr
    assert "Responding since 2022-09-12" in result.stdout
    assert "Lenalidomide–dexamethasone" in result.stdout and "partial: fall >= 50 % from baseline (DEFAULT)" in result.stdout


def test_unknown_mrn_and_bad_date_are_one_sentence(clinic):
    result = cli(clinic, "response", "--mrn", "NOPE-1", "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == "No patient with MRN NOPE-1" and "Traceback" not in result.stderr
    result = cli(clinic, "response", "--mrn", "R-0001", "--as-of", "2022-13-01", "--json")
    assert result.returncode == 2 and "--as-of must be a date" in result.stderr and "Traceback" not in result.stderr


def test_every_demo_patient(tmp_path, capsys):
    """`demo --patients 30` then `response --json` for every patient: no error, the documented shape."""
    from poems_monitor.cli import main
    from poems_monitor.persistence.db import open_database
    from poems_monitor.persistence.repositories.timelines import load_timelines

    db = tmp_path / "demo.sqlite"
    result = cli(db, "demo", "--patients", "30")
    assert result.returncode == 0, result.stderr
    handle = open_database(db)
    with handle.read() as session:
        mrns = [p.mrn for p in load_timelines(session)]
    handle.dispose()
    assert len(mrns) == 30
    seen: set[str] = set()
    for mrn in mrns:
        assert main(["response", "--db", str(db), "--mrn", mrn, "--as-of", "2026-12-01", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        check_shape(doc, mrn, "2026-12-01")
        seen.update(line[d]["category"] for line in doc["lines"] for d in DOMAIN_CATEGORIES)
        seen.add(doc["status"]["status"])
    assert {"partial", "complete", "not_evaluable", "improved"} <= seen  # the demo exercises the rules
