"""The command line as a user runs it: `python -m poems_monitor demo | export | import` in a
subprocess, with the documented exit codes and plain sentences (never a traceback) on stderr."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "poems_monitor", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> tuple[Path, dict, Path]:
    """A 5-patient demo clinic, its export and its database, made once for the module."""
    folder = tmp_path_factory.mktemp("cli")
    db = folder / "demo.sqlite"
    made = run("demo", "--patients", 5, "--seed", 3, "--db", db)
    assert made.returncode == 0, made.stderr
    assert "5 new patients" in made.stdout
    out = folder / "demo.json"
    exported = run("export", "--db", db, out)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == f"Exported 5 patients to {out}"
    return out, json.loads(out.read_text(encoding="utf-8")), db


def test_demo_then_export_writes_five_patients(demo_file):
    _, document, _ = demo_file
    assert document["format"] == "poems-monitor/timeline"
    assert document["version"] == 1
    assert len(document["patients"]) == 5
    assert all(p["visits"] for p in document["patients"])


def test_import_into_a_new_database_and_export_again_is_identical(demo_file, tmp_path):
    path, document, _ = demo_file
    db = tmp_path / "copy.sqlite"
    imported = run("import", "--db", db, path)
    assert imported.returncode == 0, imported.stderr
    assert "5 new patients" in imported.stdout
    again = tmp_path / "again.json"
    assert run("export", "--db", f"sqlite:///{db}", again).returncode == 0  # --db also takes a URL
    assert json.loads(again.read_text(encoding="utf-8")) == document

    # importing the same file once more changes nothing and still succeeds
    repeat = run("import", "--db", db, path)
    assert repeat.returncode == 0, repeat.stderr
    assert "0 new patients, 0 extended, 5 unchanged" in repeat.stdout


def test_export_of_one_patient(demo_file, tmp_path):
    _, document, db = demo_file
    mrn = document["patients"][2]["mrn"]
    out = tmp_path / "one.json"
    result = run("export", "--db", db, "--mrn", mrn, out)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["patients"] == [document["patients"][2]]


def test_invalid_file_exits_2_listing_every_error_with_its_path(demo_file, tmp_path):
    _, document, _ = demo_file
    bad = json.loads(json.dumps(document))
    bad["patients"][0]["visits"][0]["observations"][0]["code"] = "no_such_measure"
    bad["patients"][1]["birth_date"] = "2999-01-01"
    bad["patients"][2]["visits"][1]["colour"] = "blue"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    db = tmp_path / "target.sqlite"

    result = run("import", "--db", db, path)

    assert result.returncode == 2
    no_traceback(result)
    mrns = [p["mrn"] for p in document["patients"]]
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"{path}: 3 problems found; nothing was imported."
    assert lines[0].startswith(f"$.patients[0].visits[0].observations[0].code: patient {mrns[0]}, ")
    assert lines[1].startswith(f"$.patients[1].birth_date: patient {mrns[1]}, ")
    assert lines[2].startswith(f"$.patients[2].visits[1].colour: patient {mrns[2]}, ")
    assert len(lines) == 4
    # nothing was imported
    con = sqlite3.connect(db)
    try:
        for table in ("patient", "visit", "observation", "treatment", "event", "audit_entry"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    finally:
        con.close()


def test_malformed_json_exits_2_with_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "poems-monitor/timeline",\n "version": 1,\n "patients": [\n', encoding="utf-8")
    result = run("import", "--db", tmp_path / "x.sqlite", path)
    assert result.returncode == 2
    no_traceback(result)
    assert "not valid JSON" in result.stderr
    assert "line 4" in result.stderr


def test_export_of_an_unknown_mrn_fails_with_one_sentence(demo_file, tmp_path):
    _, _, db = demo_file
    out = tmp_path / "none.json"
    result = run("export", "--db", db, "--mrn", "UNKNOWN", out)
    assert result.returncode != 0
    no_traceback(result)
    assert result.stderr.strip() == "No patient with MRN UNKNOWN"
    assert not out.exists()


def test_a_database_that_is_not_sqlite_is_refused_with_one_sentence(tmp_path):
    db = tmp_path / "notes.txt"
    db.write_text("shopping list\n" * 50, encoding="utf-8")
    result = run("export", "--db", db, tmp_path / "out.json")
    assert result.returncode == 1
    no_traceback(result)
    assert result.stderr.strip() == f"{db} is not a poems-monitor database (not an SQLite file); nothing was changed"
    assert db.read_text(encoding="utf-8") == "shopping list\n" * 50
