"""Identity needs a password (INTERFACES.md section 1, amended 2026-12): once the database has
accounts, a command that writes acts as an account only with that account's password (asked on a
terminal, or the first line of --password-file); without it, or with a wrong one, it refuses
(exit 1) and writes nothing. Wrong passwords in a row lock the account; password changes, locks
and unlocks are audited. Run as a person types the commands, against real SQLite files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.integration.test_cli_safety import run as run_in_process

pytestmark = pytest.mark.slow

PASSWORDS = {"boss": "boss-password-1", "ann": "nurse-password-1", "dr-berg": "physician-password-1"}


def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """The command line in this process (`test_cli_safety.run`), as (exit code, stdout, stderr)."""
    result = run_in_process(*args, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def password_file(folder: Path, name: str, password: str | None = None) -> str:
    path = folder / f"{name}.pw"
    path.write_text((password if password is not None else PASSWORDS[name]) + "\n", encoding="utf-8")
    return str(path)


def rows(db: Path, sql: str) -> list[tuple]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def audit_count(db: Path) -> int:
    return rows(db, "SELECT count(*) FROM audit_entry")[0][0]


@pytest.fixture
def clinic(tmp_path) -> Path:
    db = tmp_path / "clinic.sqlite"
    # no account yet: the command line is the set-up administrator and creates the first one
    code, _, err = run("users", "add", "boss", "--role", "admin", "--db", str(db), "--user", "boss",
                       stdin=PASSWORDS["boss"] + "\n")
    assert code == 0, err
    boss = password_file(tmp_path, "boss")
    for name, role in (("ann", "nurse"), ("dr-berg", "physician")):
        code, _, err = run("users", "add", name, "--role", role, "--db", str(db), "--user", "boss",
                           "--password-file", boss, stdin=PASSWORDS[name] + "\n")
        assert code == 0, err
    code, _, err = run("demo", "--patients", "2", "--db", str(db), "--user", "ann",
                       "--password-file", password_file(tmp_path, "ann"))
    assert code == 0, err
    return db


def test_without_a_password_or_with_a_wrong_one_nothing_is_written(clinic, tmp_path):
    before = audit_count(clinic)
    nurse_pw = password_file(tmp_path, "ann")
    for extra in ((), ("--password-file", nurse_pw), ("--password-file", password_file(tmp_path, "empty", ""))):
        code, out, err = run("users", "add", "eve", "--role", "admin", "--db", str(clinic), "--user", "boss", *extra,
                             stdin="eves-password-1\n")
        assert code == 1, (extra, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert ("password" in err), err
    assert rows(clinic, "SELECT name FROM app_user WHERE name = 'eve'") == []
    # the failed sign-in is recorded on boss's account, not in boss's name; nothing else was written
    assert rows(clinic, f"SELECT action, user, entity, entity_id FROM audit_entry WHERE id > {before}") == [
        ("sign_in_failed", "(not signed in)", "user", rows(clinic, "SELECT id FROM app_user WHERE name = 'boss'")[0][0])]


def test_a_nurse_cannot_restore_or_add_an_admin_as_someone_else(clinic, tmp_path):
    boss_pw, nurse_pw = password_file(tmp_path, "boss"), password_file(tmp_path, "ann")
    backup = tmp_path / "copy.sqlite"
    code, _, err = run("backup", str(backup), "--db", str(clinic), "--user", "boss", "--password-file", boss_pw)
    assert code == 0, err
    run("demo", "--patients", "1", "--seed", "7", "--db", str(clinic), "--user", "ann", "--password-file", nurse_pw)
    patients = rows(clinic, "SELECT count(*) FROM patient")[0][0]

    # "as" the administrator with her own password, and with none: refused, the database stays
    for extra in (("--password-file", nurse_pw), ()):
        code, _, err = run("restore", str(backup), "--db", str(clinic), "--user", "boss", *extra)
        assert code == 1 and "Traceback" not in err, err
        assert "password" in err
    assert rows(clinic, "SELECT count(*) FROM patient")[0][0] == patients
    assert not list(tmp_path.glob("clinic.replaced-*"))
    # as herself: her role refuses it
    code, _, err = run("restore", str(backup), "--db", str(clinic), "--user", "ann", "--password-file", nurse_pw)
    assert code == 1 and "ann (nurse) may not restore a backup" in err
    code, _, err = run("users", "add", "eve", "--role", "admin", "--db", str(clinic), "--user", "boss",
                       "--password-file", nurse_pw, stdin="eves-password-1\n")
    assert code == 1
    assert rows(clinic, "SELECT count(*) FROM app_user WHERE role = 'admin'") == [(1,)]
    # the administrator with the right password restores
    code, out, err = run("restore", str(backup), "--db", str(clinic), "--user", "boss", "--password-file", boss_pw)
    assert code == 0, err
    assert rows(clinic, "SELECT count(*) FROM patient")[0][0] < patients


def test_a_nurse_cannot_waive_as_the_physician_and_the_audit_names_who_did(clinic, tmp_path):
    mrn = rows(clinic, "SELECT mrn FROM patient ORDER BY id LIMIT 1")[0][0]
    args = ("waive", "--mrn", mrn, "echo", "--reason", "done at the referring hospital", "--db", str(clinic),
            "--user", "dr-berg")
    code, _, err = run(*args, "--password-file", password_file(tmp_path, "ann"))
    assert code == 1 and "wrong" in err
    assert rows(clinic, "SELECT count(*) FROM audit_entry WHERE action = 'waive'") == [(0,)]
    code, _, err = run(*args, "--password-file", password_file(tmp_path, "dr-berg"))
    assert code == 0, err
    waived = rows(clinic, "SELECT user FROM audit_entry WHERE action = 'waive'")
    assert waived == [("dr-berg",)]
    # and the nurse acting as herself is refused by her role
    code, _, err = run("waive", "--mrn", mrn, "vegf", "--reason", "x", "--db", str(clinic), "--user", "ann",
                       "--password-file", password_file(tmp_path, "ann"))
    assert code == 1 and "ann (nurse) may not waive" in err


def test_wrong_passwords_in_a_row_lock_the_account_until_an_administrator_unlocks_it(clinic, tmp_path):
    wrong = password_file(tmp_path, "guess", "not-the-password")
    right = password_file(tmp_path, "dr-berg")
    args = ("users", "passwd", "dr-berg", "--db", str(clinic), "--user", "dr-berg")
    for _ in range(5):  # the DEFAULT count
        code, _, err = run(*args, "--password-file", wrong, stdin="new-physician-pw\n")
        assert code == 1 and "wrong" in err
    code, _, err = run(*args, "--password-file", right, stdin="new-physician-pw\n")
    assert code == 1 and "dr-berg is locked" in err and "users unlock dr-berg" in err
    actions = [a for (a,) in rows(clinic, "SELECT action FROM audit_entry WHERE entity = 'user' ORDER BY id")]
    assert actions[-6:] == ["sign_in_failed"] * 5 + ["lock"]

    code, _, err = run("users", "unlock", "dr-berg", "--db", str(clinic), "--user", "ann",
                       "--password-file", password_file(tmp_path, "ann"))
    assert code == 1 and "may not manage user accounts" in err
    code, out, err = run("users", "unlock", "dr-berg", "--db", str(clinic), "--user", "boss",
                         "--password-file", password_file(tmp_path, "boss"))
    assert code == 0 and "dr-berg is unlocked" in out, err
    code, out, err = run(*args, "--password-file", right, stdin="new-physician-pw\n")
    assert code == 0 and "New password set for dr-berg" in out, err
    # the old password no longer works, the new one does; who did what is in the audit
    code, _, err = run(*args, "--password-file", right, stdin="another-physician-pw\n")
    assert code == 1
    code, _, err = run(*args, "--password-file", password_file(tmp_path, "new", "new-physician-pw"),
                       stdin="another-physician-pw\n")
    assert code == 0, err
    entries = rows(clinic, "SELECT action, user, new FROM audit_entry WHERE entity = 'user' AND action IN "
                           "('unlock', 'password') ORDER BY id")
    assert [(a, u) for a, u, _ in entries] == [("unlock", "boss"), ("password", "dr-berg"), ("password", "dr-berg")]
    assert all("argon2" not in (new or "") and "physician-pw" not in (new or "") for *_, new in entries)


def test_a_nurse_cannot_set_another_accounts_password(clinic, tmp_path):
    code, _, err = run("users", "passwd", "boss", "--db", str(clinic), "--user", "ann",
                       "--password-file", password_file(tmp_path, "ann"), stdin="taken-over-1\n")
    assert code == 1 and "ann (nurse) may not manage user accounts" in err
    code, _, err = run("backup", str(tmp_path / "b.sqlite"), "--db", str(clinic), "--user", "boss",
                       "--password-file", password_file(tmp_path, "boss"))
    assert code == 0, err


def test_read_only_commands_need_no_password(clinic):
    code, out, err = run("worklist", "--json", "--db", str(clinic), "--user", "ann")
    assert code == 0, err
    assert json.loads(out)["items"]


def test_signing_in_to_a_read_only_copy_checks_the_password_without_writing(clinic, tmp_path):
    from sqlalchemy import create_engine as engine_for

    from poems_monitor.persistence.db import Database
    from poems_monitor.services.users import SignInRefused, authenticate

    url = f"sqlite:///{clinic.resolve().as_uri()}?mode=ro&uri=true"
    engine = engine_for(url)
    try:
        copy = Database(engine=engine, url=url)
        with pytest.raises(SignInRefused):
            authenticate(copy, "ann", "not-her-password")
        assert authenticate(copy, "ann", PASSWORDS["ann"]).name == "ann"
    finally:
        engine.dispose()


def test_on_a_terminal_the_password_is_asked(clinic, tmp_path):
    """As a person types it: the command asks "Password for ann:" on the terminal, without echo."""
    import os
    import pty
    import select as waiting
    import time

    mrn = rows(clinic, "SELECT mrn FROM patient ORDER BY id LIMIT 1")[0][0]

    def session(password: str) -> tuple[int, str]:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the command with the terminal as its standard input
            os.execvp(sys.executable, [sys.executable, "-m", "poems_monitor", "waive", "--mrn", mrn, "pft",
                                       "--reason", "done elsewhere", "--db", str(clinic), "--user", "dr-berg"])
        seen, sent, deadline = b"", False, time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = waiting.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            if not sent and b"Password for dr-berg: " in seen:
                os.write(fd, password.encode() + b"\n")
                sent = True
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")

    code, shown = session("guessed-wrong")
    assert code == 1 and "wrong" in shown and "guessed-wrong" not in shown
    code, shown = session(PASSWORDS["dr-berg"])
    assert code == 0 and "Waived Lung function" in shown and PASSWORDS["dr-berg"] not in shown
