"""`poems-monitor report` through the real entry point (a subprocess, no display): the PDF is
written, page size and as-of date are honoured, user errors are one sentence with exit 1 or 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["POEMS_MONITOR_HOME"] = str(home)  # no display and no platform set: the command must go offscreen itself
    return subprocess.run([sys.executable, "-m", "poems_monitor", *args], capture_output=True, text=True, env=env,
                          timeout=180)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-report")
    path = folder / "clinic.sqlite"
    db = open_database(path)
    patients = generate_patients(2, 21, TODAY)
    import_patients(db, patients, Actor("test-admin", Role.ADMIN), reason="tests")
    db.dispose()
    return path, patients[0]


def test_report_writes_the_pdf(clinic, tmp_path):
    path, p = clinic
    target = tmp_path / "summary.pdf"
    result = run("report", "--db", str(path), "--mrn", p.mrn, "--page-size", "Letter", "--as-of", TODAY.isoformat(),
                 "--user", "dr-berg", str(target), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert p.mrn in result.stdout and "Letter" in result.stdout and str(target) in result.stdout
    assert result.stderr == ""
    data = target.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    if shutil.which("pdftotext"):
        info = subprocess.run(["pdfinfo", str(target)], capture_output=True, text=True).stdout
        assert "612 x 792" in info
        text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True).stdout
        assert p.name in text and "by dr-berg" in text and f"as of {TODAY.isoformat()}" in text


def test_unknown_mrn_is_one_sentence_and_exit_1(clinic, tmp_path):
    path, _p = clinic
    result = run("report", "--db", str(path), "--mrn", "H-NOPE", str(tmp_path / "x.pdf"), home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "No patient with MRN H-NOPE in this database."
    assert "Traceback" not in result.stderr and not (tmp_path / "x.pdf").exists()


def test_bad_as_of_and_suffix_are_refused(clinic, tmp_path):
    path, p = clinic
    bad_date = run("report", "--db", str(path), "--mrn", p.mrn, "--as-of", "21/11/2026", str(tmp_path / "x.pdf"),
                   home=tmp_path)
    assert bad_date.returncode == 2 and "--as-of" in bad_date.stderr and "Traceback" not in bad_date.stderr
    bad_suffix = run("report", "--db", str(path), "--mrn", p.mrn, str(tmp_path / "x.png"), home=tmp_path)
    assert bad_suffix.returncode == 2 and ".pdf" in bad_suffix.stderr
    assert not (tmp_path / "x.pdf").exists() and not (tmp_path / "x.png").exists()
