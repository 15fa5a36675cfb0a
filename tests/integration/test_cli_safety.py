"""The safety commands as a person runs them: `users add` (password on standard input),
`users list`, `backup`, `restore`, `check`, with their exit codes, and errors as sentences
without a traceback."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def run(*args: str, stdin: str = "", home: Path | None = None) -> subprocess.CompletedProcess:
    """In this process (fast): the same `main()` the installed command runs."""
    from poems_monitor.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = old_stdin
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def run_process(*args: str, stdin: str = "", home: Path | None = None) -> subprocess.CompletedProcess:
    """As a separate process, exactly as a person types it."""
    env = dict(os.environ)
    if home is not None:
        env["POEMS_MONITOR_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "poems_monitor", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env=env)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_accounts_backup_restore_and_check_from_the_command_line(tmp_path, _isolated_home):
    db = str(tmp_path / "clinic.sqlite")
    home = _isolated_home

    # the first account: while none exists, the command line acts as the set-up administrator
    r = run_process("users", "add", "boss", "--role", "admin", "--db", db, "--user", "boss",
                    stdin="correct horse battery\n", home=home)
    assert r.returncode == 0, r.stderr
    assert "Account boss (admin) created." in r.stdout
    # from now on a command that writes needs the acting account's password (--password-file)
    pw = {"boss": tmp_path / "boss.pw", "ann": tmp_path / "ann.pw", "mallory": tmp_path / "mallory.pw"}
    pw["boss"].write_text("correct horse battery\n")
    pw["ann"].write_text("nurse-password\n")
    pw["mallory"].write_text("whatever-pass\n")

    def signed(*args: str) -> tuple[str, ...]:
        name = args[args.index("--user") + 1]
        return (*args, "--password-file", str(pw[name]))

    r = run(*signed("users", "add", "ann", "--role", "nurse", "--db", db, "--user", "boss"), stdin="nurse-password\n", home=home)
    assert r.returncode == 0, r.stderr

    # a too-short password, an existing name, a stranger, a nurse managing users: refused, as sentences
    for args, stdin, expected in [
        (("users", "add", "bob", "--role", "nurse", "--user", "boss"), "short\n", "at least 8 characters"),
        (("users", "add", "ann", "--role", "nurse", "--user", "boss"), "another-password\n", "exists already"),
        (("users", "add", "eve", "--role", "admin", "--user", "mallory"), "whatever-pass\n", "the password is wrong"),
        (("users", "add", "eve", "--role", "admin", "--user", "ann"), "whatever-pass\n", "ann (nurse) may not manage user accounts"),
        (("users", "add", "eve", "--role", "admin", "--user", "boss"), "", "No password was given"),
    ]:
        r = run(*signed(*args, "--db", db), stdin=stdin, home=home)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert expected in r.stderr, (args, r.stderr)
        no_traceback(r)

    r = run("users", "list", "--db", db, home=home)
    assert r.returncode == 0
    assert [line.split() for line in r.stdout.splitlines()] == [["ann", "nurse"], ["boss", "admin"]]
    assert "password" not in r.stdout and "argon2" not in r.stdout

    # record something, then back up and check
    r = run(*signed("demo", "--patients", "2", "--db", db, "--user", "ann"), home=home)
    assert r.returncode == 0, r.stderr
    r = run("check", "--db", db, home=home)
    assert r.returncode == 0 and "is sound" in r.stdout, r.stderr

    backup = tmp_path / "copy.sqlite"
    r = run(*signed("backup", str(backup), "--db", db, "--user", "ann"), home=home)
    assert r.returncode == 1 and "ann (nurse) may not make backups" in r.stderr
    assert not backup.exists()
    r = run(*signed("backup", str(backup), "--db", db, "--user", "boss"), home=home)
    assert r.returncode == 0, r.stderr
    assert backup.exists() and "checked" in r.stdout
    r = run(*signed("backup", "--db", db, "--user", "boss"), home=home)  # today's automatic backup, in the backup folder
    assert r.returncode == 0, r.stderr
    assert list((home / "backups").glob("clinic-*/clinic-*.sqlite"))  # the database's own backup set

    # restore: refused for a nurse, refused for a damaged file, done for the good copy
    r = run(*signed("restore", str(backup), "--db", db, "--user", "ann"), home=home)
    assert r.returncode == 1 and "may not restore a backup" in r.stderr
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    r = run(*signed("restore", str(junk), "--db", db, "--user", "boss"), home=home)
    assert r.returncode == 1 and "nothing was changed" in r.stderr.lower()
    no_traceback(r)
    r = run(*signed("restore", str(tmp_path / "missing.sqlite"), "--db", db, "--user", "boss"), home=home)
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = run_process(*signed("restore", str(backup), "--db", db, "--user", "boss"), home=home)
    assert r.returncode == 0, r.stderr
    assert "the replaced database was kept as" in r.stdout
    assert list(tmp_path.glob("clinic.replaced-*.sqlite"))
    r = run("check", "--db", db, home=home)
    assert r.returncode == 0, r.stderr


def test_check_reports_damage_and_missing_files_as_sentences(tmp_path, _isolated_home):
    missing = run("check", "--db", str(tmp_path / "nowhere.sqlite"), home=_isolated_home)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert not (tmp_path / "nowhere.sqlite").exists()  # check never creates a database
    letter = tmp_path / "letter.sqlite"
    letter.write_text("Dear colleague,\n" * 50)
    r = run_process("check", "--db", str(letter), home=_isolated_home)
    assert r.returncode == 1 and "not a poems-monitor database" in r.stderr
    for result in (missing, r):
        no_traceback(result)
        assert len(result.stderr.strip().splitlines()) <= 3
