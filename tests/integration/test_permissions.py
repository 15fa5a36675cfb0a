"""Every permission rule, enforced in the services themselves (not only by greyed-out buttons):
a refused write raises PermissionDenied naming the user, role and action, and writes nothing
(no record row, no audit entry)."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from poems_monitor.models import AuditEntry, FlagReview, User, Visit
from poems_monitor.services.access import ROLE_PERMISSIONS, Actor, Permission, PermissionDenied, Role, require

TODAY = date(2026, 11, 21)
NURSE, PHYSICIAN, ADMIN = Actor("nurse-ann", Role.NURSE), Actor("dr-berg", Role.PHYSICIAN), Actor("boss", Role.ADMIN)


def test_the_permission_table_is_the_one_the_clinic_agreed():
    assert ROLE_PERMISSIONS[Role.NURSE] == {Permission.RECORD}
    assert ROLE_PERMISSIONS[Role.PHYSICIAN] == {Permission.RECORD, Permission.REVIEW, Permission.WAIVE,
                                               Permission.EDIT_PROTOCOL}
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(Permission)
    for role in Role:
        for permission in Permission:
            allowed = permission in ROLE_PERMISSIONS[role]
            actor = Actor("x", role)
            if allowed:
                require(actor, permission)
            else:
                with pytest.raises(PermissionDenied, match=f"x \\({role.value}\\) may not"):
                    require(actor, permission)


@pytest.fixture
def clinic(db, tmp_path):  # noqa: ANN001, ANN201
    """A patient with a nurse-entered visit that raises a flag, and a backup file."""
    from poems_monitor.services.backup import backup_to
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.users import add_user
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    add_user(db, ADMIN, "nurse-ann", Role.NURSE, "password-n")
    create_patient(db, NURSE, PatientInput("R-001", "Rule Person", "female", date(1960, 1, 1)), today=TODAY)
    record_visit(db, NURSE, "R-001", VisitInput(date(2025, 1, 10), values=(EnteredValue("platelets", 300, "10*9/L"),),
                                                features=(("ascites", "absent"),)), today=TODAY)
    saved = record_visit(db, NURSE, "R-001", VisitInput(date(2025, 6, 10), values=(EnteredValue("platelets", 310, "10*9/L"),),
                                                        features=(("ascites", "present"),)), today=TODAY)
    backup = backup_to(db, ADMIN, tmp_path / "backup.sqlite").path
    return {"visit_id": saved.visit_id, "version": saved.version, "backup": backup}


def _snapshot(db) -> tuple:  # noqa: ANN001
    with db.read() as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (AuditEntry.__table__, FlagReview.__table__, User.__table__)) + (
            s.execute(select(Visit.__table__.c.reviewed_by)).scalars().all(),)


def _a_flag_id(db) -> str:  # noqa: ANN001
    from poems_monitor.services.dashboard import build_dashboard

    flags = build_dashboard(db, "R-001", as_of=TODAY).flags
    assert flags, "the clinic fixture must raise a flag"
    return flags[0].flag.flag_id if hasattr(flags[0], "flag") else flags[0].flag_id


def _operations(db, clinic, db_path):  # noqa: ANN001, ANN202
    from poems_monitor.services.backup import backup_to, restore_from
    from poems_monitor.services.flag_review import acknowledge_flag
    from poems_monitor.services.review import sign_off_visit
    from poems_monitor.services.users import add_user

    return {
        Permission.REVIEW: [
            ("acknowledge a flag", lambda who: acknowledge_flag(db, who, "R-001", _a_flag_id(db), "seen", as_of=TODAY)),
            ("sign off a visit", lambda who: sign_off_visit(db, who, clinic["visit_id"], clinic["version"])),
        ],
        Permission.MANAGE_USERS: [
            ("add a user", lambda who: add_user(db, who, "new-user", Role.NURSE, "long-password")),
        ],
        Permission.BACKUP: [
            ("make a backup", lambda who: backup_to(db, who, db_path.parent / "by-someone.sqlite")),
        ],
        Permission.RESTORE: [
            ("restore a backup", lambda who: restore_from(db_path, who, clinic["backup"])),
        ],
    }


@pytest.mark.parametrize("actor", [NURSE, PHYSICIAN], ids=lambda a: a.role.value)
def test_refused_writes_raise_and_write_nothing(actor, db, db_path, clinic):
    refused = 0
    for permission, operations in _operations(db, clinic, db_path).items():
        if actor.may(permission):
            continue
        for label, operation in operations:
            before = _snapshot(db)
            files_before = sorted(p.name for p in db_path.parent.iterdir())
            with pytest.raises(PermissionDenied) as denied:
                operation(actor)
            assert f"{actor.name} ({actor.role.value}) may not" in str(denied.value), label
            assert _snapshot(db) == before, f"{label} by a {actor.role.value} wrote something"
            assert sorted(p.name for p in db_path.parent.iterdir()) == files_before, f"{label} left a file"
            refused += 1
    assert refused == {Role.NURSE: 5, Role.PHYSICIAN: 3}[actor.role]


def test_nurse_is_refused_acknowledge_sign_off_users_backup_restore(db, db_path, clinic):
    """The same rules, spelled out one by one as the issue states them."""
    ops = _operations(db, clinic, db_path)
    for permission in (Permission.REVIEW, Permission.MANAGE_USERS, Permission.BACKUP, Permission.RESTORE):
        for _, operation in ops[permission]:
            with pytest.raises(PermissionDenied):
                operation(NURSE)


def test_physician_reviews_but_may_not_manage_users_or_restore(db, db_path, clinic):
    ops = _operations(db, clinic, db_path)
    for _, operation in ops[Permission.REVIEW]:
        operation(PHYSICIAN)
    for permission in (Permission.MANAGE_USERS, Permission.RESTORE):
        for _, operation in ops[permission]:
            with pytest.raises(PermissionDenied):
                operation(PHYSICIAN)


def test_admin_may_do_everything(db, db_path, clinic):
    for operations in _operations(db, clinic, db_path).values():
        for _, operation in operations:
            operation(ADMIN)


def test_every_role_records_clinical_data(db, tmp_path):
    from poems_monitor.domain.timeline import EventRecord, TreatmentRecord
    from poems_monitor.services.patients import PatientInput, add_event, add_treatment, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit

    for i, actor in enumerate((NURSE, PHYSICIAN, ADMIN)):
        mrn = f"E-{i:03d}"
        create_patient(db, actor, PatientInput(mrn, "Every Role", "male", date(1950, 1, 1)), today=TODAY)
        saved = record_visit(db, actor, mrn, VisitInput(date(2024, 1, 1), values=(EnteredValue("platelets", 200, "10*9/L"),)),
                             today=TODAY)
        correct_visit(db, actor, saved.visit_id, saved.version,
                      VisitInput(date(2024, 1, 1), values=(EnteredValue("platelets", 210, "10*9/L"),)), "typo", today=TODAY)
        add_treatment(db, actor, mrn, TreatmentRecord("radiotherapy", date(2024, 2, 1)), today=TODAY)
        add_event(db, actor, mrn, EventRecord("dvt", date(2024, 3, 1)), today=TODAY)


def test_a_nurse_correction_sends_the_visit_back_to_review(db, clinic):
    from poems_monitor.services.review import sign_off_visit, visits_to_review
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit

    waiting = {v.visit_id for v in visits_to_review(db)}
    assert clinic["visit_id"] in waiting and len(waiting) == 2  # both nurse-entered visits
    sign_off_visit(db, PHYSICIAN, clinic["visit_id"], clinic["version"], "fine")
    assert clinic["visit_id"] not in {v.visit_id for v in visits_to_review(db)}
    saved = correct_visit(db, NURSE, clinic["visit_id"], clinic["version"], VisitInput(
        date(2025, 6, 10), values=(EnteredValue("platelets", 320, "10*9/L"),), features=(("ascites", "present"),)),
        "lab amended result", today=TODAY)
    back = [v for v in visits_to_review(db) if v.visit_id == clinic["visit_id"]]
    assert back and back[0].version == saved.version and back[0].entered_by == NURSE.name
    # signing off a version the physician did not see is refused
    from poems_monitor.services.errors import ConcurrentEdit

    with pytest.raises(ConcurrentEdit, match="changed by nurse-ann at .*reload"):
        sign_off_visit(db, PHYSICIAN, clinic["visit_id"], clinic["version"])


SERVICES = Path(__file__).resolve().parents[2] / "poems_monitor" / "services"


def test_every_service_that_writes_for_an_actor_checks_a_permission():
    """A static guard for services written later: a function that takes an `actor` and opens a
    write transaction (or stores through a session) must call `require` itself."""
    missing = []
    for path in sorted(SERVICES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            params = {a.arg for a in node.args.args + node.args.kwonlyargs}
            if "actor" not in params:
                continue
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
            names = {getattr(c.func, "attr", None) or getattr(c.func, "id", None) for c in calls}
            writes = "write" in names or "AuditWriter" in names or "execute" in names
            delegates = any(
                any(isinstance(a, ast.Name) and a.id == "actor" for a in c.args)
                or any(k.value.__class__ is ast.Name and getattr(k.value, "id", None) == "actor" for k in c.keywords)
                for c in calls if (getattr(c.func, "id", None) or getattr(c.func, "attr", None)) != "AuditWriter"
            )
            if writes and "require" not in names and not delegates:
                missing.append(f"{path.name}:{node.name}")
    assert missing == []
