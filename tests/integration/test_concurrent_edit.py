"""Two processes (two windows, or two workstations on a shared file) open the same visit at the
same version and both save a correction: the first save wins, the second is refused with
"changed by X at T, reload", and nothing the first one saved is overwritten."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.slow

TODAY = date(2026, 11, 21)

EDITOR = r'''
import sys
from datetime import date
from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.errors import ConcurrentEdit
from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, open_visit

db_path, user, visit_id, platelets = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
db = open_database(db_path)
snap = open_visit(db, visit_id)
print(f"OPENED {snap.version}", flush=True)
sys.stdin.readline()  # wait until told to save
entry = VisitInput(date=snap.date, values=tuple(
    EnteredValue(v.code, platelets if v.code == "platelets" else v.value, v.unit, v.specimen, v.qualifier, True)
    for v in snap.values), features=snap.features, exams=snap.exams, note=snap.note)
try:
    saved = correct_visit(db, Actor(user, Role.NURSE), visit_id, snap.version, entry, f"typing error ({user})",
                          today=date(2026, 11, 21))
    print(f"SAVED {saved.version}", flush=True)
except ConcurrentEdit as exc:
    print(f"REFUSED {exc}", flush=True)
'''


def _start(script, db_path, user, visit_id, value):  # noqa: ANN001, ANN202
    return subprocess.Popen([sys.executable, str(script), str(db_path), user, str(visit_id), str(value)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_second_save_of_the_same_visit_is_refused_and_overwrites_nothing(tmp_path, db, db_path, nurse):
    from poems_monitor.models import Observation, Visit
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, open_visit, record_visit

    create_patient(db, nurse, PatientInput("C-100", "Two Windows", "female", date(1960, 5, 5)), today=TODAY)
    saved = record_visit(db, nurse, "C-100", VisitInput(date(2024, 3, 1), values=(
        EnteredValue("platelets", 350, "10*9/L"), EnteredValue("hemoglobin", 12.5, "g/dL"))), today=TODAY)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR, encoding="utf-8")

    first = _start(script, db_path, "nurse-a", saved.visit_id, 410)
    second = _start(script, db_path, "nurse-b", saved.visit_id, 999)
    try:
        assert first.stdout.readline().strip() == "OPENED 1", first.stderr.read()
        assert second.stdout.readline().strip() == "OPENED 1", second.stderr.read()
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "SAVED 2", first.stderr.read()
        second.stdin.write("go\n")
        second.stdin.flush()
        answer = second.stdout.readline().strip()
    finally:
        for proc in (first, second):
            proc.communicate(timeout=30)
    assert answer.startswith("REFUSED "), answer
    assert "changed by nurse-a at " in answer and "reload" in answer
    assert "Traceback" not in answer

    snap = open_visit(db, saved.visit_id)
    assert snap.version == 2
    assert {v.code: float(v.value) for v in snap.values}["platelets"] == 410.0
    O, V = Observation.__table__, Visit.__table__
    with db.read() as s:
        rows = s.execute(select(O.c.value_num, O.c.superseded_by, O.c.entered_by).where(
            O.c.visit_id == saved.visit_id, O.c.code == "platelets").order_by(O.c.id)).all()
        visit = s.execute(select(V).where(V.c.id == saved.visit_id)).one()
    assert [(r.value_num, r.superseded_by, r.entered_by) for r in rows] == [
        (350.0, "nurse-a", nurse.name), (410.0, None, "nurse-a")]  # 999 was never written
    assert visit.updated_by == "nurse-a"

    from poems_monitor.services.integrity import check

    assert check(db) == []


# Every path that writes into a visit moves its version, so a correction opened before it is
# refused instead of superseding what arrived meanwhile (issue 11, defect 3). Each intervening
# writer runs in its own process, as on a second workstation.
TIMELINE_VALUES = {"format": "poems-monitor/timeline", "version": 1, "patients": [{
    "mrn": "C-100", "name": "Two Windows", "sex": "female", "birth_date": "1960-05-05",
    "visits": [{"date": "2024-03-01", "observations": [{"code": "vegf_plasma", "value": 1240, "unit": "pg/mL"}]}]}]}
TIMELINE_NOTE = {"format": "poems-monitor/timeline", "version": 1, "patients": [{
    "mrn": "C-100", "name": "Two Windows", "sex": "female", "birth_date": "1960-05-05",
    "visits": [{"date": "2024-03-01", "observations": [], "note": "seen by the referring hospital"}]}]}


def _intervene(kind: str, tmp_path, db_path) -> str:  # noqa: ANN001
    """Run the other writer in its own process; returns the user it wrote as."""
    import json

    if kind in ("timeline import", "timeline import of a note"):
        source = tmp_path / "timeline.json"
        source.write_text(json.dumps(TIMELINE_VALUES if kind == "timeline import" else TIMELINE_NOTE), encoding="utf-8")
        args = ["import", str(source)]
    elif kind == "lab CSV import":
        source = tmp_path / "labs.csv"
        source.write_text("mrn,date,code,value,unit\nC-100,2024-03-01,vegf_plasma,1240,pg/mL\n", encoding="utf-8")
        args = ["import-csv", str(source)]
    else:
        raise AssertionError(kind)
    done = subprocess.run([sys.executable, "-m", "poems_monitor", *args, "--db", str(db_path), "--user", "importer"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return "importer"


@pytest.mark.parametrize("writer", ["timeline import", "timeline import of a note", "lab CSV import", "correction",
                                    "correction of the note only"])
def test_a_correction_opened_before_any_other_write_to_the_visit_is_refused(writer, tmp_path, db, db_path, nurse):
    from poems_monitor.models import Observation, Visit
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, open_visit, record_visit

    create_patient(db, nurse, PatientInput("C-100", "Two Windows", "female", date(1960, 5, 5)), today=TODAY)
    saved = record_visit(db, nurse, "C-100", VisitInput(date(2024, 3, 1), values=(
        EnteredValue("platelets", 350, "10*9/L"),)), today=TODAY)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR, encoding="utf-8")
    editor = _start(script, db_path, "nurse-b", saved.visit_id, 999)
    other = None
    try:
        assert editor.stdout.readline().strip() == "OPENED 1", editor.stderr.read()
        if writer.startswith("correction"):
            other = _start(script, db_path, "nurse-a", saved.visit_id, 410 if writer == "correction" else 350)
            assert other.stdout.readline().strip() == "OPENED 1"
            if writer == "correction of the note only":
                from poems_monitor.services.visits import correct_visit

                snap = open_visit(db, saved.visit_id)
                correct_visit(db, nurse, saved.visit_id, 1, VisitInput(
                    date=snap.date, values=tuple(EnteredValue(v.code, v.value, v.unit, v.specimen, v.qualifier, True)
                                                 for v in snap.values),
                    features=snap.features, exams=snap.exams, note="called the patient"), "note added", today=TODAY)
                who = nurse.name
                other.stdin.write("go\n")  # its own save is now stale too
                other.stdin.flush()
                assert other.stdout.readline().startswith("REFUSED")
            else:
                other.stdin.write("go\n")
                other.stdin.flush()
                assert other.stdout.readline().strip() == "SAVED 2"
                who = "nurse-a"
        else:
            who = _intervene(writer, tmp_path, db_path)
        assert open_visit(db, saved.visit_id).version > 1, "the other write did not move the visit's version"
        editor.stdin.write("go\n")
        editor.stdin.flush()
        answer = editor.stdout.readline().strip()
    finally:
        for proc in (editor, other):
            if proc is not None:
                proc.communicate(timeout=30)
    assert answer.startswith("REFUSED ") and f"changed by {who} at " in answer, answer
    O = Observation.__table__
    with db.read() as s:
        live = s.execute(select(O.c.code, O.c.value_num).where(
            O.c.visit_id == saved.visit_id, O.c.superseded_at.is_(None)).order_by(O.c.code)).all()
        visit = s.execute(select(Visit.__table__).where(Visit.__table__.c.id == saved.visit_id)).one()
    assert (("platelets", 999.0) not in [tuple(r) for r in live])  # the stale save wrote nothing
    if writer in ("timeline import", "lab CSV import"):
        assert ("vegf_plasma", 1240.0) in [tuple(r) for r in live]  # the imported value is still current
    assert visit.updated_by == who


def test_two_imports_of_different_values_for_the_same_visit_never_keep_both(tmp_path, db, db_path, nurse):
    """A timeline import and a lab CSV import started together (two workstations) with different
    platelets for the same visit: one is stored, the other is refused as a conflict; never two
    current values, never one silently replacing the other."""
    import json

    from poems_monitor.models import Observation
    from poems_monitor.services.patients import PatientInput, create_patient
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    create_patient(db, nurse, PatientInput("C-100", "Two Windows", "female", date(1960, 5, 5)), today=TODAY)
    saved = record_visit(db, nurse, "C-100", VisitInput(date(2024, 3, 1), values=(
        EnteredValue("hemoglobin", 12.5, "g/dL"),)), today=TODAY)
    timeline = tmp_path / "t.json"
    doc = json.loads(json.dumps(TIMELINE_VALUES))
    doc["patients"][0]["visits"][0]["observations"] = [{"code": "platelets", "value": 410, "unit": "10*9/L"}]
    timeline.write_text(json.dumps(doc), encoding="utf-8")
    labs = tmp_path / "labs.csv"
    labs.write_text("mrn,date,code,value,unit\nc-100,2024-03-01,platelets,999,10*9/L\n", encoding="utf-8")
    procs = [subprocess.Popen([sys.executable, "-m", "poems_monitor", *args, "--db", str(db_path), "--user", user],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args, user in ((["import", str(timeline)], "ws-1"), (["import-csv", str(labs)], "ws-2"))]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    assert all("Traceback" not in err for _, _, err in results)
    O = Observation.__table__
    with db.read() as s:
        live = s.execute(select(O.c.value_num).where(O.c.visit_id == saved.visit_id, O.c.code == "platelets",
                                                     O.c.superseded_at.is_(None))).scalars().all()
    assert len(live) == 1 and live[0] in (410.0, 999.0)
