"""A clinic server set up by `server init`: group roles with only their rights, accounts as
logins, and the server itself refusing what a role may not do, even to a hand-written SQL client
(psycopg connecting as the nurse's login). Runs on the session's throwaway TLS server."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from tests.conftest import TODAY
from tests.integration.test_cli_safety import no_traceback, run

PASSWORDS = {"boss": "boss-password-1", "dr-who": "physician-pw-2", "ann": "nurse-password-3"}


def _password_file(tmp_path, name):
    path = tmp_path / f"{name}.pw"
    path.write_text(PASSWORDS[name] + "\n")
    return str(path)


@pytest.fixture
def clinic(pg_server, tmp_path):
    """A clinic server database set up from the command line: administrator boss, physician
    dr-who and nurse ann (their own logins), one patient with a visit and a flag-free record."""
    name = f"clinic_{tmp_path.name[-12:].replace('-', '_').lower()}"
    owner_url = pg_server.url(name)
    r = run("server", "init", owner_url, "--admin", "boss", "--password-file", _password_file(tmp_path, "boss"))
    assert r.returncode == 0, r.stderr
    boss_url = pg_server.url(name, "boss")
    for account, role in (("dr-who", "physician"), ("ann", "nurse")):
        r = run("users", "add", account, "--role", role, "--db", boss_url, "--password-file",
                _password_file(tmp_path, "boss"), stdin=PASSWORDS[account] + "\n")
        assert r.returncode == 0, r.stderr
    yield {"name": name, "owner": owner_url, "url": lambda who: pg_server.url(name, who),
           "libpq": lambda who: pg_server.libpq(name, who, PASSWORDS[who]),
           "pw": lambda who: _password_file(tmp_path, who)}
    pg_server.drop(name, tuple(PASSWORDS))


def test_server_init_makes_the_schema_groups_and_first_admin_login(pg_server, clinic):
    with psycopg.connect(pg_server.libpq(clinic["name"])) as conn:
        groups = dict(conn.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'poems\\_%'").fetchall())
        assert groups == {"poems_nurse": False, "poems_physician": False, "poems_admin": False}
        members = dict(conn.execute(
            "SELECT r.rolname, g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname IN ('boss', 'dr-who', 'ann')").fetchall())
        assert members == {"boss": "poems_admin", "dr-who": "poems_physician", "ann": "poems_nurse"}
        # the app keeps no password of a server account: the server does (as a SCRAM verifier)
        assert conn.execute("SELECT count(*) FROM app_user WHERE password_hash IS NOT NULL").fetchone() == (0,)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0009",)
    with psycopg.connect(clinic["libpq"]("ann")) as nurse:
        assert nurse.execute("SELECT session_user").fetchone() == ("ann",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_server.libpq(clinic["name"], "ann", "wrong-password"))


def test_status_names_the_schema_and_the_roles(clinic):
    r = run("server", "status", clinic["owner"])
    assert r.returncode == 0, r.stderr
    assert "schema: 0009 (this version needs 0009)" in r.stdout
    assert "TLS on" in r.stdout
    assert "role poems_nurse: 1 active login" in r.stdout and "role poems_admin: 1 active login\n" in r.stdout


# Every write a nurse's role does not have, as a hand-written client would try it.
NURSE_REFUSED = {
    "acknowledge a flag": "INSERT INTO flag_review (patient_id, flag_id, kind, code, flag_date, comment, reviewed_at, "
                          "reviewed_by) VALUES ({pid}, 'f', 'safety', 'x', '2026-01-05', '', now(), 'ann')",
    "sign off a visit": "UPDATE visit SET reviewed_at = now(), reviewed_by = 'ann' WHERE id = {vid}",
    "waive a follow-up": "INSERT INTO followup_waiver (patient_id, item, reason, waived_at, waived_by) "
                         "VALUES ({pid}, 'echo', 'x', now(), 'ann')",
    "revoke a waiver": "UPDATE followup_waiver SET revoked_at = now(), revoked_by = 'ann'",
    "rewrite a waiver's reason": "UPDATE followup_waiver SET reason = 'x'",
    "withdraw an acknowledgement": "DELETE FROM flag_review",
    "rewrite an acknowledgement": "UPDATE flag_review SET comment = 'x'",
    "change the protocol": "INSERT INTO clinic_setting (key, value, updated_at, updated_by) "
                           "VALUES ('protocol', 'x', now(), 'ann')",
    "change the saved protocol": "UPDATE clinic_setting SET value = 'x' WHERE key = 'protocol'",
    "turn the head into a setting": "UPDATE clinic_setting SET key = 'protocol.x' WHERE key = 'audit.head'",
    "delete the chain head": "DELETE FROM clinic_setting WHERE key = 'audit.head'",
    "add an account": "INSERT INTO app_user (name, role, active, created_at, failed_sign_ins) "
                      "VALUES ('eve', 'admin', true, now(), 0)",
    "promote herself": "UPDATE app_user SET role = 'admin' WHERE name = 'ann'",
    "create a login": "SELECT poems_create_login('eve', 'poems_admin', 'x')",
    "join the admin group": "GRANT poems_admin TO ann",
    "delete a value": "DELETE FROM observation",
    "delete a patient": "DELETE FROM patient",
    "rewrite an old audit entry": "UPDATE audit_entry SET hash = hash WHERE id = (SELECT min(id) FROM audit_entry)",
    "delete the audit trail": "DELETE FROM audit_entry",
    "write an audit entry as someone else": "INSERT INTO audit_entry (at, \"user\", action, entity, prev_hash, hash) "
                                            "VALUES (now(), 'dr-who', 'review', 'visit', 'x', 'y')",
    "forge the writer's login": "UPDATE audit_entry SET db_user = 'dr-who'",
    "change the schema": "ALTER TABLE patient ADD COLUMN x int",
    "create a table": "CREATE TABLE patient_copy (x int)",
    "create a temporary table": "CREATE TEMP TABLE audit_entry (id int)",
    "add a trigger": "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
}


def test_a_nurses_login_is_refused_every_physician_and_admin_write_even_in_raw_sql(clinic, pg_server):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.users import resolve_actor
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    # the nurse saves a visit through the app, signed in as her own login
    db = open_database(clinic["url"]("ann"), password=PASSWORDS["ann"])
    try:
        ann = resolve_actor(db, None, None)
        assert (ann.name, ann.role.value) == ("ann", "nurse")
        create_patient(db, ann, PatientInput("SRV-1", "Server Patient", "female", date(1970, 1, 1)), today=TODAY)
        saved = record_visit(db, ann, "SRV-1", VisitInput(date(2026, 1, 5), (EnteredValue("platelets", 420, "10*9/L"),)),
                             today=TODAY)
    finally:
        db.dispose()

    with psycopg.connect(pg_server.libpq(clinic["name"]), autocommit=True) as owner:  # a protocol to change
        owner.execute("INSERT INTO clinic_setting VALUES ('protocol', 'saved', now(), 'dr-who')")
    with psycopg.connect(clinic["libpq"]("ann"), autocommit=True) as conn:
        pid = conn.execute("SELECT id FROM patient WHERE mrn = 'SRV-1'").fetchone()[0]
        before = conn.execute("SELECT count(*), max(hash) FROM audit_entry").fetchone()
        refused = {}
        for what, sql in NURSE_REFUSED.items():
            try:
                conn.execute(sql.format(pid=pid, vid=saved.visit_id))
            except psycopg.errors.InsufficientPrivilege as exc:
                refused[what] = str(exc)
        assert sorted(refused) == sorted(NURSE_REFUSED), set(NURSE_REFUSED) - set(refused)
        assert "may not sign off visits" in refused["sign off a visit"]
        assert "may not change the clinic protocol" in refused["change the protocol"]
        assert "may not write audit entries as dr-who" in refused["write an audit entry as someone else"]
        # nothing changed; what a nurse may do, she still can from the same client
        assert conn.execute("SELECT count(*), max(hash) FROM audit_entry").fetchone() == before
        assert conn.execute("SELECT reviewed_at FROM visit WHERE id = %s", (saved.visit_id,)).fetchone() == (None,)
        conn.execute("UPDATE visit SET note = 'raw note' WHERE id = %s", (saved.visit_id,))


def test_the_physician_may_sign_off_and_the_audit_carries_the_servers_login(clinic):
    from sqlalchemy import text

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.audit import verify_chain
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.review import sign_off_visit
    from poems_monitor.services.users import resolve_actor
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    nurse_db = open_database(clinic["url"]("ann"), password=PASSWORDS["ann"])
    doctor_db = open_database(clinic["url"]("dr-who"), password=PASSWORDS["dr-who"])
    try:
        ann = resolve_actor(nurse_db, "ann", None)
        create_patient(nurse_db, ann, PatientInput("SRV-2", "Signed Off", "male", date(1960, 1, 1)), today=TODAY)
        saved = record_visit(nurse_db, ann, "SRV-2", VisitInput(date(2026, 2, 1), (EnteredValue("platelets", 300, "10*9/L"),)),
                             today=TODAY)
        doctor = resolve_actor(doctor_db, None, None)
        sign_off_visit(doctor_db, doctor, saved.visit_id, saved.version, "seen")
        with doctor_db.read() as session:
            rows = session.execute(text('SELECT "user", db_user, action FROM audit_entry ORDER BY id')).all()
            assert verify_chain(session) == []
        # every entry names the login that wrote it, as the server saw it: the set-up ones the owner's
        assert [(r.user, r.db_user) for r in rows if r.action in ("create", "review") and r.user != "boss"][-3:] == [
            ("ann", "ann"), ("ann", "ann"), ("dr-who", "dr-who")]
        # boss's own account was made by `server init`, on the owner's login; the others by boss's
        assert [(r.user, r.db_user) for r in rows if r.action == "create"][:3] == [
            ("boss", "postgres"), ("boss", "boss"), ("boss", "boss")]
    finally:
        nurse_db.dispose()
        doctor_db.dispose()


def test_a_login_cannot_act_as_another_account(clinic):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import PermissionDenied
    from poems_monitor.services.users import resolve_actor

    db = open_database(clinic["url"]("ann"), password=PASSWORDS["ann"])
    try:
        with pytest.raises(PermissionDenied, match="signed in as ann: it cannot act as dr-who"):
            resolve_actor(db, "dr-who", None)
    finally:
        db.dispose()
    r = run("users", "deactivate", "ann", "--reason", "x", "--db", clinic["url"]("ann"), "--user", "boss",
            "--password-file", clinic["pw"]("ann"))
    assert r.returncode == 1 and "signed in as ann: it cannot act as boss" in r.stderr
    no_traceback(r)


def test_users_commands_on_the_server_change_the_logins(clinic):
    boss = ("--db", clinic["url"]("boss"), "--password-file", clinic["pw"]("boss"))
    r = run("users", "role", "ann", "physician", "--reason", "promoted", *boss)
    assert r.returncode == 0, r.stderr
    with psycopg.connect(clinic["libpq"]("ann"), autocommit=True) as conn:
        assert conn.execute("SELECT pg_has_role('ann', 'poems_physician', 'MEMBER'), "
                            "pg_has_role('ann', 'poems_nurse', 'MEMBER')").fetchone() == (True, False)
        conn.execute("UPDATE visit SET reviewed_by = reviewed_by")  # a physician's right now (no rows, no refusal)
        r = run("users", "deactivate", "ann", "--reason", "left the clinic", *boss)
        assert r.returncode == 0, r.stderr
        # the session she opened before can do nothing more: out of her group, it no longer even
        # sees the clinic's schema
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable)):
            conn.execute("UPDATE patient SET name = name")
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(clinic["libpq"]("ann"))
    r = run("users", "list", "--db", clinic["url"]("ann"), "--password-file", clinic["pw"]("ann"))
    assert r.returncode == 1 and "refused the sign-in of ann" in r.stderr
    no_traceback(r)
    r = run("users", "reactivate", "ann", "--reason", "back", *boss)
    assert r.returncode == 0, r.stderr
    with psycopg.connect(clinic["libpq"]("ann")) as conn:
        assert conn.execute("SELECT pg_has_role('ann', 'poems_physician', 'MEMBER')").fetchone() == (True,)


def test_the_server_rights_mirror_the_apps_permission_table():
    """Each group's table rights are computed from ROLE_PERMISSIONS: a role gets a permission's
    rights exactly when the app gives it the permission."""
    from poems_monitor.services.access import ROLE_PERMISSIONS, Permission, Role
    from poems_monitor.services.clinic_server import BASELINE, SERVER_RIGHTS, group_rights

    for role in Role:
        rights = group_rights(role)
        for permission in Permission:
            for right in SERVER_RIGHTS[permission]:
                assert (right in rights) == (permission in ROLE_PERMISSIONS[role] or right in BASELINE), (role, right)
    assert ("INSERT", "flag_review") not in group_rights(Role.NURSE)
    assert ("INSERT, UPDATE", "app_user") in group_rights(Role.ADMIN)
    assert ("INSERT, UPDATE", "app_user") not in group_rights(Role.PHYSICIAN)


def test_the_physicians_login_waives_and_changes_the_protocol_through_the_app(clinic):
    from importlib.resources import files

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.protocol_store import protocol_status, save_protocol
    from poems_monitor.services.users import resolve_actor
    from poems_monitor.services.waivers import list_waivers, revoke_waiver, waive_item

    db = open_database(clinic["url"]("dr-who"), password=PASSWORDS["dr-who"])
    try:
        doctor = resolve_actor(db, None, None)
        create_patient(db, doctor, PatientInput("SRV-3", "Waived Echo", "female", date(1980, 1, 1)), today=TODAY)
        waiver = waive_item(db, doctor, "SRV-3", "echo", "echo done elsewhere", today=TODAY)
        revoke_waiver(db, doctor, waiver.waiver_id, "report arrived")
        assert [w.revoked_by for w in list_waivers(db, "SRV-3", include_revoked=True)] == ["dr-who"]
        text = files("poems_monitor.resources").joinpath("protocol.default.toml").read_text(encoding="utf-8")
        save_protocol(db, doctor, text, "clinic meeting")
        assert protocol_status(db).updated_by == "dr-who"
    finally:
        db.dispose()


def test_check_finds_a_disabled_guard_and_an_entry_under_another_name(clinic, pg_server):
    r = run("check", "--db", clinic["owner"])
    assert r.returncode == 0 and "the server's rights and guards checked" in r.stdout, r.stderr
    with psycopg.connect(pg_server.libpq(clinic["name"]), autocommit=True) as owner:  # the owner, by hand
        owner.execute("ALTER TABLE visit DISABLE TRIGGER poems_guard_sign_off")
        owner.execute("ALTER TABLE audit_entry DISABLE TRIGGER poems_guard_audit_update")
        entry = owner.execute("SELECT min(id) FROM audit_entry WHERE \"user\" = 'boss' AND db_user = 'boss'").fetchone()[0]
        owner.execute("UPDATE audit_entry SET db_user = 'ann' WHERE id = %s", (entry,))
    r = run("check", "--db", clinic["owner"])
    assert r.returncode == 1
    assert "the server's guard poems_guard_sign_off on visit is missing or disabled" in r.stderr
    assert f"audit entry {entry} names boss but was written by the login ann" in r.stderr


def test_a_nurse_sets_her_own_login_password_but_not_anothers(clinic, pg_server):
    ann = ("--db", clinic["url"]("ann"), "--password-file", clinic["pw"]("ann"))
    r = run("users", "passwd", "dr-who", *ann, stdin="taken-over-pw\n")
    assert r.returncode == 1, r.stdout
    no_traceback(r)
    r = run("users", "passwd", "ann", *ann, stdin="a-new-nurse-pw\n")
    assert r.returncode == 0, r.stderr
    with psycopg.connect(pg_server.libpq(clinic["name"], "ann", "a-new-nurse-pw")) as conn:
        assert conn.execute("SELECT session_user").fetchone() == ("ann",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_server.libpq(clinic["name"], "dr-who", "taken-over-pw"))


def test_the_sign_in_on_a_server_checks_the_password_with_the_server(clinic):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import PermissionDenied
    from poems_monitor.services.users import SignInRefused, authenticate

    db = open_database(clinic["url"]("ann"), password=PASSWORDS["ann"])
    try:
        assert authenticate(db, "ann", PASSWORDS["ann"]).name == "ann"
        with pytest.raises(SignInRefused, match="password is wrong"):
            authenticate(db, "ann", "not-her-password")
        with pytest.raises(PermissionDenied, match="signed in as ann: it cannot act as dr-who"):
            authenticate(db, "dr-who", PASSWORDS["dr-who"])
    finally:
        db.dispose()


def test_a_physicians_login_is_refused_the_accounts(clinic):
    with psycopg.connect(clinic["libpq"]("dr-who"), autocommit=True) as conn:
        for sql in (NURSE_REFUSED["add an account"], NURSE_REFUSED["create a login"],
                    "UPDATE app_user SET role = 'admin' WHERE name = 'dr-who'",
                    "SELECT poems_set_login_group('ann', 'poems_admin')",
                    "SELECT poems_set_login_password('boss', 'x')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        assert conn.execute("SELECT role FROM app_user WHERE name = 'dr-who'").fetchone() == ("physician",)


def test_an_administrator_cannot_reach_a_login_this_clinic_did_not_make(clinic, pg_server):
    """Logins are the whole server's: a login made by hand (or by another clinic's database) is
    out of reach of this clinic's administrator, even with an account row of the same name."""
    pg_server.execute('CREATE ROLE "outsider" LOGIN')
    try:
        with psycopg.connect(clinic["libpq"]("boss"), autocommit=True) as conn:
            conn.execute("INSERT INTO app_user (name, role, active, created_at, failed_sign_ins) "
                         "VALUES ('outsider', 'nurse', true, now(), 0)")
            for call in ("SELECT poems_set_login_group('outsider', 'poems_admin')",
                         "SELECT poems_set_login_active('outsider', 'poems_admin', true)",
                         "SELECT poems_set_login_password('outsider', 'x')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not a login of this clinic"):
                    conn.execute(call)
            assert conn.execute("SELECT pg_has_role('outsider', 'poems_admin', 'MEMBER')").fetchone() == (False,)
    finally:
        pg_server.execute('DROP ROLE "outsider"')
