"""Upgrades are the clinic server's job: only `server init/upgrade` change a server's schema,
under an advisory lock (three at once on a fresh database end cleanly, at head once); a client
finding an older schema says so and changes nothing; a newer one is refused."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from tests.integration.test_cli_safety import no_traceback, run

HEAD = "0009"


def _version(pg_server, url) -> list[tuple[str]]:
    from sqlalchemy.engine import make_url

    with psycopg.connect(pg_server.libpq(make_url(url).database)) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchall()


def test_three_simultaneous_upgrades_of_a_fresh_database_end_cleanly_at_head_once(pg_server, pg_empty_url):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    runs = [subprocess.Popen([sys.executable, "-m", "poems_monitor", "server", "upgrade", pg_empty_url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    results = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in runs]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert all("Traceback" not in out + err for _, out, err in results)
    outputs = sorted(out for _, out, _ in results)
    assert sum(f"upgraded from schema none to {HEAD}" in out for out in outputs) == 1, outputs
    assert sum(f"is at schema {HEAD} already" in out for out in outputs) == 2, outputs
    assert _version(pg_server, pg_empty_url) == [(HEAD,)]


def test_a_client_finding_an_older_schema_asks_for_server_upgrade_and_changes_nothing(pg_server, pg_url):
    from poems_monitor.persistence.db import downgrade, open_database

    db = open_database(pg_url, migrate=False)
    downgrade(db, "0007")
    db.dispose()

    r = run("worklist", "--db", pg_url)
    no_traceback(r)
    assert r.returncode == 1
    assert (f"the clinic server's database is at schema 0007, this version needs {HEAD}: ask the administrator to run "
            "`poems-monitor server upgrade`") in r.stderr
    assert _version(pg_server, pg_url) == [("0007",)]  # the client did not migrate

    r = run("server", "upgrade", pg_url)
    assert r.returncode == 0 and f"upgraded from schema 0007 to {HEAD}" in r.stdout, r.stderr
    r = run("worklist", "--db", pg_url, "--as-of", "2026-11-21")
    assert r.returncode == 0, r.stderr


def test_a_fresh_server_database_is_not_set_up_by_a_client(pg_server, pg_empty_url):
    r = run("import", "--db", pg_empty_url, "tests/data/does-not-matter.json")
    no_traceback(r)
    assert r.returncode == 1 and "at schema none (not set up: `poems-monitor server init`)" in r.stderr
    from sqlalchemy.engine import make_url

    with psycopg.connect(pg_server.libpq(make_url(pg_empty_url).database)) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_a_newer_schema_is_refused_by_clients_and_by_server_upgrade(pg_server, pg_url):
    from sqlalchemy.engine import make_url

    with psycopg.connect(pg_server.libpq(make_url(pg_url).database), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    r = run("worklist", "--db", pg_url)
    assert r.returncode == 1 and "written by a newer version of poems-monitor (schema 0099)" in r.stderr
    r = run("server", "upgrade", pg_url)
    assert r.returncode == 1 and "written by a newer version of poems-monitor (schema 0099)" in r.stderr
    no_traceback(r)
    assert _version(pg_server, pg_url) == [("0099",)]
