"""Concurrency run: five workstations saving visits on one clinic server, and a sixth listening.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/workstations.py                      # 10,000 patients, 600 s
    PYTHONPATH=$PWD .venv/bin/python benchmarks/workstations.py --patients 2000 --seconds 120
    PYTHONPATH=$PWD .venv/bin/python benchmarks/workstations.py --clinic COPY.sqlite --owner-url URL  # migrate --to
    PYTHONPATH=$PWD .venv/bin/python benchmarks/workstations.py --imported --owner-url URL  # imported already

Not a test: a throwaway TLS PostgreSQL server is started for the run (tests/pg_server.py; or give
--owner-url of an empty database you own) and set up as `server init` does: schema, group roles,
an administrator login, then one nurse login per workstation and a physician login for the
listener, each signing in with its own SCRAM password. The clinic is the project's demo
generator (seed 1), imported once; each workstation also gets a few "hot" visits that every
workstation corrects, so that edits collide.

Each workstation is a process with its own login and `Database`. For --seconds it loops:
half the time a new visit for a random patient on a random recent date (a date that already
has a visit is refused with a sentence), half the time a correction of a hot visit as a form does
it (read, a short pause as the nurse types, save against the version read). It counts saves,
conflicts refused with the version check's sentence (ConcurrentEdit), other refusals, busy
answers, deadlocks and tracebacks (any other exception). Each acknowledged save is logged with
its unique note and the wall-clock time its transaction committed.

The listener process LISTENs on `poems_changes` (services.live_updates.ChangeListener) and logs
when each announcement arrives; the announcement names the writing handle (`origin`) and the
patient, so each save is matched to its announcement: latency = arrival - commit (same machine,
same clock). At the end every acknowledged save is checked in the database: a new visit with
its note and value; each hot visit's corrections with distinct versions, one audit entry each,
the final note the one of the highest acknowledged version (no lost update).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

TODAY = date(2026, 11, 21)
SEED = 1
WORKSTATIONS = 5
HOT_VISITS = 12  # visits every workstation corrects (collisions on purpose)
PASSWORD = "benchmark password {name} 1"  # a throwaway server's throwaway logins


def _password(name: str) -> str:
    return PASSWORD.format(name=name)


# ----------------------------------------------------------------------------------------------
# set-up
# ----------------------------------------------------------------------------------------------
def set_up(owner_url: str, patients: int, clinic: Path | None = None, imported: bool = False
           ) -> tuple[list[str], list[int]]:
    """Schema, roles and logins as `server init` and `users add` make them; the demo clinic (or
    the SQLite clinic file `clinic`, moved onto the server with `migrate --to` and timed; or, when
    `imported`, the clinic `poems-monitor import` put into the database already); the hot visits.
    Returns the patients' MRNs and the hot visits' ids."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services import clinic_server
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.demo_clinic import generate_patients
    from poems_monitor.services.errors import InputRefused
    from poems_monitor.services.timeline_io import import_patients
    from poems_monitor.services.users import add_user
    from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit

    boss = Actor("boss", Role.ADMIN)
    if clinic is not None:
        from poems_monitor.services.server_migration import migrate_to_server

        source = open_database(clinic)
        started = time.perf_counter()
        try:
            moved = migrate_to_server(source, owner_url, boss)
        finally:
            source.dispose()
        print(f"  migrate --to: {sum(moved.rows.values()):,} rows ({moved.rows.get('patient', 0):,} patients, "
              f"{moved.rows.get('observation', 0):,} values) in {time.perf_counter() - started:.0f} s, checks "
              f"included; problems: source {len(moved.source_problems)}, target {len(moved.target_problems)}",
              flush=True)
    else:
        clinic_server.ensure_database(owner_url)
    db = open_database(owner_url, migrate=False)
    try:
        clinic_server.upgrade_server(db)
        add_user(db, boss, "boss", Role.ADMIN, _password("boss"), reason="benchmark set-up")
        for i in range(1, WORKSTATIONS + 1):
            add_user(db, boss, f"nurse{i}", Role.NURSE, _password(f"nurse{i}"), reason="benchmark set-up")
        add_user(db, boss, "watcher", Role.PHYSICIAN, _password("watcher"), reason="benchmark set-up")
        if clinic is None and not imported:
            started = time.perf_counter()
            records = generate_patients(patients, SEED, TODAY)
            for first in range(0, len(records), 500):
                import_patients(db, records[first:first + 500], boss, reason="benchmark demo clinic")
                print(f"  {first + 500:,} patients imported ({time.perf_counter() - started:.0f} s)", flush=True)
            print(f"  imported {patients:,} demo patients in {time.perf_counter() - started:.0f} s", flush=True)
            mrns = [p.mrn for p in records]
        else:
            from sqlalchemy import text

            with db.read() as session:
                mrns = list(session.execute(text("SELECT mrn FROM patient ORDER BY id")).scalars())
        hot = []
        for mrn in mrns[:HOT_VISITS]:
            for back in range(30):  # a day without a visit yet
                try:
                    saved = record_visit(db, boss, mrn, VisitInput(TODAY - timedelta(days=back), (
                        EnteredValue("platelets", 250, "10*9/L"),), note="hot visit"), today=TODAY)
                    break
                except InputRefused:
                    continue
            hot.append(saved.visit_id)
        return mrns, hot
    finally:
        db.dispose()


def login_url(owner_url: str, login: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(owner_url).set(username=login, password=None).render_as_string(hide_password=False)


# ----------------------------------------------------------------------------------------------
# a workstation
# ----------------------------------------------------------------------------------------------
def workstation(index: int, url: str, mrns: list[str], hot: list[int], start_at: float, seconds: float,
                out: str) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from poems_monitor.persistence.db import DatabaseBusy, open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.errors import ConcurrentEdit, InputRefused
    from poems_monitor.services.live_updates import ANNOUNCED_KEY
    from poems_monitor.services.visits import (
        EnteredValue,
        VisitInput,
        correct_visit,
        open_visit,
        record_visit,
    )

    name = f"nurse{index}"
    db = open_database(url, password=_password(name))
    actor = Actor(name, Role.NURSE)
    # when the last announcing transaction sent its COMMIT to the server (the engine's "commit" event
    # comes just before the driver's commit, after the audit seal and the pg_notify)
    sent, committed = [0.0], [0.0]

    def commit_sent(_connection) -> None:
        sent[0] = time.time()

    def after(session: Session) -> None:
        if session.info.get(ANNOUNCED_KEY):
            committed[0] = sent[0]
    event.listen(Engine, "commit", commit_sent)
    event.listen(Session, "after_commit", after)
    rng = random.Random(index)
    counts: Counter = Counter()
    acks: list[dict] = []
    samples: dict[str, str] = {}
    time.sleep(max(0.0, start_at - time.time()))
    end, n = time.time() + seconds, 0
    while time.time() < end:
        n += 1
        note = f"{name}-{n}"
        value = rng.randint(150, 440)
        try:
            if rng.random() < 0.5:
                mrn = rng.choice(mrns)
                day = TODAY - timedelta(days=rng.randint(1, 700))
                saved = record_visit(db, actor, mrn, VisitInput(day, (EnteredValue("platelets", value, "10*9/L"),),
                                                                note=note), today=TODAY)
                acks.append({"kind": "new", "visit": saved.visit_id, "version": saved.version, "note": note,
                             "value": value, "mrn": mrn, "at": committed[0]})
            else:
                visit_id = rng.choice(hot)
                opened = open_visit(db, visit_id)
                time.sleep(rng.uniform(0.0, 0.05))  # the nurse types
                saved = correct_visit(db, actor, visit_id, opened.version, VisitInput(
                    opened.date, (EnteredValue("platelets", value, "10*9/L"),), note=note), "benchmark correction",
                    today=TODAY)
                acks.append({"kind": "correct", "visit": visit_id, "version": saved.version, "note": note,
                             "value": value, "mrn": saved.changes and sorted(saved.changes.patients)[0],
                             "at": committed[0]})
            counts["saves"] += 1
        except ConcurrentEdit as clash:
            counts["conflicts"] += 1
            samples.setdefault("conflict", str(clash))
        except InputRefused as refused:
            counts["refused"] += 1
            samples.setdefault("refused", str(refused))
        except DatabaseBusy as busy:
            counts["busy"] += 1
            samples.setdefault("busy", str(busy))
        except Exception as exc:  # noqa: BLE001 (what the run is here to find)
            kind = "deadlocks" if "deadlock" in str(exc).lower() else "tracebacks"
            counts[kind] += 1
            samples.setdefault(kind, traceback.format_exc())
    Path(out).write_text(json.dumps({"name": name, "origin": db.origin, "counts": counts, "acks": acks,
                                     "samples": samples}), encoding="utf-8")
    db.dispose()


# ----------------------------------------------------------------------------------------------
# the listener
# ----------------------------------------------------------------------------------------------
def listener(url: str, stop, ready, out: str) -> None:
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.live_updates import ChangeListener

    db = open_database(url, password=_password("watcher"))
    heard = ChangeListener(db)
    heard.connect()
    ready.set()
    arrivals, unreachable = [], 0
    while not stop.is_set():
        for a in heard.wait(0.5):
            arrivals.append((time.time(), a.origin, sorted(a.changes.patients)))
        unreachable += not heard.reachable
    heard.close()
    Path(out).write_text(json.dumps({"arrivals": arrivals, "unreachable_polls": unreachable}), encoding="utf-8")
    db.dispose()


# ----------------------------------------------------------------------------------------------
# checking and figures
# ----------------------------------------------------------------------------------------------
def verify(owner_url: str, results: list[dict]) -> dict:
    """Every acknowledged save in the database as acknowledged: returns the problems found."""
    from sqlalchemy import select

    from poems_monitor.models import AuditEntry, Observation, Visit
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.audit import verify_chain

    V, O, A = Visit.__table__, Observation.__table__, AuditEntry.__table__  # noqa: N806, E741 (SQL table aliases)
    acks = [a for r in results for a in r["acks"]]
    problems: list[str] = []
    db = open_database(owner_url)
    try:
        with db.read() as session:
            visits = {r.id: r for r in session.execute(select(V.c.id, V.c.version, V.c.note))}
            current = {r.visit_id: r.value_num for r in session.execute(
                select(O.c.visit_id, O.c.value_num).where(O.c.code == "platelets", O.c.superseded_at.is_(None)))}
            corrections: dict[int, list[str]] = defaultdict(list)
            for row in session.execute(select(A.c.entity_id, A.c.new).where(A.c.entity == "visit",
                                                                            A.c.action == "correct")):
                corrections[row.entity_id].append(json.loads(row.new).get("note"))
            chain = verify_chain(session)
        for a in acks:
            if a["kind"] != "new":
                continue
            v = visits.get(a["visit"])
            if v is None or v.note != a["note"] or current.get(a["visit"]) != a["value"]:
                problems.append(f"new visit {a['visit']} ({a['note']}) not stored as acknowledged")
        by_visit: dict[int, list[dict]] = defaultdict(list)
        for a in acks:
            if a["kind"] == "correct":
                by_visit[a["visit"]].append(a)
        for visit_id, done in by_visit.items():
            versions = [a["version"] for a in done]
            if len(set(versions)) != len(versions):
                problems.append(f"visit {visit_id}: two saves acknowledged with the same version (a lost update)")
            last = max(done, key=lambda a: a["version"])
            v = visits[visit_id]
            if v.version != last["version"] or v.note != last["note"] or current.get(visit_id) != last["value"]:
                problems.append(f"visit {visit_id}: stored version {v.version} '{v.note}', the newest acknowledged "
                                f"is {last['version']} '{last['note']}'")
            if sorted(corrections[visit_id]) != sorted(a["note"] for a in done):
                problems.append(f"visit {visit_id}: {len(corrections[visit_id])} corrections audited, "
                                f"{len(done)} acknowledged")
        if chain:
            problems.append(f"audit chain: {len(chain)} problems")
    finally:
        db.dispose()
    return {"acknowledged": len(acks), "problems": problems}


def latencies(results: list[dict], arrivals: list) -> tuple[list[float], int, int]:
    """Commit-to-arrival seconds of every acknowledged save matched to its announcement (by the
    writing handle and the patient, in commit order), the saves never announced, and the
    announcements matching no acknowledged save."""
    heard: dict[tuple[str, str], list[float]] = defaultdict(list)
    for at, origin, patients in arrivals:
        for mrn in patients:
            heard[(origin, mrn)].append(at)
    seconds, missing = [], 0
    for r in results:
        mine: dict[str, list[float]] = defaultdict(list)
        for a in r["acks"]:
            mine[a["mrn"]].append(a["at"])
        for mrn, commits in mine.items():
            got = heard.pop((r["origin"], mrn), [])
            missing += max(0, len(commits) - len(got))
            seconds += [g - c for c, g in zip(sorted(commits), sorted(got))]
    extra = sum(len(v) for v in heard.values())
    if missing or extra:
        print(f"  (unmatched announcements: {dict((k, len(v)) for k, v in heard.items())})")
    return seconds, missing, extra


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def machine() -> str:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores{(' ' + model) if model else ''}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--owner-url", help="an empty database on a server you own (default: a throwaway server)")
    parser.add_argument("--imported", action="store_true", help="the database at --owner-url holds the clinic "
                        "already (`poems-monitor --db URL import FILE`, without accounts yet)")
    parser.add_argument("--clinic", type=Path, help="an SQLite clinic file (a copy: it is only read) moved onto the "
                        "server with migrate --to, instead of generating and importing the demo clinic")
    args = parser.parse_args(argv)

    server = None
    if args.owner_url:
        owner_url = args.owner_url
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.pg_server import start_server

        server = start_server()
        owner_url = server.url("clinic_run")
    work = Path(tempfile.mkdtemp(prefix="poems-workstations-"))
    try:
        print(f"Machine: {machine()}")
        print(f"Setting up {owner_url.split('?')[0]} ...", flush=True)
        mrns, hot = set_up(owner_url, args.patients, args.clinic, args.imported)
        args.patients = len(mrns)
        ctx = multiprocessing.get_context("spawn")
        ready, stop = ctx.Event(), ctx.Event()
        start_at = time.time() + 15  # every process started and signed in first (a loaded machine is slow)
        watcher = ctx.Process(target=listener, args=(login_url(owner_url, "watcher"), stop, ready,
                                                     str(work / "listener.json")))
        watcher.start()
        ready.wait(30)
        procs = [ctx.Process(target=workstation, args=(i, login_url(owner_url, f"nurse{i}"), mrns, hot, start_at,
                                                       args.seconds, str(work / f"ws{i}.json")))
                 for i in range(1, WORKSTATIONS + 1)]
        for p in procs:
            p.start()
        print(f"{WORKSTATIONS} workstations saving for {args.seconds:.0f} s on {args.patients:,} patients ...",
              flush=True)
        loads = []
        while any(p.is_alive() for p in procs):  # the machine's load, once a minute (it is shared)
            for p in procs:
                p.join(timeout=60 / len(procs))
            loads.append(f"{os.getloadavg()[0]:.1f}")
        time.sleep(2)  # the last announcements in flight
        stop.set()
        watcher.join()
        crashed = [p.exitcode for p in procs + [watcher] if p.exitcode != 0]
        results = [json.loads((work / f"ws{i}.json").read_text()) for i in range(1, WORKSTATIONS + 1)
                   if (work / f"ws{i}.json").exists()]
        heard = json.loads((work / "listener.json").read_text()) if (work / "listener.json").exists() else {
            "arrivals": [], "unreachable_polls": 0}
        totals: Counter = Counter()
        for r in results:
            totals.update(r["counts"])
        checked = verify(owner_url, results)
        seconds, missing, extra = latencies(results, heard["arrivals"])

        print(f"\nFigures ({WORKSTATIONS} workstations, {args.seconds:.0f} s, {args.patients:,} patients, "
              f"{machine()}):")
        print(f"  load average at the end (1/5/15 min): {' / '.join(f'{x:.1f}' for x in os.getloadavg())}; "
              f"during the run: {', '.join(loads)}")
        print(f"  saves acknowledged:          {totals['saves']:,} ({totals['saves'] / args.seconds:.1f}/s)")
        for r in results:
            print(f"    {r['name']}: {r['counts'].get('saves', 0):,} saves, {r['counts'].get('conflicts', 0)} conflicts")
        print(f"  conflicts refused (ConcurrentEdit, with its sentence): {totals['conflicts']:,}")
        print(f"  other refusals (a date with a visit already): {totals['refused']:,}")
        print(f"  busy (write waited too long): {totals['busy']:,}")
        print(f"  deadlocks: {totals['deadlocks']}   tracebacks: {totals['tracebacks']}   "
              f"crashed processes: {len(crashed)}")
        print(f"  lost updates / stored differently: {len(checked['problems'])} "
              f"(of {checked['acknowledged']:,} acknowledged saves checked)")
        for problem in checked["problems"][:10]:
            print(f"    {problem}")
        if seconds:
            ms = [max(0.0, s) * 1000 for s in seconds]
            print(f"  NOTIFY latency commit -> listener: p50 {statistics.median(ms):.1f} ms, "
                  f"p95 {_percentile(ms, 95):.1f} ms, max {max(ms):.1f} ms "
                  f"({len(ms):,} saves matched; {missing} never announced, {extra} announcements unmatched)")
        for r in results:
            for kind, text in r["samples"].items():
                if kind in ("tracebacks", "deadlocks"):
                    print(f"--- {r['name']} {kind} (first):\n{text}")
        conflict = next((r["samples"]["conflict"] for r in results if "conflict" in r["samples"]), None)
        if conflict:
            print(f"  a conflict's sentence: {conflict}")
        bad = totals["deadlocks"] + totals["tracebacks"] + len(crashed) + len(checked["problems"]) + missing
        return 1 if bad else 0
    finally:
        if server is not None:
            server.remove()


if __name__ == "__main__":
    sys.exit(main())
