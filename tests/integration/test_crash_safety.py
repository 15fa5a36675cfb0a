"""Crash safety: a process writing visits, corrections and imports is killed (SIGKILL) at random
moments, again and again; after every kill the database must pass `check`, every write reported
as saved must be there, and nothing half-written may be.

How: one child process (`sys.executable` running WORKER below) imports the app once and then,
for each round, forks a worker that opens the database and writes in a loop, printing
"SAVED ..." after each commit. The parent SIGKILLs the worker at a random moment, has it reaped,
and verifies the file from a fresh connection, as the app would after a power cut. Forking
from a warm process keeps 60 kills within a few seconds of start-up cost.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")]

KILLS = 60
TODAY = date(2026, 11, 21)

WORKER = r'''
import os, random, sys
from datetime import date, timedelta

from sqlalchemy import func, select

from poems_monitor.domain.timeline_json import parse_timeline
from poems_monitor.models import Patient, Visit
from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, open_visit, record_visit
from poems_monitor.domain.timeline import ExamRecord

DB = sys.argv[1]
TODAY = date(2026, 11, 21)
NURSE = Actor("nurse-crash", Role.NURSE)
P, V = Patient.__table__, Visit.__table__


def say(line):
    os.write(1, (line + "\n").encode())


def visit_entry(day, k):
    return VisitInput(date=day, values=(
        EnteredValue("platelets", 300 + k % 200, "10*9/L"), EnteredValue("hemoglobin", 13.5, "g/dL"),
        EnteredValue("vegf_plasma", 100 + k % 50, "pg/mL"), EnteredValue("onls_arm", 1), EnteredValue("onls_leg", 2),
    ), features=(("polyneuropathy", "present"), ("ascites", "absent")),
        exams=(ExamRecord("echo", "normal", ""),), note=f"crash test visit {k}")


def timeline(batch):
    patients = []
    for i in range(3):
        patients.append({
            "mrn": f"IMP-{batch}-{i}", "name": f"Imported {batch} {i}", "sex": "female", "birth_date": "1960-01-01",
            "visits": [{"date": f"2020-0{m}-01", "observations": [
                {"code": "platelets", "value": 400 + m, "unit": "10*9/L"}, {"code": "vegf_plasma", "value": 900, "unit": "pg/mL"},
                {"code": "onls_arm", "value": 1}, {"code": "onls_leg", "value": 1}],
                "features": {"polyneuropathy": "present"}} for m in (1, 2)],
            "treatments": [{"regimen": "lenalidomide_dexamethasone", "start": "2020-02-15"}],
            "events": [{"type": "dvt", "date": "2020-02-20"}],
        })
    return {"format": "poems-monitor/timeline", "version": 1, "patients": patients}


def work(seed):
    rng = random.Random(seed)
    db = open_database(DB)
    with db.read() as s:
        pid = s.execute(select(P.c.id).where(P.c.mrn == "K-1")).scalar_one()
        last = s.execute(select(func.max(V.c.date)).where(V.c.patient_id == pid)).scalar()
    day = (last or date(1990, 1, 1)) + timedelta(days=1)
    say(f"GO {os.getpid()}")
    n = 0
    while True:
        n += 1
        roll = rng.random()
        if roll < 0.6:
            saved = record_visit(db, NURSE, "K-1", visit_entry(day, n), today=TODAY)
            say(f"SAVED visit {saved.visit_id} {day.isoformat()}")
            day += timedelta(days=1)
        elif roll < 0.8:
            with db.read() as s:
                vid = s.execute(select(V.c.id).where(V.c.patient_id == pid).order_by(func.random()).limit(1)).scalar()
            if vid is None:
                continue
            snap = open_visit(db, vid)
            entry = VisitInput(date=snap.date, values=tuple(
                EnteredValue(v.code, (float(v.value) + 1) if v.code == "platelets" else v.value, v.unit, v.specimen,
                             v.qualifier, True) for v in snap.values), features=snap.features, exams=snap.exams,
                note=snap.note)
            saved = correct_visit(db, NURSE, vid, snap.version, entry, "crash test correction", today=TODAY)
            say(f"SAVED correction {vid} {saved.version}")
        else:
            batch = f"{seed}-{n}"
            data = timeline(batch)
            patients, problems = parse_timeline(data, TODAY)
            assert not problems, problems
            import_patients(db, patients, NURSE, reason="crash test import", raw=data)
            say(f"SAVED import {batch}")


say("READY")
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "FORK":
        pid = os.fork()
        if pid == 0:
            try:
                work(int(arg))
            except BaseException as exc:  # a worker error must show in the test, not hang it
                say(f"ERROR {type(exc).__name__}: {exc}")
            finally:
                os._exit(3)
        say(f"PID {pid}")
    elif cmd == "WAIT":
        pid = int(arg)
        _, status = os.waitpid(pid, 0)
        say(f"DEAD {pid} {os.WIFSIGNALED(status) and os.WTERMSIG(status)}")
    elif cmd == "QUIT":
        break
'''


class Zygote:
    def __init__(self, script: Path, db_path: Path):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(script), str(db_path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("EOF")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str, collected: list[str], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line.startswith("ERROR") or line == "EOF":
                raise AssertionError(f"worker failed: {line}\n{self.proc.stderr.read() if line == 'EOF' else ''}")
            if line.startswith(prefix):
                return line
            collected.append(line)

    def close(self) -> None:
        try:
            self.send("QUIT")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def _seed_database(db_path: Path) -> None:
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.patients import PatientInput, create_patient

    db = open_database(db_path)
    create_patient(db, Actor("setup", Role.ADMIN), PatientInput("K-1", "Kill Test", "male", date(1950, 1, 1)), today=TODAY)
    db.dispose()


def _verify(db_path: Path, saved_visits: dict[int, str], saved_corrections: dict[int, int], saved_imports: set[str]) -> None:
    from poems_monitor.models import AuditEntry, Event, Exam, FeatureStatus, Observation, Patient, Treatment, Visit
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.integrity import check

    P, V, O, F, X, T, E, A = (m.__table__ for m in (Patient, Visit, Observation, FeatureStatus, Exam, Treatment, Event,
                                                     AuditEntry))
    db = open_database(db_path)
    try:
        assert check(db) == []
        with db.read() as s:
            k1 = s.execute(select(P.c.id).where(P.c.mrn == "K-1")).scalar_one()
            visits = {r.id: r for r in s.execute(select(V).where(V.c.patient_id == k1))}
            for vid, day in saved_visits.items():
                assert vid in visits, f"visit {vid} was reported saved but is missing"
                assert visits[vid].date.isoformat() == day
            for vid, version in saved_corrections.items():
                assert visits[vid].version >= version, f"correction of visit {vid} to version {version} is missing"
            # nothing half-written: every visit has all its rows, exactly once current, and its audit entry
            current_obs = Counter(r.visit_id for r in s.execute(
                select(O.c.visit_id).where(O.c.visit_id.in_(list(visits)), O.c.superseded_at.is_(None))))
            current_codes = Counter((r.visit_id, r.code) for r in s.execute(
                select(O.c.visit_id, O.c.code).where(O.c.visit_id.in_(list(visits)), O.c.superseded_at.is_(None))))
            feats = Counter(r.visit_id for r in s.execute(
                select(F.c.visit_id).where(F.c.visit_id.in_(list(visits)), F.c.superseded_at.is_(None))))
            exams = Counter(r.visit_id for r in s.execute(
                select(X.c.visit_id).where(X.c.visit_id.in_(list(visits)), X.c.superseded_at.is_(None))))
            created = {r.entity_id for r in s.execute(select(A.c.entity_id).where(A.c.entity == "visit", A.c.action == "create"))}
            for vid in visits:
                assert current_obs[vid] == 6, f"visit {vid} has {current_obs[vid]} current observations instead of 6"
                assert feats[vid] == 2 and exams[vid] == 1, f"visit {vid} is missing features or exams"
                assert vid in created, f"visit {vid} has no audit entry"
            assert max(current_codes.values(), default=1) == 1
            corrections = s.execute(select(func.count()).select_from(A).where(A.c.action == "correct")).scalar_one()
            superseded = s.execute(select(func.count()).select_from(O).where(O.c.superseded_at.is_not(None),
                                                                           O.c.derived.is_(False))).scalar_one()
            assert corrections == superseded  # each corrected value: its old row superseded and one audit entry
            # imports: every batch whole or absent
            imported = Counter()
            for mrn, pid in s.execute(select(P.c.mrn, P.c.id).where(P.c.mrn.like("IMP-%"))):
                batch = mrn.rsplit("-", 1)[0][len("IMP-"):]
                imported[batch] += 1
                n_visits = s.execute(select(func.count()).select_from(V).where(V.c.patient_id == pid)).scalar_one()
                n_obs = s.execute(select(func.count()).select_from(O).join(V, V.c.id == O.c.visit_id)
                                  .where(V.c.patient_id == pid)).scalar_one()
                n_t = s.execute(select(func.count()).select_from(T).where(T.c.patient_id == pid)).scalar_one()
                n_e = s.execute(select(func.count()).select_from(E).where(E.c.patient_id == pid)).scalar_one()
                n_a = s.execute(select(func.count()).select_from(A).where(A.c.patient_id == pid, A.c.action == "import")).scalar_one()
                assert (n_visits, n_obs, n_t, n_e, n_a) == (2, 10, 1, 1, 1), f"imported patient {mrn} is incomplete"
            assert all(n == 3 for n in imported.values()), f"an import is partially present: {imported}"
            for batch in saved_imports:
                assert imported[batch] == 3, f"import {batch} was reported saved but is missing"
    finally:
        db.dispose()


def test_killed_writer_never_leaves_a_half_written_or_lost_save(tmp_path):
    started = time.monotonic()
    db_path = tmp_path / "crash.sqlite"
    _seed_database(db_path)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    rng = random.Random(20261121)
    zygote = Zygote(script, db_path)
    saved_visits: dict[int, str] = {}
    saved_corrections: dict[int, int] = {}
    saved_imports: set[str] = set()
    kills = 0
    try:
        zygote.expect("READY", [], timeout=60)
        for round_no in range(KILLS):
            lines: list[str] = []
            zygote.send(f"FORK {round_no}")
            pid = int(zygote.expect("PID", lines).split()[1])
            zygote.expect("GO", lines)
            time.sleep(rng.uniform(0.0, 0.5))  # a first save in a fresh worker takes 0.1-0.3 s (sealing included)
            os.kill(pid, signal.SIGKILL)
            kills += 1
            zygote.send(f"WAIT {pid}")
            dead = zygote.expect(f"DEAD {pid}", lines)
            assert dead.split()[2] == str(int(signal.SIGKILL)), dead
            for line in (x for x in lines if x.startswith("SAVED ")):
                kind, *rest = line.split()[1:]
                if kind == "visit":
                    saved_visits[int(rest[0])] = rest[1]
                elif kind == "correction":
                    saved_corrections[int(rest[0])] = max(saved_corrections.get(int(rest[0]), 0), int(rest[1]))
                elif kind == "import":
                    saved_imports.add(rest[0])
            _verify(db_path, saved_visits, saved_corrections, saved_imports)
    finally:
        zygote.close()
    elapsed = time.monotonic() - started
    print(f"{kills} kills, {len(saved_visits)} visits, {len(saved_corrections)} corrected visits, "
          f"{len(saved_imports)} imports reported saved, {elapsed:.1f} s")
    assert kills >= 50
    assert saved_visits and saved_imports and saved_corrections, "the kills must land among real writes"

    # and the command a person would run says the same
    result = subprocess.run([sys.executable, "-m", "poems_monitor", "check", "--db", str(db_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
