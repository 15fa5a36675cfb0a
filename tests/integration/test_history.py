"""A patient's history of changes: every value entered, corrected or removed, with old and new
value, who, when and why; from the audit trail, with superseded rows as a second witness."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

TODAY = date(2026, 11, 21)


def _patient_with_corrections(db, nurse, physician):  # noqa: ANN001, ANN202
    from poems_monitor.domain.timeline import TreatmentRecord
    from poems_monitor.services.patients import PatientInput, add_treatment, create_patient, update_treatment
    from poems_monitor.services.review import sign_off_visit
    from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, record_visit

    pid = create_patient(db, nurse, PatientInput("HI-1", "History Person", "female", date(1970, 3, 3)), today=TODAY)
    saved = record_visit(db, nurse, "HI-1", VisitInput(date(2025, 2, 1), values=(
        EnteredValue("platelets", 512, "10*9/L"), EnteredValue("hemoglobin", 125, "g/L")),
        features=(("ascites", "absent"),)), today=TODAY)
    saved = correct_visit(db, nurse, saved.visit_id, saved.version, VisitInput(date(2025, 2, 1), values=(
        EnteredValue("platelets", 521, "10*9/L"), EnteredValue("hemoglobin", 125, "g/L")),
        features=(("ascites", "present"),)), "typing error: digits swapped", today=TODAY)
    sign_off_visit(db, physician, saved.visit_id, saved.version, "checked against the lab sheet")
    tid = add_treatment(db, nurse, "HI-1", TreatmentRecord("radiotherapy", date(2025, 3, 1)), today=TODAY)
    update_treatment(db, physician, tid, 1, TreatmentRecord("radiotherapy", date(2025, 3, 1), stop=date(2025, 4, 1)),
                     "course finished", today=TODAY)
    return pid, saved.visit_id


def test_history_shows_old_new_who_when_why(db, nurse, physician):
    from poems_monitor.services.history import patient_history

    pid, _ = _patient_with_corrections(db, nurse, physician)
    history = patient_history(db, pid)
    assert [c.at for c in history] == sorted((c.at for c in history), reverse=True)  # newest first

    platelets = patient_history(db, pid, code="platelets")
    assert [(c.action, c.old, c.new, c.user) for c in platelets] == [
        ("corrected", "512 10*9/L", "521 10*9/L", nurse.name),
        ("entered", "", "512", nurse.name),
    ]
    assert platelets[0].reason == "typing error: digits swapped"
    assert platelets[0].visit_date == date(2025, 2, 1) and "Platelets" in platelets[0].subject
    assert platelets[0].at.tzinfo is not None

    ascites = patient_history(db, pid, code="ascites")
    assert (ascites[0].old, ascites[0].new) == ("absent", "present")
    # hemoglobin was not changed: no correction row for it
    assert [c.action for c in patient_history(db, pid, code="hemoglobin")] == ["entered"]

    stop = [c for c in history if c.field == "stop"]
    assert stop and (stop[0].old, stop[0].new, stop[0].user, stop[0].reason) == ("", "2025-04-01", physician.name,
                                                                                 "course finished")
    signed = [c for c in history if c.action == "signed off"]
    assert signed and signed[0].user == physician.name and signed[0].reason == "checked against the lab sheet"


def test_a_correction_without_its_audit_entry_still_shows_from_the_superseded_row(db, nurse, physician):
    from poems_monitor.services.history import patient_history

    pid, _ = _patient_with_corrections(db, nurse, physician)
    with db.write() as s:  # simulate an older file whose trail lacks the entry
        s.execute(text("DELETE FROM audit_entry WHERE entity = 'observation'"))
    platelets = patient_history(db, pid, code="platelets")
    recovered = [c for c in platelets if c.source == "record"]
    assert recovered and (recovered[0].old, recovered[0].new, recovered[0].user, recovered[0].reason) == (
        "512 10*9/L", "521 10*9/L", nurse.name, "typing error: digits swapped")


def test_clinic_history_lists_accounts_backups_and_restores(db, admin, tmp_path):
    from poems_monitor.services.access import Role
    from poems_monitor.services.backup import backup_to
    from poems_monitor.services.history import clinic_history
    from poems_monitor.services.users import add_user

    add_user(db, admin, "ann", Role.NURSE, "long-password")
    backup_to(db, admin, tmp_path / "b.sqlite")
    changes = clinic_history(db)
    assert [c.action for c in changes][:2] == ["backed up", "entered"]
    assert all("long-password" not in c.new for c in changes)
