"""`poems-monitor migrate --to URL` on a real throwaway PostgreSQL server (test_postgresql's
fixture): a demo clinic moves from its SQLite file into an empty server database with its ids,
audit chain and seal, both `check`s say sound, and the timelines exported from both are
identical; a target that is not empty is refused, and a connection killed half-way through the
copy leaves the target as empty as it was."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.integration.test_cli_safety import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_url(pg_server) -> str:  # noqa: ANN001
    """The test server's maintenance database as its superuser: the tests create their own databases."""
    return pg_server.superuser_url


def _new_database(server_url: str, name: str) -> str:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _relations(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'S', 'v') AND n.nspname = 'public' ORDER BY 1")).scalars())
    finally:
        engine.dispose()


def _sqlite_dump(path) -> list[str]:  # noqa: ANN001
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def demo_file(tmp_path):
    path = tmp_path / "clinic.sqlite"
    done = run("--db", str(path), "demo", "--patients", "4", "--seed", "5")
    assert done.returncode == 0, done.stderr
    return path


def test_migrate_round_trip_keeps_ids_chain_and_seal_and_both_checks_are_sound(server_url, demo_file, admin):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.integrity import check
    from poems_monitor.services.timeline_io import export_timeline
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    target = _new_database(server_url, "migrated")
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # sessions far from UTC: the stored instants and the seal must not move
        conn.exec_driver_sql("ALTER DATABASE migrated SET timezone TO 'Pacific/Auckland'")
    engine.dispose()
    before = _sqlite_dump(demo_file)
    done = run("--db", str(demo_file), "migrate", "--to", target)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Copied 4 patients") and "in one transaction" in lines[0]
    assert lines[1].startswith(f"check: {demo_file} is sound") and "every row of the record matches" in lines[1]
    assert lines[2].startswith("check: postgresql+psycopg://") and " is sound" in lines[2]
    assert "every row of the record matches the audit trail" in lines[2]
    assert _sqlite_dump(demo_file) == before  # the file is only read

    lite, server = open_database(demo_file), open_database(target)
    try:
        assert export_timeline(server) == export_timeline(lite)
        query = "SELECT id, hash FROM audit_entry ORDER BY id"
        with lite.engine.connect() as a, server.engine.connect() as b:
            on_file, on_server = a.execute(text(query)).all(), b.execute(text(query)).all()
            assert [tuple(r) for r in on_server[:-1]] == [tuple(r) for r in on_file]  # the same chain, same ids
            last = b.execute(text("SELECT action, \"user\", new FROM audit_entry ORDER BY id DESC LIMIT 1")).one()
            assert last.action == "migrate" and demo_file.name in last.new
            for table in ("patient", "visit", "observation", "treatment", "event"):
                ids = f"SELECT id FROM {table} ORDER BY id"
                assert a.execute(text(ids)).scalars().all() == b.execute(text(ids)).scalars().all()
            mrn = b.execute(text("SELECT mrn FROM patient ORDER BY id LIMIT 1")).scalar()
            max_visit = b.execute(text("SELECT max(id) FROM visit")).scalar()
        # the sequences continue after the copied ids, and the chain goes on sound
        saved = record_visit(server, admin, mrn, VisitInput(date(2026, 11, 30), (EnteredValue("platelets", 300, "10*9/L"),)),
                             today=date(2026, 12, 1))
        assert saved.visit_id == max_visit + 1
        assert check(server) == [] and check(lite) == []
        # the fingerprints moved too: a value changed on the server outside the app is named to the field
        with server.engine.begin() as conn:
            changed = conn.execute(text("UPDATE observation SET value_num = value_num + 1 WHERE id = "
                                        "(SELECT min(id) FROM observation) RETURNING id")).scalar()
        assert any(f"table observation, row {changed} " in p and "value_num changed outside poems-monitor" in p
                   for p in check(server)), check(server)
    finally:
        lite.dispose()
        server.dispose()


def test_a_target_that_is_not_empty_is_refused_and_left_as_it_was(server_url, demo_file):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.patients import PatientInput, create_patient

    target = _new_database(server_url, "not_empty")
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE lab_orders (id int PRIMARY KEY); INSERT INTO lab_orders VALUES (7)")
    done = run("--db", str(demo_file), "migrate", "--to", target)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "is not empty: it holds table public.lab_orders" in done.stderr and "nothing was copied" in done.stderr
    assert _relations(target) == ["lab_orders"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM lab_orders")).scalars().all() == [7]
    engine.dispose()

    # poems-monitor's schema with the server's guards (`server upgrade`) is fine while it holds no
    # record: the copied entries keep no login (db_user), though the guard fills it on every insert
    prepared = _new_database(server_url, "prepared")
    assert run("server", "upgrade", prepared).returncode == 0  # the schema, rights and guards, no rows
    done = run("--db", str(demo_file), "migrate", "--to", prepared)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Copied 4 patients") and done.stdout.count(" is sound") == 2
    engine = create_engine(prepared)
    with engine.connect() as conn:
        logins = conn.execute(text("SELECT action, db_user FROM audit_entry ORDER BY id")).all()
    engine.dispose()
    assert {u for a, u in logins[:-1]} == {None} and logins[-1] == ("migrate", "postgres")
    prepared = _new_database(server_url, "prepared")
    assert run("server", "upgrade", prepared).returncode == 0
    db = open_database(prepared)
    try:
        create_patient(db, Actor("root", Role.ADMIN), PatientInput("X-1", "Already Here", "male", date(1960, 1, 1)),
                       today=date(2026, 12, 1))
    finally:
        db.dispose()
    done = run("--db", str(demo_file), "migrate", "--to", prepared)
    assert done.returncode == 1 and "already holds records (rows in" in done.stderr and "patient (1)" in done.stderr

    # a database where `server init` made the first administrator: the order is named
    initialised = _new_database(server_url, "initialised")
    assert run("server", "init", initialised, "--admin", "set-up-admin", stdin="set-up-password-1\n").returncode == 0
    done = run("--db", str(demo_file), "migrate", "--to", initialised)
    assert done.returncode == 1 and "app_user (1)" in done.stderr, done.stderr
    assert "then run `server init URL --admin NAME` with an administrator account of the moved clinic" in done.stderr
    _new_database(server_url, "initialised")  # dropped and made again: no object of the login is left
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql('DROP ROLE "set-up-admin"')
    engine.dispose()


def test_a_connection_killed_half_way_leaves_the_target_empty(server_url, demo_file, admin):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.server_migration import MigrationRefused, migrate_to_server

    target = _new_database(server_url, "killed")
    killer = create_engine(server_url, isolation_level="AUTOCOMMIT")
    seen: list[tuple[str, int]] = []

    def kill_during_observations(table: str, copied: int) -> None:
        seen.append((table, copied))
        if table == "observation" and copied >= 200:
            with killer.connect() as conn:  # as if the server dropped the workstation's connection
                killed = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                           "WHERE application_name = 'poems-monitor migrate'")).scalars().all()
            assert killed == [True]

    source = open_database(demo_file)
    try:
        with pytest.raises(MigrationRefused) as refused:
            migrate_to_server(source, target, admin, batch_rows=100, after_batch=kill_during_observations)
    finally:
        source.dispose()
        killer.dispose()
    message = str(refused.value)
    assert "stopped at table observation" in message and "as empty as before" in message, message
    assert ("observation", 200) in seen and any(t == "patient" for t, _ in seen)  # it was half-way, in batches
    assert _relations(target) == []  # not even the schema is left

    # and the same target then takes the whole clinic
    source = open_database(demo_file)
    try:
        result = migrate_to_server(source, target, admin)
    finally:
        source.dispose()
    assert result.target_problems == [] and result.source_problems == [] and result.rows["patient"] == 4


@pytest.fixture
def moved_clinic(pg_server, demo_file, tmp_path):
    """The demo clinic with its accounts (administrator boss, physician dr-who, nurse ann) in its
    SQLite file, and the names of the server databases the test makes; its logins are dropped after."""
    from tests.integration.test_server_roles import PASSWORDS, _password_file

    pw = {who: _password_file(tmp_path, who) for who in PASSWORDS}
    lite = ("--db", str(demo_file))
    assert run(*lite, "users", "add", "boss", "--role", "admin", stdin=PASSWORDS["boss"] + "\n").returncode == 0
    for account, role in (("dr-who", "physician"), ("ann", "nurse")):
        done = run(*lite, "users", "add", account, "--role", role, "--user", "boss", "--password-file", pw["boss"],
                   stdin=PASSWORDS[account] + "\n")
        assert done.returncode == 0, done.stderr
    names = {"moved": f"moved_{tmp_path.name[-8:].lower()}", "restored": f"restored_{tmp_path.name[-8:].lower()}"}
    yield {"lite": lite, "pw": pw, "passwords": PASSWORDS, **names}
    for name in names.values():
        pg_server.drop(name)
    for login in PASSWORDS:
        pg_server.execute(f'DROP ROLE IF EXISTS "{login}"')


def _nurse_refusals(pg_server, database: str, password: str, vid: int) -> dict[str, str]:  # noqa: ANN001
    """Every physician and administrator write of test_server_roles, tried by the nurse's login in
    raw SQL on `database`: what the server refused (and nothing it refused changed anything)."""
    import psycopg

    from tests.integration.test_server_roles import NURSE_REFUSED

    refused = {}
    with psycopg.connect(pg_server.libpq(database, "ann", password), autocommit=True) as conn:
        pid = conn.execute("SELECT patient_id FROM visit WHERE id = %s", (vid,)).fetchone()[0]
        has_protocol = conn.execute("SELECT count(*) FROM clinic_setting WHERE key = 'protocol'").fetchone()[0]
        before = conn.execute("SELECT count(*), max(hash) FROM audit_entry").fetchone()
        for what, sql in NURSE_REFUSED.items():
            if what == "change the saved protocol" and not has_protocol:
                continue  # a trigger refuses row by row: no saved protocol, nothing to refuse
            try:
                conn.execute(sql.format(pid=pid, vid=vid))
            except psycopg.errors.InsufficientPrivilege as exc:
                refused[what] = str(exc)
        assert conn.execute("SELECT count(*), max(hash) FROM audit_entry").fetchone() == before
    return refused


def test_sqlite_clinic_to_server_then_logins_then_backup_and_restore_enforce_rights_as_server_init(
        pg_server, moved_clinic, tmp_path):
    """The documented order: migrate --to (the database made, schema, records, the server's
    rights and guards), server init --admin gives the migrated administrator account its login,
    that administrator gives the others theirs; then backup by that login (no superuser) and
    restore into an empty database; a nurse's login is refused every physician/admin write on both."""
    from tests.integration.test_server_roles import NURSE_REFUSED

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.users import resolve_actor
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    m, pw, passwords = moved_clinic, moved_clinic["pw"], moved_clinic["passwords"]
    owner = pg_server.url(m["moved"])  # the database does not exist yet: migrate makes it
    done = run(*m["lite"], "migrate", "--to", owner, "--user", "boss", "--password-file", pw["boss"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" is sound") == 2 and "the server's rights and guards checked" in done.stdout

    done = run("server", "init", owner, "--admin", "boss", "--password-file", pw["boss"])
    assert done.returncode == 0, done.stderr
    boss = ("--db", pg_server.url(m["moved"], "boss"), "--password-file", pw["boss"])
    for account in ("dr-who", "ann"):
        done = run("users", "passwd", account, *boss, stdin=passwords[account] + "\n")
        assert done.returncode == 0, done.stderr
    done = run("server", "init", owner, "--admin", "boss", "--password-file", pw["boss"])
    assert done.returncode == 1 and "has accounts already" in done.stderr  # once only

    db = open_database(pg_server.url(m["moved"], "ann"), password=passwords["ann"])
    try:
        ann = resolve_actor(db, None, None)
        assert (ann.name, ann.role.value) == ("ann", "nurse")
        with db.read() as session:
            from sqlalchemy import text as sql

            mrn = session.execute(sql("SELECT mrn FROM patient ORDER BY id LIMIT 1")).scalar_one()
        saved = record_visit(db, ann, mrn, VisitInput(date(2026, 11, 30), (EnteredValue("platelets", 410, "10*9/L"),)),
                             today=date(2026, 12, 1))
    finally:
        db.dispose()
    expected = set(NURSE_REFUSED) - {"change the saved protocol"}
    refused = _nurse_refusals(pg_server, m["moved"], passwords["ann"], saved.visit_id)
    assert expected <= set(refused), expected - set(refused)
    assert "may not sign off visits" in refused["sign off a visit"]
    engine = create_engine(pg_server.url(m["moved"]))
    with engine.connect() as conn:  # the copied entries: their users, no login; the nurse's: her login
        rows = conn.execute(text('SELECT "user", db_user, action FROM audit_entry ORDER BY id')).all()
    engine.dispose()
    moved_at = next(i for i, r in enumerate(rows) if r.action == "migrate")
    assert moved_at > 0 and {r.db_user for r in rows[:moved_at]} == {None}
    assert {r.user for r in rows[:moved_at]} >= {"boss"} and rows[-1][:2] == ("ann", "ann")
    done = run("check", "--db", pg_server.url(m["moved"], "ann"), "--password-file", pw["ann"])
    assert done.returncode == 0 and f"{moved_at} audit entries from before the move to the server have no login" \
        in done.stdout, done.stdout + done.stderr

    # a backup by the administrator's own login (CREATEDB for its scratch check, no superuser) ...
    engine = create_engine(pg_server.url(m["moved"]))
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT rolname, rolcreatedb FROM pg_roles WHERE rolname IN ('boss', 'dr-who', "
                                      "'ann')")).all()) == {"boss": True, "dr-who": False, "ann": False}
    engine.dispose()
    dump = tmp_path / "moved.pgdump"
    done = run("backup", str(dump), *boss)
    assert done.returncode == 0, done.stderr
    # ... restored by the same login into an empty database it created
    import psycopg

    with psycopg.connect(pg_server.libpq("postgres", "boss", passwords["boss"]), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{m["restored"]}"')
    restored = ("--db", pg_server.url(m["restored"], "boss"), "--password-file", pw["boss"])
    done = run("restore", str(dump), *restored)
    assert done.returncode == 0, done.stderr
    done = run("check", *restored)
    assert done.returncode == 0 and "the server's rights and guards checked" in done.stdout, done.stdout + done.stderr
    refused = _nurse_refusals(pg_server, m["restored"], passwords["ann"], saved.visit_id)
    assert expected <= set(refused), expected - set(refused)
    db = open_database(pg_server.url(m["restored"], "ann"), password=passwords["ann"])
    try:  # and what a nurse may do, she still can there
        record_visit(db, resolve_actor(db, None, None), mrn,
                     VisitInput(date(2026, 12, 1), (EnteredValue("platelets", 400, "10*9/L"),)), today=date(2026, 12, 1))
    finally:
        db.dispose()

    # an entry written on the server without its login (the owner, around the guard) is found
    engine = create_engine(pg_server.url(m["moved"]))
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET db_user = NULL WHERE id = (SELECT max(id) FROM audit_entry)"))
    engine.dispose()
    done = run("check", "--db", pg_server.url(m["moved"], "ann"), "--password-file", pw["ann"])
    assert done.returncode == 1 and "has no server login, though it was written on the server" in done.stderr


def test_migrated_accounts_leave_their_password_hashes_behind_and_stay_sealed(pg_server, moved_clinic):
    """Every clinic login may read app_user on a server: the app's argon2 hashes of the SQLite
    file's accounts are not copied there (the server checks passwords), the accounts are sealed
    again without them in the migrate entry, and `check` finds both ends sound."""
    m, pw = moved_clinic, moved_clinic["pw"]
    target = pg_server.url(m["moved"])
    done = run(*m["lite"], "migrate", "--to", target, "--user", "boss", "--password-file", pw["boss"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" is sound") == 2 and "every row of the record matches" in done.stdout.splitlines()[2]
    source = sqlite3.connect(m["lite"][1])
    try:
        assert dict(source.execute("SELECT name, password_hash IS NOT NULL FROM app_user")) == {
            "boss": 1, "dr-who": 1, "ann": 1}  # the file keeps its own
    finally:
        source.close()
    engine = create_engine(target)
    try:
        with engine.connect() as conn:
            assert dict(conn.execute(text("SELECT name, password_hash FROM app_user")).all()) == {
                "boss": None, "dr-who": None, "ann": None}
            entry = conn.execute(text("SELECT new, state FROM audit_entry WHERE action = 'migrate'")).one()
            assert '"password_hashes_left_behind":3' in entry.new and '"accounts"' in entry.state
    finally:
        engine.dispose()
    assert run("check", "--db", target).returncode == 0


def test_migrate_takes_the_target_logins_password_from_a_file(pg_server, demo_file, tmp_path, monkeypatch):
    """`--target-password-file`: the password of the login in --to, first line of the file, as
    `--password-file` is for the acting account (never on the command line)."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    login, password = f"mover_{tmp_path.name[-6:].lower()}", "mover-Password-9"
    pg_server.execute(f"CREATE ROLE \"{login}\" LOGIN SUPERUSER PASSWORD '{password}'")
    name = f"passfile_{tmp_path.name[-6:].lower()}"
    try:
        target = pg_server.url(name, login)
        done = run("--db", str(demo_file), "migrate", "--to", target)
        assert done.returncode != 0 and "nothing was copied" in done.stderr
        secret = tmp_path / "target.pw"
        secret.write_text(password + "\n")
        done = run("--db", str(demo_file), "migrate", "--to", target, "--target-password-file", str(secret))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("Copied 4 patients") and password not in done.stdout + done.stderr
        missing = run("--db", str(demo_file), "migrate", "--to", target, "--target-password-file",
                      str(tmp_path / "nope.pw"))
        assert missing.returncode == 1 and "nope.pw cannot be read" in missing.stderr
    finally:
        pg_server.drop(name, (login,))
