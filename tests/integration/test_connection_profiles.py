"""Connection profiles (services/connection_profiles.py and `profiles`/`--profile` on the command
line): the URL built from a profile, the TLS rule off this computer, the profiles file that never
holds a password, masked URLs in logs, and "Test connection" against the session's real TLS
server (reachable, wrong CA, wrong password, closed port, schema too old)."""

from __future__ import annotations

import logging
import socket
import uuid
from pathlib import Path

import pytest

from poems_monitor.services import connection_profiles as cp
from tests.integration.test_cli_safety import no_traceback, run
from tests.pg_server import make_certificates

PASSWORD = "Clinic-pw-7e3c1a"


def server_profile(**fields) -> cp.ConnectionProfile:
    values = dict(name="Clinic", host="db.clinic.example", port=5432, database="poems", login="ann")
    values.update(fields)
    return cp.ConnectionProfile(**values)


@pytest.fixture
def ca_file(tmp_path) -> Path:
    path = tmp_path / "ca.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_url_of_a_server_profile_names_tls_mode_and_ca_but_no_password(ca_file):
    from sqlalchemy.engine import make_url

    url = make_url(cp.database_url(server_profile(ca_file=str(ca_file))))
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg", "ann", None, "db.clinic.example", 5432, "poems")
    assert dict(url.query) == {"sslmode": "verify-full", "sslrootcert": str(ca_file)}


def test_url_of_a_file_profile_is_the_absolute_sqlite_path(tmp_path):
    url = cp.database_url(cp.ConnectionProfile("Mine", kind=cp.KIND_FILE, path=str(tmp_path / "c.sqlite")))
    assert url == f"sqlite:///{tmp_path / 'c.sqlite'}"


@pytest.mark.parametrize("host, expected", [("db.clinic.example", "verify-full"), ("10.0.0.5", "verify-full"),
                                            ("localhost", "require"), ("127.0.0.1", "require"), ("::1", "require")])
def test_default_tls_mode_is_verify_full_off_this_computer(host, expected):
    assert server_profile(host=host).effective_tls_mode == expected


@pytest.mark.parametrize("mode", ["disable", "require", "verify-ca"])
def test_a_weaker_tls_mode_off_this_computer_is_refused_unless_the_profile_allows_it(mode, ca_file):
    weak = server_profile(tls_mode=mode, ca_file=str(ca_file))
    with pytest.raises(cp.ProfileError, match="TLS mode: db.clinic.example is not this computer.*verify-full"):
        cp.database_url(weak)
    allowed = cp.database_url(server_profile(tls_mode=mode, ca_file=str(ca_file), allow_weak_tls=True))
    assert f"sslmode={mode}" in allowed
    # on this computer any mode is fine without asking
    assert "sslmode=disable" in cp.database_url(server_profile(host="localhost", tls_mode="disable"))


def test_verify_full_needs_a_ca_file_and_fields_are_named_when_wrong():
    with pytest.raises(cp.ProfileError, match="^CA file: TLS mode verify-full"):
        cp.validate(server_profile())
    with pytest.raises(cp.ProfileError, match="^Port: a whole number from 1 to 65535"):
        cp.validate(server_profile(host="localhost", port=70000))
    with pytest.raises(cp.ProfileError, match="^Host:"):
        cp.validate(server_profile(host="db clinic"))
    with pytest.raises(cp.ProfileError, match="^CA file: .* does not exist"):
        cp.validate(server_profile(ca_file="/nowhere/ca.crt"))


def test_profiles_file_round_trip_keeps_every_field_and_the_last_used(ca_file):
    weak = server_profile(name="Day unit «B»", tls_mode="verify-ca", ca_file=str(ca_file), allow_weak_tls=True)
    cp.add_profile(weak)
    cp.add_profile(cp.ConnectionProfile("Laptop", kind=cp.KIND_FILE, path="/tmp/x.sqlite"))
    cp.remember_last_used(weak)
    book = cp.load_profiles()
    assert book.get("Day unit «B»") == weak and book.last_used == "Day unit «B»"
    assert book.get("Laptop").path == "/tmp/x.sqlite"
    with pytest.raises(cp.ProfileError, match="exists already"):
        cp.add_profile(weak)
    cp.remove_profile("Day unit «B»")
    assert cp.load_profiles().last_used == "" and cp.last_used_profile() is None


def test_masked_url_and_log_scrubbing_hide_a_password():
    from poems_monitor.logging_setup import scrub

    url = f"postgresql+psycopg://ann:{PASSWORD}@db:5432/poems?sslmode=verify-full"
    assert PASSWORD not in cp.masked_url(url) and "ann:***@db" in cp.masked_url(url)
    assert PASSWORD not in scrub(f"opening {url}")


def test_pgpass_entry_for_the_profile_is_named_as_the_password_source(tmp_path, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("other:5432:*:ann:x\ndb.clinic.example:5432:*:ann:secret\n")
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert cp.password_source(server_profile()) == str(pgpass)
    assert cp.password_source(server_profile(login="bob")) is None
    monkeypatch.setenv("PGPASSWORD", "x")
    assert cp.password_source(server_profile(login="bob")) == "PGPASSWORD"


# --- against the real TLS test server -----------------------------------------------------

@pytest.fixture
def clinic_server(pg_server, tmp_path):
    """A clinic database set up by `server init`, with its administrator's login (unique per test)."""
    name = f"prof_{uuid.uuid4().hex[:8]}"
    admin = f"boss_{uuid.uuid4().hex[:6]}"
    pw_file = tmp_path / "boss.pw"
    pw_file.write_text(PASSWORD + "\n")
    r = run("server", "init", pg_server.url(name), "--admin", admin, "--password-file", str(pw_file))
    assert r.returncode == 0, r.stderr
    profile = cp.ConnectionProfile("Clinic server", host="127.0.0.1", port=pg_server.port, database=name,
                                   login=admin, tls_mode="verify-full", ca_file=str(pg_server.ca_file))
    yield {"profile": profile, "pw_file": pw_file, "name": name, "admin": admin}
    pg_server.drop(name, (admin,))


def test_check_connection_reachable_with_the_right_ca_and_password(clinic_server):
    check = cp.check_connection(clinic_server["profile"], PASSWORD)
    assert check.outcome is cp.Outcome.REACHABLE, check.sentence
    assert check.sentence.startswith("Reachable:")


def test_check_connection_wrong_ca_is_tls_refused(clinic_server, tmp_path):
    other_ca, _, _ = make_certificates(tmp_path)
    from dataclasses import replace

    check = cp.check_connection(replace(clinic_server["profile"], ca_file=str(other_ca)), PASSWORD)
    assert check.outcome is cp.Outcome.TLS_REFUSED, check.sentence
    assert check.sentence.startswith("TLS refused:") and str(other_ca) in check.sentence


def test_check_connection_wrong_password_is_refused(clinic_server):
    check = cp.check_connection(clinic_server["profile"], "not-the-password")
    assert check.outcome is cp.Outcome.WRONG_PASSWORD, check.sentence
    assert clinic_server["admin"] in check.sentence and "not-the-password" not in check.sentence


def test_check_connection_closed_port_is_unreachable(clinic_server):
    from dataclasses import replace

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    check = cp.check_connection(replace(clinic_server["profile"], port=closed), PASSWORD)
    assert check.outcome is cp.Outcome.UNREACHABLE, check.sentence
    assert f"127.0.0.1:{closed}" in check.sentence


def test_check_connection_of_a_database_not_set_up_says_schema_too_old(pg_server, clinic_server):
    from dataclasses import replace

    empty = pg_server.fresh_database()
    pg_server.execute(f'GRANT CONNECT ON DATABASE "{empty}" TO "{clinic_server["admin"]}"')
    try:
        check = cp.check_connection(replace(clinic_server["profile"], database=empty), PASSWORD)
    finally:
        pg_server.drop(empty)
    assert check.outcome is cp.Outcome.SCHEMA_TOO_OLD, check.sentence
    assert "server init" in check.sentence


def test_cli_profile_connects_and_the_password_is_never_on_disk(clinic_server, _isolated_home, caplog):
    p = clinic_server["profile"]
    r = run("profiles", "add", "clinic", "--host", p.host, "--port", str(p.port), "--database", p.database,
            "--login", p.login, "--ca-file", p.ca_file)
    assert r.returncode == 0, r.stderr
    assert "Saved connection clinic: " in r.stdout and "TLS verify-full" in r.stdout
    caplog.set_level(logging.DEBUG)
    r = run("--profile", "clinic", "check", "--password-file", str(clinic_server["pw_file"]))
    no_traceback(r)
    assert r.returncode == 0, r.stderr + r.stdout
    r = run("profiles", "list")
    assert "clinic\tserver\t" in r.stdout
    # the password is in no file under the workstation's folders (config, logs, data), nor in the log records
    files = [f for f in Path(_isolated_home).rglob("*") if f.is_file()]
    assert any(f.name == cp.PROFILES_FILE for f in files)
    assert not [f for f in files if PASSWORD.encode() in f.read_bytes()]
    assert PASSWORD not in caplog.text


def test_cli_refuses_weak_tls_off_this_computer_and_unknown_profiles(ca_file):
    r = run("profiles", "add", "far", "--host", "db.clinic.example", "--database", "poems", "--login", "ann",
            "--tls", "require")
    assert r.returncode == 2
    assert "TLS mode: db.clinic.example is not this computer" in r.stderr and "Nothing was saved." in r.stderr
    r = run("profiles", "add", "far", "--host", "db.clinic.example", "--database", "poems", "--login", "ann",
            "--tls", "require", "--allow-weak-tls")
    assert r.returncode == 0 and "Warning: with require to db.clinic.example" in r.stdout
    r = run("--profile", "nobody", "check")
    assert r.returncode == 2 and "no profile is named nobody" in r.stderr
    r = run("--profile", "far", "--db", "x.sqlite", "check")
    assert r.returncode == 2 and "either --db or --profile" in r.stderr
    assert run("profiles", "remove", "far").returncode == 0
    assert "No saved connections yet" in run("profiles", "list").stdout


def test_a_file_profile_names_its_file_and_a_reading_command_does_not_create_it(tmp_path):
    missing = tmp_path / "typo.sqlite"
    assert run("profiles", "add", "laptop", "--file", str(missing)).returncode == 0
    r = run("--profile", "laptop", "worklist")
    assert r.returncode == 1 and f"{missing} does not exist" in r.stderr
    assert not missing.exists()


@pytest.mark.parametrize("url, expected", [
    ("postgresql+psycopg://ann@db.clinic.example/poems", "verify-full"),  # libpq alone would "prefer"
    ("postgresql+psycopg://ann@db.clinic.example/poems?sslmode=verify-full&sslrootcert=/ca.crt", "verify-full"),
    ("postgresql+psycopg://ann@localhost/poems", None),
    ("postgresql+psycopg://ann@127.0.0.1:5433/poems?sslmode=require", "require"),
    ("postgresql+psycopg://ann@/poems?host=/var/run/postgresql", None),
])
def test_a_typed_server_url_gets_verify_full_off_this_computer(url, expected):
    from sqlalchemy.engine import make_url

    checked = cp.checked_server_url(url)
    assert make_url(checked).query.get("sslmode") == expected
    assert make_url(checked).host == make_url(url).host


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_a_typed_server_url_with_a_weaker_sslmode_off_this_computer_is_refused_unless_allowed(mode):
    url = f"postgresql+psycopg://ann@db.clinic.example/poems?sslmode={mode}"
    with pytest.raises(cp.ProfileError, match=f"db.clinic.example is not this computer.*{mode} was refused"):
        cp.checked_server_url(url)
    assert cp.checked_server_url(url, allow_weak_tls=True) == url


def test_cli_refuses_a_weak_sslmode_in_db_to_and_server_urls_before_connecting():
    weak = "postgresql+psycopg://ann@db.clinic.example/poems?sslmode=require"
    for args in (("--db", weak, "check"), ("--db", "clinic.sqlite", "migrate", "--to", weak),
                 ("server", "status", weak), ("--db", weak, "worklist")):
        r = run(*args)
        assert r.returncode == 2, args
        assert "sslmode: db.clinic.example is not this computer" in r.stderr and "require was refused" in r.stderr
        no_traceback(r)
    r = run("--db", weak, "--allow-weak-tls", "check")  # allowed: it goes on to connect (no such host here)
    assert "is not this computer" not in r.stderr and r.returncode != 2
