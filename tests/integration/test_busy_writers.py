"""Writers wait, not fail (issue 11): a write that meets another write holding the database (a long
import on another workstation, here a process holding SQLite's write lock) waits with a message
and then succeeds; when the other write lasts longer than the configured wait, it is told in one
sentence that the database is busy and to try again, with nothing changed and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from poems_monitor.persistence.db import open_database

pytestmark = pytest.mark.slow

HOLDER = r'''
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # what a long import holds from its first statement to its commit
conn.execute("INSERT INTO clinic_setting (key, value, updated_at, updated_by) VALUES ('busy.test', 'x', '2026-01-01', 'x')")
print("HOLDING", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
'''
TIMELINE = {"format": "poems-monitor/timeline", "version": 1, "patients": [
    {"mrn": "B-1", "name": "Busy Test", "sex": "male", "birth_date": "1960-01-01",
     "visits": [{"date": "2024-01-01", "observations": [{"code": "platelets", "value": 300, "unit": "10*9/L"}]}]}]}


def _cli(db, source, env_extra=None) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "poems_monitor", "import", str(source), "--db", str(db)],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def clinic(tmp_path):
    db = tmp_path / "clinic.sqlite"
    open_database(db).dispose()  # a new clinic file (read-only commands refuse to create one)
    source = tmp_path / "t.json"
    source.write_text(json.dumps(TIMELINE), encoding="utf-8")
    holder = tmp_path / "holder.py"
    holder.write_text(HOLDER, encoding="utf-8")
    return db, source, holder


def _hold(holder, db, seconds):  # noqa: ANN001, ANN202
    proc = subprocess.Popen([sys.executable, str(holder), str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "HOLDING"
    return proc


def test_a_write_waits_for_a_long_one_with_a_message_then_succeeds(clinic):
    db, source, holder = clinic
    proc = _hold(holder, db, 14)  # longer than the 10-12 s after which writers used to fail
    started = time.monotonic()
    try:
        result = _cli(db, source)
    finally:
        proc.wait(timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Waiting for another write" in result.stderr and "Traceback" not in result.stderr
    assert "1 new patient," in result.stdout
    assert time.monotonic() - started >= 10


def test_a_write_that_waits_too_long_is_told_busy_in_one_sentence(clinic):
    db, source, holder = clinic
    proc = _hold(holder, db, 20)
    try:
        result = _cli(db, source, {"POEMS_MONITOR_WRITE_WAIT_SECONDS": "4"})
    finally:
        proc.wait(timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == ("The clinic database is busy with another write (for example a long import) and nothing was "
                         "changed: try again in a minute."), result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    after = _cli(db, source)  # once the other write is done, the same command goes through
    assert after.returncode == 0, after.stderr
