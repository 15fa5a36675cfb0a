"""Issue 10 (daily use) on the command line, run as a user runs it (a subprocess): global options
before or after the command, read-only commands that refuse a mistyped --db, one backup set per
database, a quiet exit into a closed pipe, plural words and the item names the app shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, timeout: float = 180, home: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if home is not None:
        env["POEMS_MONITOR_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "poems_monitor", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("daily-cli") / "clinic.sqlite"
    db = open_database(path)
    import_patients(db, generate_patients(3, 5, TODAY), Actor("test-admin", Role.ADMIN), reason="tests")
    db.dispose()
    return path


# --- defect 6: global options before or after the command ------------------------------------

def test_db_before_or_after_the_command_is_the_same(clinic):
    before = run("--db", clinic, "worklist", "--json", "--as-of", TODAY.isoformat())
    after = run("worklist", "--db", clinic, "--json", "--as-of", TODAY.isoformat())
    assert before.returncode == 0, before.stderr
    assert after.returncode == 0, after.stderr
    assert before.stdout == after.stdout
    assert json.loads(before.stdout)["items"]  # the clinic's patients, not an empty default database


def test_user_before_the_command_and_db_before_a_subcommand_group(clinic):
    result = run("--user", "someone", "--db", clinic, "protocol", "show")
    assert result.returncode == 0, result.stderr
    listed = run("--db", clinic, "users", "list")
    assert listed.returncode == 0, listed.stderr


def test_db_before_gui_renders_that_database(clinic, tmp_path):
    shot = tmp_path / "worklist.png"
    result = run("--db", clinic, "gui", "--screenshot", shot, "--view", "worklist", "--size", "900x600")
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 1000


# --- defect 7: read-only commands refuse a database that does not exist ----------------------

READ_ONLY = [
    ("flags", "--json"),
    ("worklist",),
    ("export", "{out}/t.json"),
    ("export-csv", "{out}/csv"),
    ("export-fhir", "{out}/b.json"),
    ("report", "--mrn", "H-000001", "{out}/s.pdf"),
    ("waivers",),
    ("protocol", "show"),
    ("users", "list"),
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0] + ("-" + c[1] if len(c) > 1 and c[0] in ("protocol", "users") else ""))
@pytest.mark.parametrize("where", ["after", "before"])
def test_read_only_command_refuses_a_mistyped_db(command, where, tmp_path):
    missing = tmp_path / "clinc.sqlite"  # a typo of clinic.sqlite
    args = [a.format(out=tmp_path) for a in command]
    argv = [*args, "--db", missing] if where == "after" else ["--db", missing, *args]
    result = run(*argv)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert str(missing) in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not missing.exists()
    assert not list(tmp_path.iterdir())  # nothing written anywhere


# --- defect 8: one backup set per database -----------------------------------------------------

def _one_patient_clinic(path: Path, mrn: str) -> None:
    from poems_monitor.services.patients import PatientInput, create_patient

    db = open_database(path)
    create_patient(db, Actor("test-admin", Role.ADMIN), PatientInput(mrn, "Pat " + mrn, "female", TODAY.replace(year=1970)), today=TODAY)
    db.dispose()


def test_two_clinics_with_the_same_file_name_keep_their_own_backups(tmp_path):
    import sqlite3

    home = tmp_path / "home"
    north, south = tmp_path / "north" / "clinic.sqlite", tmp_path / "south" / "clinic.sqlite"
    north.parent.mkdir()
    south.parent.mkdir()
    _one_patient_clinic(north, "N-1")
    _one_patient_clinic(south, "S-1")
    written = {}
    for path in (north, south):
        result = run("backup", "--db", path, home=home)  # today's automatic backup, the same day for both
        assert result.returncode == 0, result.stderr
        written[path] = Path(result.stdout.split("Backup written to ", 1)[1].split(" (", 1)[0])
    assert written[north] != written[south]
    for path, mrn in ((north, "N-1"), (south, "S-1")):
        backup = written[path]
        # where the README says: backups/<file stem>-<8 hex>/ under the backup folder
        assert backup.parent.parent == home / "backups"
        assert backup.parent.name.startswith("clinic-") and len(backup.parent.name) == len("clinic-") + 8
        with sqlite3.connect(backup) as con:
            assert [r[0] for r in con.execute("select mrn from patient")] == [mrn]
    # the same database backed up again lands in its own set, found again from its path
    again = run("--db", north, "backup", home=home)
    assert again.returncode == 0, again.stderr
    assert str(written[north].parent) in again.stdout


# --- defect 13: a closed pipe, real plurals ----------------------------------------------------

def test_worklist_into_a_closed_pipe_exits_quietly(clinic):
    env = dict(os.environ)
    process = subprocess.Popen([sys.executable, "-m", "poems_monitor", "worklist", "--db", str(clinic), "--all"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    process.stdout.close()  # as `| head` does once it has read enough
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert err == ""


def test_counts_use_real_plurals(clinic, tmp_path):
    one = run("export", "--db", clinic, "--mrn", "H-100000", tmp_path / "one.json")
    assert one.stdout.strip() == f"Exported 1 patient to {tmp_path / 'one.json'}"
    three = run("export", "--db", clinic, tmp_path / "all.json")
    assert three.stdout.strip() == f"Exported 3 patients to {tmp_path / 'all.json'}"
    none = run("waivers", "--db", clinic)
    assert none.stdout.strip() == "0 waivers."


# --- friction: demo into real patients asks first; the command line shows the app's names ----

def test_demo_into_a_database_with_real_patients_asks_for_yes(tmp_path):
    path = tmp_path / "clinic.sqlite"
    _one_patient_clinic(path, "R-1")
    refused = run("demo", "--patients", "2", "--db", path)
    assert refused.returncode == 1
    assert "holds 1 real patient" in refused.stderr and "2 synthetic patients" in refused.stderr
    assert "H-100001 to H-100002" in refused.stderr and "--yes" in refused.stderr
    db = open_database(path)
    from poems_monitor.services.patients import list_patients

    assert [p.mrn for p in list_patients(db)] == ["R-1"]  # nothing added
    db.dispose()
    added = run("demo", "--patients", "2", "--db", path, "--yes")
    assert added.returncode == 0, added.stderr
    again = run("demo", "--patients", "1", "--db", tmp_path / "demo-only.sqlite")
    assert again.returncode == 0 and run("demo", "--patients", "1", "--db", tmp_path / "demo-only.sqlite").returncode == 0


def test_worklist_and_flags_print_the_names_the_app_shows_and_json_keeps_codes(clinic):
    from poems_monitor.domain.catalogue import FLAG_KIND_NAMES, FOLLOWUP_ITEM_NAMES

    as_of = "2030-01-01"  # years later: everything is overdue, so every item shows
    text = run("worklist", "--db", clinic, "--as-of", as_of).stdout
    items = {i["item"] for i in json.loads(run("worklist", "--db", clinic, "--as-of", as_of, "--json").stdout)["items"]}
    assert {"review_visit", "neuropathy_score"} <= items  # JSON keeps the codes
    for code in items:
        assert FOLLOWUP_ITEM_NAMES[code] in text
        assert code not in text or code.lower() == FOLLOWUP_ITEM_NAMES[code].lower()
    flags = run("flags", "--db", clinic, "--as-of", TODAY.isoformat())
    codes = json.loads(run("flags", "--db", clinic, "--as-of", TODAY.isoformat(), "--json").stdout)["flags"]
    assert codes
    for flag in codes:
        assert FLAG_KIND_NAMES[flag["kind"]] in flags.stdout
        if "_" in flag["kind"]:
            assert flag["kind"] not in flags.stdout.replace("rule: ", "")
