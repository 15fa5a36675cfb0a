"""Privacy on error paths (issue 11): after each failure a person can cause, the log file and stderr
hold no MRN, name or birth date of the patient involved. The failures are real: a database whose
writes fail (a trigger added with sqlite3, as a hostile or damaged file would), a refused restore,
a refused sign-in, an unreadable file."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SECRETS = ("H-000123", "Jane Example", "Example", "1971-04-02")
TIMELINE = {"format": "poems-monitor/timeline", "version": 1, "patients": [
    {"mrn": "H-000123", "name": "Jane Example", "sex": "female", "birth_date": "1971-04-02",
     "visits": [{"date": "2019-03-14", "observations": [{"code": "platelets", "value": 512, "unit": "10*9/L"}]}]}]}


def run(*args: str, stdin: str = "") -> tuple[int, str]:
    import sys

    from poems_monitor import logging_setup
    from poems_monitor.cli import main

    logging_setup._configured = False  # each command configures its log file as a new process would
    err = io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = old_stdin
    return code, err.getvalue()


def log_text(home: Path) -> str:
    import logging

    for handler in logging.getLogger("poems_monitor").handlers:
        handler.flush()
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((home / "logs").glob("poems-monitor.log*")))


def no_identifier(*texts: str) -> None:
    for text in texts:
        assert not [s for s in SECRETS if s in text], text


@pytest.fixture(autouse=True)
def _fresh_handlers():
    import logging

    root = logging.getLogger("poems_monitor")
    before = list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


def test_a_write_that_fails_in_the_database_leaves_no_identifier_in_log_or_stderr(tmp_path, _isolated_home):
    db = tmp_path / "clinic.sqlite"
    source = tmp_path / "t.json"
    source.write_text(json.dumps(TIMELINE), encoding="utf-8")
    from poems_monitor.persistence.db import open_database

    open_database(db).dispose()  # a new clinic file (read-only commands refuse to create one)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON patient BEGIN SELECT RAISE(ABORT, 'refused'); END")
    code, err = run("import", str(source), "--db", str(db))
    assert code == 4 and "unexpected error" in err and "Traceback" not in err
    log = log_text(_isolated_home)
    assert "Traceback" in log and "IntegrityError" in log  # the details are there for whoever fixes it ...
    no_identifier(err, log)  # ... without the patient


def test_refusals_and_unreadable_files_leave_no_identifier(tmp_path, _isolated_home):
    db = tmp_path / "clinic.sqlite"
    source = tmp_path / "t.json"
    source.write_text(json.dumps(TIMELINE), encoding="utf-8")
    assert run("import", str(source), "--db", str(db))[0] == 0
    assert run("users", "add", "boss", "--role", "admin", "--db", str(db), "--user", "boss",
               stdin="boss-password-1\n")[0] == 0
    pw = tmp_path / "wrong.pw"
    pw.write_text("not-it\n")
    errors = []
    for args in (("import", str(source), "--db", str(db), "--user", "boss", "--password-file", str(pw)),
                 ("restore", str(source), "--db", str(db), "--user", "boss", "--password-file", str(pw)),
                 ("report", "--mrn", "H-000123", str(tmp_path), "--db", str(db)),
                 ("export", str(tmp_path), "--db", str(db)),
                 ("check", "--db", str(source))):
        code, err = run(*args)
        assert code != 0, args
        errors.append(err)
    no_identifier(*errors, log_text(_isolated_home))
