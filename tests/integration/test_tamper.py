"""The whole record is tamper-evident, not only the audit table: a value, a patient's name, a
role, a password hash, an acknowledgement, a waiver, the protocol or the rules cache changed in
the SQLite file by another process (a plain sqlite3 client, bypassing the app), a trigger added,
or the newest audit entries removed together with the chain head kept in the database, is found
by `poems-monitor check` run as a person would run it, and the sentence names the table, the row,
the field and the audit entry since which it differs."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

TODAY = date(2026, 11, 21)

SQL_CLIENT = "import sqlite3, sys\nconn = sqlite3.connect(sys.argv[1])\nconn.executescript(sys.argv[2])\nconn.close()\n"


@pytest.fixture
def clinic(db, db_path, nurse, physician, admin) -> Path:
    """A small clinic: accounts, a patient with visits, a correction, an acknowledged flag, a
    waiver, a clinic protocol and a warm rules cache. Closed; returns the database file."""
    from poems_monitor.domain.flags import compute_flags
    from poems_monitor.persistence.repositories.timelines import load_timelines
    from poems_monitor.services.access import Role
    from poems_monitor.services.flag_review import acknowledge_flag
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.protocol_store import current_protocol, default_protocol_text, save_protocol
    from poems_monitor.services.users import add_user
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit
    from poems_monitor.services.waivers import waive_item
    from poems_monitor.services.worklist import build_worklist

    add_user(db, admin, "boss", Role.ADMIN, "admin-password-1")
    add_user(db, admin, "nurse-ann", Role.NURSE, "nurse-password-1")
    add_user(db, admin, "dr-berg", Role.PHYSICIAN, "doctor-password-1")
    create_patient(db, nurse, PatientInput("T-001", "Tamper Person", "female", date(1970, 1, 1)), today=TODAY)
    create_patient(db, nurse, PatientInput("T-002", "Other Person", "male", date(1960, 5, 5)), today=TODAY)
    for month in range(1, 4):
        saved = record_visit(db, nurse, "T-001", VisitInput(date(2025, month, 3), values=(
            EnteredValue("platelets", 300 + 100 * month, "10*9/L"), EnteredValue("vegf_plasma", 200 * month, "pg/mL")),
            features=(("polyneuropathy", "present"), ("pleural_effusion", "absent" if month < 3 else "present"))),
            today=TODAY)
    correct_visit(db, nurse, saved.visit_id, saved.version, VisitInput(date(2025, 3, 3), values=(
        EnteredValue("platelets", 612, "10*9/L"), EnteredValue("vegf_plasma", 600, "pg/mL")),
        features=(("polyneuropathy", "present"), ("pleural_effusion", "present"))), "typing error", today=TODAY)
    with db.read() as s:
        flags = compute_flags(load_timelines(s, mrns=["T-001"])[0], current_protocol(db), TODAY)
    assert flags
    acknowledge_flag(db, physician, "T-001", flags[0].flag_id, "seen, discussed", as_of=TODAY)
    waive_item(db, physician, "T-001", "echo", "done elsewhere", today=TODAY)
    save_protocol(db, physician, default_protocol_text(), "clinic copy of the defaults")
    build_worklist(db, TODAY)  # fills the rules cache
    return db_path


def _sql(path: Path, script: str) -> None:
    """Edit the file from another process, as anyone with file access could."""
    subprocess.run([sys.executable, "-c", SQL_CLIENT, str(path), script], check=True, timeout=60)


def _copy(clinic: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{name}.sqlite"
    conn = sqlite3.connect(clinic)
    out = sqlite3.connect(target)
    conn.backup(out)
    conn.close()
    out.close()
    head = clinic.with_name(clinic.name + ".audit-head")
    if head.exists():  # the head kept beside the database travels with it
        target.with_name(target.name + ".audit-head").write_bytes(head.read_bytes())
    return target


def _check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poems_monitor", "check", "--db", str(path)],
                          capture_output=True, text=True, timeout=300)


def _one(path: Path, query: str):  # noqa: ANN202
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchone()
    finally:
        conn.close()


def test_untouched_record_is_sound_and_says_what_it_covered(clinic):
    result = _check(clinic)
    assert result.returncode == 0, result.stderr
    assert "every row of the record matches the audit trail" in result.stdout
    assert "audit head beside the database matches" in result.stdout


CASES = {
    # name: (SQL run by another process, pattern the report must contain)
    "value edited": ("UPDATE observation SET value_num = 999 WHERE id = {obs}",
                     r"table observation, row {obs} \(patient {p1}\): [^\n]*value_num changed outside poems-monitor "
                     r"since audit entry \d+"),
    "value deleted": ("DELETE FROM observation WHERE id = {obs}",
                      r"table observation, row {obs} \(patient {p1}\) was deleted outside poems-monitor since audit entry \d+"),
    "value inserted": ("INSERT INTO observation (visit_id, code, value_num, unit, derived, entered_at, entered_by) "
                       "SELECT visit_id, 'hemoglobin', 19.5, 'g/dL', 0, entered_at, entered_by FROM observation "
                       "WHERE id = {obs}",
                       r"table observation, row \d+ \(patient {p1}\) was added outside poems-monitor since audit entry \d+"),
    "patient renamed": ("UPDATE patient SET name = 'Someone Else' WHERE id = {p1}",
                        r"table patient, row {p1} \(patient {p1}\): name changed outside poems-monitor"),
    "patient inserted": ("INSERT INTO patient (mrn, mrn_key, name, sex, created_at, created_by, version) "
                         "VALUES ('GHOST-1', 'ghost-1', 'Ghost', 'male', '2026-01-01 00:00:00', 'x', 1)",
                         r"table patient, row \d+ \(patient \d+\) was added outside poems-monitor: no audit entry covers it"),
    "role promoted": ("UPDATE app_user SET role = 'admin' WHERE name = 'nurse-ann'",
                      r"table app_user, row {nurse_id} \(accounts\): role changed outside poems-monitor since audit entry \d+"),
    "password hashes swapped": (
        "UPDATE app_user SET password_hash = (SELECT password_hash FROM app_user WHERE name = 'boss') "
        "WHERE name = 'nurse-ann'",
        r"table app_user, row {nurse_id} \(accounts\): password_hash changed outside poems-monitor"),
    "acknowledgement deleted": ("DELETE FROM flag_review",
                                r"table flag_review, row \d+ \(patient {p1}\) was deleted outside poems-monitor"),
    "waiver deleted": ("DELETE FROM followup_waiver",
                       r"table followup_waiver, row \d+ \(patient {p1}\) was deleted outside poems-monitor"),
    "protocol edited": ("UPDATE clinic_setting SET value = value || char(10) || '# edited' WHERE key = 'protocol'",
                        r"table clinic_setting, row protocol \(settings\): value changed outside poems-monitor"),
    "rules cache edited": ("UPDATE rules_cache SET flags = '[]' WHERE patient_id = {p1}",
                           r"table rules_cache, row {p1} \(patient {p1}\): flags differ from what the rules compute"),
    "trigger added": ("CREATE TRIGGER promote AFTER INSERT ON app_user BEGIN "
                      "UPDATE app_user SET role = 'admin' WHERE id = new.id; END",
                      r"it holds a trigger \(promote on app_user\)"),
    "view added": ("CREATE VIEW everyone AS SELECT * FROM patient", r"it holds a view \(everyone\)"),
    "index added": ("CREATE INDEX ix_sneaky ON patient(name)", r"an index poems-monitor does not make \(ix_sneaky"),
    "newest audit entries and the head removed": (
        "DELETE FROM audit_entry WHERE id > {keep};"
        "UPDATE clinic_setting SET value = (SELECT id || ':' || hash FROM audit_entry WHERE id = {keep}) "
        "WHERE key = 'audit.head'",
        r"the audit trail ends at entry {keep}, but the head recorded beside the database "
        r"\([^)]+\.sqlite\.audit-head\) is entry \d+: the newest audit entries were removed"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_each_change_outside_the_app_is_found_and_named(case, clinic, tmp_path):
    p1 = _one(clinic, "SELECT id FROM patient WHERE mrn = 'T-001'")[0]
    obs = _one(clinic, f"SELECT o.id FROM observation o JOIN visit v ON v.id = o.visit_id WHERE v.patient_id = {p1} "
                       "AND o.superseded_at IS NULL AND o.code = 'platelets' ORDER BY o.id LIMIT 1")[0]
    nurse_id = _one(clinic, "SELECT id FROM app_user WHERE name = 'nurse-ann'")[0]
    keep = _one(clinic, "SELECT max(id) FROM audit_entry")[0] - 3
    values = {"p1": p1, "obs": obs, "nurse_id": nurse_id, "keep": keep}
    script, pattern = CASES[case]
    path = _copy(clinic, tmp_path, case.replace(" ", "-"))
    assert _check(path).returncode == 0
    _sql(path, script.format(**values))
    result = _check(path)
    assert result.returncode == 1, f"{case}: not detected\n{result.stdout}"
    assert "is damaged" in result.stderr and "Traceback" not in result.stderr
    assert re.search(pattern.format(**values), result.stderr), f"{case}:\n{result.stderr}"


def test_a_changed_row_names_the_audit_entry_that_sealed_it(clinic, tmp_path):
    """'since audit entry N' is the newest entry that covered the patient: the change happened after it."""
    p1 = _one(clinic, "SELECT id FROM patient WHERE mrn = 'T-001'")[0]
    path = _copy(clinic, tmp_path, "named")
    _sql(path, f"UPDATE patient SET birth_date = '1971-01-01' WHERE id = {p1}")
    newest = _one(path, f"SELECT max(id) FROM audit_entry WHERE patient_id = {p1} AND state LIKE '%patient:{p1}%'")[0]
    result = _check(path)
    assert f"table patient, row {p1} (patient {p1}): birth_date changed outside poems-monitor since audit entry {newest}" \
        in result.stderr


def test_the_seal_copy_altered_alone_is_found(clinic, tmp_path):
    path = _copy(clinic, tmp_path, "seal-copy")
    _sql(path, "UPDATE record_seal SET fields = substr(fields, 1, 3) || 'fff' || substr(fields, 7) WHERE tbl = 'patient'")
    result = _check(path)
    assert result.returncode == 1
    assert "the seal copy of patient" in result.stderr and "was altered outside poems-monitor" in result.stderr


def test_the_app_s_own_writes_keep_the_record_sound(clinic):
    """Every write path used by the clinic fixture (patients, visits, corrections, accounts,
    acknowledgements, waivers, protocol, cache) leaves a record that matches its seal."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.integrity import check

    db = open_database(clinic)
    try:
        assert check(db) == []
    finally:
        db.dispose()


def test_head_file_deleted_too_the_backup_catalogue_still_knows_the_head(db, db_path, nurse, admin, tmp_path):
    """Someone removes the newest audit entries, moves the head kept in the database and deletes
    the head file beside it: the head the backup catalogue recorded at the last backup is missing."""
    from poems_monitor.services.backup import backup_to
    from poems_monitor.services.patients import PatientInput, create_patient

    for i in range(3):
        create_patient(db, nurse, PatientInput(f"C-{i}", "Catalogue Person", "female", date(1970, 1, 1)), today=TODAY)
    backup_to(db, admin, tmp_path / "last.sqlite")
    db.dispose()
    at_backup = _one(db_path, "SELECT max(id) FROM audit_entry")[0] - 1  # the backup's own entry comes after the copy
    _sql(db_path, f"DELETE FROM audit_entry WHERE id >= {at_backup - 1};"
                  "UPDATE clinic_setting SET value = (SELECT id || ':' || hash FROM audit_entry ORDER BY id DESC LIMIT 1) "
                  "WHERE key = 'audit.head'")
    db_path.with_name(db_path.name + ".audit-head").unlink()
    result = _check(db_path)
    assert result.returncode == 1
    assert f"the audit trail lacks entry {at_backup}, which it held at its last backup" in result.stderr, result.stderr


def test_a_change_outside_the_app_is_not_hidden_by_the_next_save(clinic, tmp_path, nurse, admin):
    """The role is promoted in the file, then the app saves a visit and adds an account (which
    re-seal the patient and the accounts): `check` still names the change and when it was found."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Role
    from poems_monitor.services.users import add_user
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    path = _copy(clinic, tmp_path, "absorbed")
    p1 = _one(path, "SELECT id FROM patient WHERE mrn = 'T-001'")[0]
    _sql(path, "UPDATE app_user SET role = 'admin' WHERE name = 'nurse-ann';"
               f"UPDATE patient SET name = 'Someone Else' WHERE id = {p1}")
    db = open_database(path)
    try:
        record_visit(db, nurse, "T-001", VisitInput(date(2025, 6, 3), values=(
            EnteredValue("platelets", 420, "10*9/L"),)), today=TODAY)
        add_user(db, admin, "late-nurse", Role.NURSE, "late-password-1")
    finally:
        db.dispose()
    result = _check(path)
    assert result.returncode == 1, result.stdout
    assert re.search(r"when audit entry \d+ was written, the seal found: table app_user, row \d+ \(accounts\): role "
                     r"changed outside poems-monitor since audit entry \d+", result.stderr), result.stderr
    assert re.search(rf"the seal found: table patient, row {p1} \(patient {p1}\): name changed", result.stderr), \
        result.stderr


def test_changes_in_several_patients_are_named_alike_whether_read_one_patient_or_all_at_once(clinic, tmp_path,
                                                                                            monkeypatch):
    """`check` compares the record with its seal a batch of patients at a time (memory stays bounded
    on a large clinic): batches of one patient name the same rows, in the same order, as one batch
    holding every patient."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services import record_seal
    from poems_monitor.services.integrity import check

    path = _copy(clinic, tmp_path, "several")
    _sql(path, "UPDATE patient SET name = 'Renamed Two' WHERE mrn = 'T-002';"
               "UPDATE observation SET value_num = 1 WHERE id = (SELECT min(id) FROM observation);"
               "UPDATE app_user SET role = 'admin' WHERE name = 'nurse-ann';"
               "DELETE FROM followup_waiver;"
               "INSERT INTO patient (mrn, mrn_key, name, sex, created_at, created_by, version) "
               "VALUES ('GHOST-1', 'ghost-1', 'Ghost', 'male', '2026-01-01 00:00:00', 'x', 1)")
    db = open_database(path, migrate=False)
    try:
        monkeypatch.setattr(record_seal, "VERIFY_BATCH", 10_000)
        at_once = check(db)
        monkeypatch.setattr(record_seal, "VERIFY_BATCH", 1)
        reported: list[tuple[int, int]] = []
        one_by_one = check(db, progress=lambda what, done, total: reported.append((done, total)) if total else None)
    finally:
        db.dispose()
    assert one_by_one == at_once
    assert [p.split(" outside")[0] for p in at_once[:5]] == [  # accounts, then patient by patient
        "table app_user, row 2 (accounts): role changed",
        "table followup_waiver, row 1 (patient 1) was deleted",
        "table observation, row 1 (patient 1): value_num changed",
        "table patient, row 2 (patient 2): name changed",
        "table patient, row 3 (patient 3) was added"]
    assert (1, 3) in reported and (3, 3) in reported  # two patients and the ghost, one batch each
