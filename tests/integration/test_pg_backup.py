"""Backup and restore of a clinic database on a PostgreSQL server, with the real pg_dump and
pg_restore on a throwaway server (the shared server of conftest.py; skipped without server binaries):
`backup` writes a checked custom-format dump into the database's backup set, verified in a scratch
database that is dropped again; the password reaches the tools only through their environment;
`restore` goes into an empty database only, and dumps crafted to carry functions, triggers, views,
extensions, other schemas, extra columns or indexes, a newer schema or a record changed after its
seal are refused by name, leaving the database empty."""

from __future__ import annotations

import json
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.pg_server import server_binaries

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_url(pg_server) -> str:  # noqa: ANN001
    """The test server's maintenance database as its superuser: the tests create their own databases."""
    return pg_server.superuser_url
TODAY = date(2026, 11, 21)


def _admin_sql(server_url: str, sql: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def _new_database(server_url: str, name: str, template: str | None = None) -> str:
    _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_sql(server_url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _sql(url: str, script: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(script)
    finally:
        engine.dispose()


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'v', 'S', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1")).scalars())
    finally:
        engine.dispose()


def _databases(server_url: str) -> list[str]:
    engine = create_engine(server_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT datname FROM pg_database ORDER BY 1")).scalars())
    finally:
        engine.dispose()


def _server_init(url: str) -> None:
    """The schema, group roles and guards, as `server init`/`server upgrade` make them."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.clinic_server import upgrade_server

    db = open_database(url, migrate=False)
    try:
        upgrade_server(db)
    finally:
        db.dispose()


def _clinic(url: str, nurse) -> None:  # noqa: ANN001
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    db = open_database(url)
    try:
        create_patient(db, nurse, PatientInput("PGB-1", "Server Person", "female", date(1965, 2, 2)), today=TODAY)
        for i in range(3):
            record_visit(db, nurse, "PGB-1", VisitInput(date(2020, 1, 1) + timedelta(days=14 * i), values=(
                EnteredValue("vegf_plasma", 500 + i, "pg/mL"),)), today=TODAY)
    finally:
        db.dispose()


def _pg_dump(url: str, dest: Path) -> Path:
    u = make_url(url)
    subprocess.run([str(server_binaries() / "pg_dump"), "--format=custom", "-h", u.host, "-p", str(u.port), "-U", u.username,
                    "-f", str(dest), u.database], check=True, capture_output=True)
    return dest


def _cli(*args: str) -> tuple[int, str, str]:
    from tests.integration.test_cli_safety import run

    done = run(*args)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def clinic_template(server_url):
    """A small clinic database on the server, copied (CREATE DATABASE ... TEMPLATE) by each test."""
    from poems_monitor.services.access import Actor, Role

    url = _new_database(server_url, "clinic_template")
    _server_init(url)
    _clinic(url, Actor("nurse-ann", Role.NURSE))
    return "clinic_template"


def test_backup_is_a_checked_pg_dump_in_the_backup_set_and_restores_into_an_empty_database(
        server_url, clinic_template, admin, tmp_path):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import (
        automatic_backups, backup_set_folder, database_key, last_good_backup, restore_server_database,
    )
    from poems_monitor.services.integrity import check_report
    from poems_monitor.services.timeline_io import export_timeline

    live_url = _new_database(server_url, "clinic_live", clinic_template)
    code, out, err = _cli("--db", live_url, "backup")
    assert code == 0, err
    db = open_database(live_url)
    try:
        folder = backup_set_folder(database_key(db))
        made = automatic_backups(folder, "clinic_live")
        assert [p.name for _, p in made] == [f"clinic_live-{datetime.now().astimezone().date().isoformat()}.pgdump"]
        dump = made[0][1]
        assert str(dump) in out and "checked" in out
        assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
        assert last_good_backup(db)[1] == dump
        # the scratch database the dump was checked in is gone; no temporary file is left
        assert not [d for d in _databases(server_url) if d.startswith("poems_scratch_")]
        assert [p.name for p in folder.iterdir()] == [dump.name]
        # the catalogue recorded the dump's chain head, and check on the live database finds it
        state = json.loads((folder.parent / ".last-good-backup.json").read_text())
        with db.engine.connect() as conn:
            head = conn.execute(text("SELECT id, hash FROM audit_entry ORDER BY id DESC LIMIT 1")).one()
        assert state["backups"][str(dump.resolve())]["entry"] == head.id
        report = check_report(db)
        assert report.problems == [] and any("last backup is in the chain" in n for n in report.notes), report
        before = export_timeline(db)
    finally:
        db.dispose()

    target_url = _new_database(server_url, "clinic_restored")
    code, out, err = _cli("--db", target_url, "restore", str(dump))
    assert code == 0, err
    assert "Restored" in out
    restored = open_database(target_url)
    try:
        assert export_timeline(restored) == before
        assert check_report(restored).problems == []
        with restored.engine.connect() as conn:
            last = conn.execute(text("SELECT action, new FROM audit_entry ORDER BY id DESC LIMIT 1")).one()
        assert last.action == "restore" and dump.name in last.new
        # a database with tables is never restored over
        with pytest.raises(Exception, match="only into an empty database.*holds table public"):
            restore_server_database(restored, admin, dump)
        assert export_timeline(restored) == before
    finally:
        restored.dispose()


def test_automatic_backups_of_a_server_database_rotate_like_the_files(server_url, clinic_template):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import BackupPolicy, automatic_backup, automatic_backups, backup_set_folder, database_key

    url = _new_database(server_url, "clinic_rotate", clinic_template)
    db = open_database(url)
    try:
        from poems_monitor.services.backup import load_policy

        policy = BackupPolicy(load_policy().folder, keep_daily=1, keep_monthly=0)
        first = automatic_backup(db, policy, now=datetime(2026, 11, 20, 12, tzinfo=timezone.utc))
        assert automatic_backup(db, policy, now=datetime(2026, 11, 20, 13, tzinfo=timezone.utc)) is None  # daily
        second = automatic_backup(db, policy, now=datetime(2026, 11, 21, 12, tzinfo=timezone.utc))
        assert first is not None and second is not None
        kept = automatic_backups(backup_set_folder(database_key(db), policy), "clinic_rotate")
        assert [p for _, p in kept] == [second.path] and not first.path.exists()
    finally:
        db.dispose()


def test_the_password_reaches_pg_dump_and_pg_restore_only_in_their_environment(
        server_url, clinic_template, tmp_path, monkeypatch):
    import poems_monitor.persistence.pg_tools as pg_tools
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import backup_set_folder, database_key

    secret = "s3cret-Horse-Battery"
    _admin_sql(server_url, "DROP ROLE IF EXISTS keeper")
    _admin_sql(server_url, f"CREATE ROLE keeper LOGIN CREATEDB SUPERUSER PASSWORD '{secret}'")
    url = make_url(_new_database(server_url, "clinic_secret", clinic_template)).set(username="keeper", password=secret)
    seen: list[tuple[list[str], dict]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def spy_run(args, *a, **kw):  # noqa: ANN001, ANN202 (records what the real call is given)
        seen.append((list(map(str, args)), dict(kw.get("env") or {})))
        return real_run(args, *a, **kw)

    class SpyPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, args, *a, **kw):  # noqa: ANN001
            seen.append((list(map(str, args)), dict(kw.get("env") or {})))
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(pg_tools.subprocess, "run", spy_run)
    monkeypatch.setattr(pg_tools.subprocess, "Popen", SpyPopen)
    from poems_monitor.services.backup import automatic_backup

    db = open_database(url.render_as_string(hide_password=False))
    try:
        result = automatic_backup(db, force=True)
        folder = backup_set_folder(database_key(db))
    finally:
        db.dispose()
    dumps = [(args, env) for args, env in seen if Path(args[0]).name == "pg_dump" and "--version" not in args]
    assert dumps and all(env.get("PGPASSWORD") == secret and env.get("PGUSER") == "keeper" for _, env in dumps)
    assert not [args for args, _ in seen if any(secret in a for a in args)]
    on_disk = [p for p in folder.parent.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert on_disk == [] and result.path.exists()


def test_without_a_pg_dump_of_the_servers_version_the_backup_says_so_and_writes_nothing(
        server_url, clinic_template, admin, tmp_path, monkeypatch):
    import poems_monitor.persistence.pg_tools as pg_tools
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import BackupRefused, backup_to

    url = _new_database(server_url, "clinic_notools", clinic_template)
    monkeypatch.setattr(pg_tools, "PG_INSTALL_ROOT", tmp_path / "nowhere")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.delenv("POEMS_MONITOR_PG_BIN", raising=False)
    db = open_database(url)
    try:
        with pytest.raises(BackupRefused) as refused:
            backup_to(db, admin, tmp_path / "clinic.pgdump")
    finally:
        db.dispose()
    message = str(refused.value)
    assert "no pg_dump of PostgreSQL 15" in message and "postgresql-client-15" in message and "nothing was written" in message
    assert list(tmp_path.glob("*.pgdump")) == [] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_live_server_database_with_a_foreign_trigger_is_not_backed_up(server_url, clinic_template, admin, tmp_path):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import BackupRefused, backup_to

    url = _new_database(server_url, "clinic_trigger", clinic_template)
    _sql(url, "CREATE FUNCTION quiet() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.value_num := 10; "
              "RETURN NEW; END $$; CREATE TRIGGER quiet_vegf BEFORE INSERT ON observation FOR EACH ROW EXECUTE FUNCTION quiet();")
    db = open_database(url)
    try:
        with pytest.raises(BackupRefused, match=r"trigger \(quiet_vegf on observation\)"):
            backup_to(db, admin, tmp_path / "copy.pgdump")
    finally:
        db.dispose()
    assert not (tmp_path / "copy.pgdump").exists()


HOSTILE = {
    "function and trigger rewriting VEGF": (
        "CREATE FUNCTION quiet() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.value_num := 10; RETURN NEW; END $$;"
        "CREATE TRIGGER quiet_vegf BEFORE INSERT ON observation FOR EACH ROW EXECUTE FUNCTION quiet();",
        ["a function (quiet())", "a trigger (quiet_vegf on observation)"]),
    "event trigger": (
        "CREATE FUNCTION watch() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;"
        "CREATE EVENT TRIGGER watch_ddl ON ddl_command_end EXECUTE FUNCTION watch();",
        ["an event trigger (watch_ddl)"]),
    "rule": ("CREATE RULE keep_quiet AS ON UPDATE TO patient DO INSTEAD NOTHING;", ["a rule (keep_quiet on patient)"]),
    "view": ("CREATE VIEW v_all AS SELECT * FROM patient;", ["a view (v_all)"]),
    "extension": ("CREATE EXTENSION IF NOT EXISTS pg_trgm;", ["an extension (pg_trgm)"]),
    "other schema": ("CREATE SCHEMA side; CREATE TABLE side.notes (id int);", ["a schema (side)", "a table (notes) in schema side"]),
    "extra table": ("CREATE TABLE notes_to_self (id int PRIMARY KEY, body text);", ["a table (notes_to_self)"]),
    "extra index": ("CREATE INDEX ix_extra ON observation (value_num);", ["an index (ix_extra)"]),
    "extra column": ("ALTER TABLE patient ADD COLUMN nickname text;",
                     ["a statement poems-monitor's schema does not have: CREATE TABLE public.patient"]),
    "index of the project's name with another definition": (
        "DROP INDEX ix_patient_mrn; CREATE INDEX ix_patient_mrn ON patient (name);",
        ["a statement poems-monitor's schema does not have: CREATE INDEX ix_patient_mrn ON public.patient USING btree (name)"]),
    "the server's own guard rewritten to let a nurse sign off": (
        "CREATE OR REPLACE FUNCTION poems_guard_sign_off() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;",
        ["a statement poems-monitor's schema does not have: CREATE FUNCTION public.poems_guard_sign_off()"]),
    "policy": ("CREATE POLICY only_some ON patient USING (id < 0);", ["a policy (only_some on patient)"]),
    "newer schema": ("UPDATE alembic_version SET version_num = '9999';", ["schema revision 9999 is not one this poems-monitor knows"]),
    "record changed after its seal": ("UPDATE observation SET value_num = 10 WHERE code = 'vegf_plasma';",
                                      ["value_num changed outside poems-monitor"]),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_dump_is_refused_by_name_and_the_database_stays_empty(kind, server_url, clinic_template, tmp_path):
    slug = "h_" + "".join(c if c.isalnum() else "_" for c in kind)[:40]
    source = _new_database(server_url, slug, clinic_template)
    script, expected = HOSTILE[kind]
    _sql(source, script)
    hostile = _pg_dump(source, tmp_path / "hostile.pgdump")
    target = _new_database(server_url, slug + "_t")
    code, out, err = _cli("--db", target, "restore", str(hostile))
    assert code == 1, out
    for part in expected:
        assert part in err, err
    assert "Nothing was changed" in err and "Traceback" not in err
    assert _tables(target) == []  # as empty as before
    assert not [d for d in _databases(server_url) if d.startswith("poems_scratch_")]


def test_a_pg_dump_given_to_an_sqlite_database_is_named_for_what_it_is(server_url, clinic_template, tmp_path):
    dump = _pg_dump(_new_database(server_url, "clinic_wrongway", clinic_template), tmp_path / "server.pgdump")
    code, out, err = _cli("--db", str(tmp_path / "clinic.sqlite"), "restore", str(dump))
    assert code == 1 and "is a PostgreSQL dump (pg_dump)" in err and "empty server database" in err, err
    assert not (tmp_path / "clinic.sqlite").exists()
    # and an SQLite backup given to a server database points to migrate
    lite = tmp_path / "lite.sqlite"
    assert _cli("--db", str(lite), "demo", "--patients", "1", "--seed", "2")[0] == 0
    target = _new_database(server_url, "clinic_wrongway_t")
    code, out, err = _cli("--db", target, "restore", str(lite))
    assert code == 1 and "is an SQLite backup" in err and "migrate --to URL" in err, err
    assert _tables(target) == []


KILLED = r'''
import os, signal, sys
from pathlib import Path
import poems_monitor.persistence.pg_tools as pg_tools
from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services import backup

original = pg_tools.restore


def restore_then_die(archive, url, major, database=None):
    original(archive, url, major, database)
    if "poems_scratch_" in str(url):
        os.kill(os.getpid(), signal.SIGKILL)  # a power cut while the dump is checked in its scratch database


pg_tools.restore = restore_then_die
backup.backup_to(open_database(sys.argv[1]), Actor("test-admin", Role.ADMIN), Path(sys.argv[2]))
'''


def test_a_killed_server_backup_leaves_nothing_once_the_next_one_ran(server_url, clinic_template, admin, tmp_path):
    import os
    import sys

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.backup import backup_to

    url = _new_database(server_url, "clinic_killed", clinic_template)
    out = tmp_path / "out"
    out.mkdir()
    died = subprocess.run([sys.executable, "-c", KILLED, url, str(out / "b.pgdump")], env=dict(os.environ), timeout=300)
    assert died.returncode == -9
    assert [p.name for p in out.iterdir() if p.name.startswith(".")], "the kill left no temporary dump: it did not kill where it meant to"
    assert [d for d in _databases(server_url) if d.startswith("poems_scratch_")], "no scratch database was left to sweep"
    assert not (out / "b.pgdump").exists()
    db = open_database(url)
    try:
        backup_to(db, admin, out / "b.pgdump")
    finally:
        db.dispose()
    assert [p.name for p in out.iterdir()] == ["b.pgdump"]
    assert [d for d in _databases(server_url) if d.startswith("poems_scratch_")] == []
