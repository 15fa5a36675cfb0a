"""Benchmark at clinic scale, each figure beside its floor measured in the same run (not a test).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/clinic_scale.py              # 2,000 patients
    PYTHONPATH=$PWD .venv/bin/python benchmarks/clinic_scale.py --patients 10000   # takes minutes

The clinic (the project's demo generator, seed 1, as of 2026-11-21) is written once as a
timeline JSON file and, after its first import, as a SQLite database, both kept in --cache
(default /tmp) and reused by later runs. Every measurement runs in a new child process so that
its peak memory (ru_maxrss) is its own. Figures and floors (issue 13):

- import: `import_timeline_file` of the clinic's JSON into an empty database (values/s, peak MB)
  vs SQLAlchemy Core executemany of the same patients, visits and values into an empty database
  (ids assigned in advance, rows built before the clock starts);
- export: timeline `export` and `export-csv` (s, peak MB) vs a plain sqlite3 read of every
  current value;
- first worklist from a cold rules cache (the cache is emptied first) vs that sqlite3 read;
- one save (a new visit for one patient), then the worklist again: the patient re-evaluated,
  beside a refresh with nothing changed;
- lab CSV import of --csv-rows rows (new visits of existing patients) vs the Core floor's rate.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

TODAY = date(2026, 11, 21)
SEED = 1

# Each child prints one JSON line: its figures and its peak resident memory.
_PRELUDE = """
import json, resource, sys, time
from datetime import date
def done(**figures):
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest worker
    print(json.dumps(figures))
"""

_IMPORT = _PRELUDE + """
from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.timeline_io import import_timeline_file
db = open_database(sys.argv[2])
t = time.perf_counter()
summary = import_timeline_file(db, sys.argv[1], Actor("benchmark", Role.ADMIN))
done(seconds=time.perf_counter() - t, values=summary.values_added, patients=summary.patients_created)
"""

# Where an import's time goes beyond the Core floor, each part alone: reading and checking the
# file (the domain's parser, nothing written), and the record seal's work on every row (read
# back, canonical form, digest: what `record_seal.seal` does at commit, here without writing).
_IMPORT_PARTS = _PRELUDE + """
from poems_monitor.persistence.db import open_database
from poems_monitor.services import record_seal
from poems_monitor.services.timeline_io import read_timeline_file
t = time.perf_counter(); patients, _ = read_timeline_file(sys.argv[1], date(2026, 11, 21))
t_parse = time.perf_counter() - t
del patients
db = open_database(sys.argv[2])
with db.read() as session:
    ids = record_seal._patients_in_record(session)
    t = time.perf_counter(); rows = 0
    for i in range(0, len(ids), record_seal.SEAL_BATCH):
        scopes = {}
        for scope, tbl, row_id, content, fields in record_seal.record_rows(session, ids[i:i + record_seal.SEAL_BATCH],
                                                                           global_scopes=False):
            scopes.setdefault(scope, []).append((tbl, row_id, content)); rows += 1
        for found in scopes.values():
            record_seal.digest_of(found)
    t_seal = time.perf_counter() - t
done(parse=t_parse, seal=t_seal, rows=rows)
"""

_CORE_FLOOR = _PRELUDE + """
import datetime as dt
from sqlalchemy import insert
from poems_monitor.domain.input_rules import mrn_key
from poems_monitor.models import Observation, Patient, Visit
from poems_monitor.persistence.db import open_database
db = open_database(sys.argv[2])
doc = json.load(open(sys.argv[1], encoding="utf-8"))
at, who, day = dt.datetime.now(dt.timezone.utc), "floor", dt.date.fromisoformat
patients, visits, values = [], [], []
for p in doc["patients"]:
    pid = len(patients) + 1
    patients.append(dict(id=pid, mrn=p["mrn"], mrn_key=mrn_key(p["mrn"]), name=p.get("name", ""), sex=p.get("sex"), birth_date=day(p["birth_date"]),
                         created_at=at, created_by=who, version=1))
    for v in p.get("visits", []):
        vid = len(visits) + 1
        visits.append(dict(id=vid, patient_id=pid, date=day(v["date"]), note="", created_at=at, created_by=who, version=1))
        for o in v.get("observations", []):
            num = o["value"] if isinstance(o["value"], (int, float)) else None
            values.append(dict(visit_id=vid, code=o["code"], value_num=num, value_text=None if num is not None else o["value"],
                               unit=o.get("unit", ""), entered_num=None, entered_unit=None, specimen=o.get("specimen"),
                               lab=None, method=None, qualifier=None, derived=False, entered_at=at, entered_by=who))
del doc
t = time.perf_counter()
with db.write() as s:
    s.execute(insert(Patient.__table__), patients)
    s.execute(insert(Visit.__table__), visits)
    s.execute(insert(Observation.__table__), values)
done(seconds=time.perf_counter() - t, values=len(values))
"""

_SQLITE_READ_FLOOR = _PRELUDE + """
import sqlite3
t = time.perf_counter()
con = sqlite3.connect(sys.argv[1])
n = 0
for n, row in enumerate(con.execute(
        "SELECT v.patient_id, v.date, o.code, o.value_num, o.value_text, o.unit, o.specimen, o.qualifier "
        "FROM observation o JOIN visit v ON v.id = o.visit_id WHERE o.superseded_at IS NULL "
        "ORDER BY v.patient_id, v.date"), 1):
    pass
done(seconds=time.perf_counter() - t, values=n)
"""

_EXPORT = _PRELUDE + """
from pathlib import Path
from poems_monitor.persistence.db import open_database
db = open_database(sys.argv[1])
t = time.perf_counter()
if sys.argv[3] == "json":
    from poems_monitor.services.timeline_io import export_timeline_file
    n = export_timeline_file(db, Path(sys.argv[2]))
else:
    from poems_monitor.services.csv_export import export_clinic_csv
    n = sum(export_clinic_csv(db, Path(sys.argv[2])).files.values())
done(seconds=time.perf_counter() - t, items=n)
"""

_WORKLIST = _PRELUDE + """
from poems_monitor.persistence.db import open_database
from poems_monitor.services import rules_cache
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from poems_monitor.services.worklist import build_worklist
if __name__ == "__main__":  # the rules' worker processes import this script again
    db = open_database(sys.argv[1]); as_of = date.fromisoformat(sys.argv[2]); mrn = sys.argv[3]
    if sys.argv[4] == "1":
        rules_cache.POOL_MIN_PATIENTS = None  # every record evaluated in this process
    rules_cache.clear_cache(db)
    t = time.perf_counter(); cold = build_worklist(db, as_of); t_cold = time.perf_counter() - t
    t = time.perf_counter(); build_worklist(db, as_of); t_refresh = time.perf_counter() - t
    def save(day):
        record_visit(db, Actor("benchmark", Role.ADMIN), mrn,
                     VisitInput(date=day, values=(EnteredValue("platelets", 250.0, unit="10*9/L"),)), today=as_of)
    save(as_of)
    t = time.perf_counter(); after = build_worklist(db, as_of); t_save = time.perf_counter() - t
    save(as_of.replace(day=as_of.day - 1))  # the one patient alone: its stamp, its record, its rules
    t = time.perf_counter(); g = rules_cache.gather(db, as_of, mrns=[mrn]); g.plan(g.heads[0].patient_id)
    t_one = time.perf_counter() - t
    from poems_monitor.persistence.repositories.timelines import load_timelines
    with db.read() as session:  # the same patient's parts: its record read, then its rules (no cache write)
        t = time.perf_counter(); record = load_timelines(session, mrns=[mrn])[0]; t_read_one = time.perf_counter() - t
        stamps = rules_cache.read_stamps(session, db, [record.patient_id])
    task = rules_cache._Task(as_of, {record.patient_id: stamps.of(record.patient_id)}, frozenset(), True, False, True)
    t = time.perf_counter(); rules_cache._evaluate(record, stamps.status.protocol, task); t_rules_one = time.perf_counter() - t
    import hashlib
    digest = hashlib.sha256(json.dumps(cold.to_json(), sort_keys=True).encode()).hexdigest()
    done(cold=t_cold, refresh=t_refresh, after_save=t_save, one_patient=t_one, recomputed=g.computed,
         read_one=t_read_one, rules_one=t_rules_one,
         items=len(cold.items), items_after=len(after.items), digest=digest)
"""

# Where the cold worklist's time goes, in one process: reading the records (load_timelines, a
# batch at a time) and the rules on them (flags, reduction, plan: pure Python in the domain),
# with the garbage collector paused as the cold evaluation pauses it. CLOCK is the timer the
# caller wants (wall here; benchmarks/rules_cold.py uses CPU time with the same script).
WORKLIST_PARTS_BODY = """
from sqlalchemy import select
from poems_monitor.models import Patient
from poems_monitor.persistence.db import open_database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.garbage_collector import collector_paused
from poems_monitor.services import rules_cache
db = open_database(sys.argv[1]); as_of = date.fromisoformat(sys.argv[2])
t_read = t_rules = 0.0
with db.read() as session, collector_paused():
    status = rules_cache.read_stamps(session, db)
    ids = list(session.execute(select(Patient.id).order_by(Patient.mrn)).scalars())
    task = rules_cache._Task(as_of, {pid: status.of(pid) for pid in ids}, frozenset(), True, False, True)
    for i in range(0, len(ids), rules_cache.GATHER_BATCH):
        t = CLOCK(); records = load_timelines(session, patient_ids=ids[i:i + rules_cache.GATHER_BATCH])
        t_read += CLOCK() - t
        t = CLOCK()
        for r in records:
            rules_cache._evaluate(r, status.status.protocol, task)
        t_rules += CLOCK() - t
        del records
done(read=t_read, rules=t_rules)
"""
_WORKLIST_PARTS = _PRELUDE + WORKLIST_PARTS_BODY.replace("CLOCK", "time.perf_counter")

_LAB_CSV = _PRELUDE + """
from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.lab_import import import_lab_csv_file
db = open_database(sys.argv[1])
t = time.perf_counter()
summary = import_lab_csv_file(db, Actor("benchmark", Role.ADMIN), sys.argv[2], "iso", source="benchmark")
assert summary.values_added == int(sys.argv[3]), summary
done(seconds=time.perf_counter() - t, rows=int(sys.argv[3]))
"""

# Values of the lab CSV: inside the reference range, so nothing critical or impossible.
_LAB_VALUES = (("calcium", "9.5", "mg/dL"), ("creatinine", "0.9", "mg/dL"), ("albumin", "4.2", "g/dL"),
               ("tsh", "2.1", "m[IU]/L"), ("glucose_fasting", "85", "mg/dL"))


def child(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        sys.exit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_clinic_json(path: Path, count: int) -> None:
    """The demo clinic as a timeline file, generated 250 patients at a time (never all in memory)."""
    from poems_monitor.domain.timeline_json import FORMAT_NAME, FORMAT_VERSION, patient_to_json
    from poems_monitor.services.demo_clinic import generate_patients

    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION})[:-1] + ', "patients": [\n')
        for start in range(0, count, 250):
            for i, p in enumerate(generate_patients(min(250, count - start), SEED, TODAY, first_index=start)):
                fh.write(("," if start or i else "") + json.dumps(patient_to_json(p), ensure_ascii=False) + "\n")
        fh.write("]}\n")
    tmp.replace(path)


def copy_database(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    src.close(), dst.close()


def write_lab_csv(path: Path, rows: int, mrns: list[str], visit_days: dict[str, set[str]] | None = None) -> int:
    """`rows` new results: per patient a visit a day after TODAY, five values each, then (for
    more rows than eight days hold) on earlier days on which the patient has no visit."""
    visit_days = visit_days or {}
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("mrn,date,code,value,unit\n")
        day = 8  # the dates stay before the real today (no future dates)
        while written < rows and day > -3000:
            when = (TODAY + timedelta(days=day)).isoformat()
            for mrn in mrns:
                if when in visit_days.get(mrn, ()):
                    continue
                for code, value, unit in _LAB_VALUES:
                    if written == rows:
                        break
                    fh.write(f"{mrn},{when},{code},{value},{unit}\n")
                    written += 1
            day -= 1
    return written


def line(what: str, figure: str, floor: str, ratio: float | None, peak: float | None) -> None:
    ratio_text = f"{ratio:6.1f}x" if ratio is not None else "       "
    peak_text = f"{peak:7.0f} MB" if peak is not None else ""
    print(f"{what:<44} {figure:>16}   floor {floor:>16}  {ratio_text}  peak {peak_text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000, help="2000 (default) or 10000 (takes minutes)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()), help="where the clinic files are kept")
    parser.add_argument("--csv-rows", type=int, default=100_000, help="rows of the lab CSV import (0: skip)")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip: import,export,worklist,csv")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.cache.mkdir(parents=True, exist_ok=True)
    stem = args.cache / f"poems-clinic-{args.patients}-seed{SEED}"
    clinic_json, clinic_db = stem.with_suffix(".json"), stem.with_suffix(".sqlite")
    if not clinic_json.exists():
        t = time.perf_counter()
        write_clinic_json(clinic_json, args.patients)
        print(f"generated {clinic_json} ({clinic_json.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s")
    print(f"clinic: {args.patients} patients, {clinic_json} ({clinic_json.stat().st_size / 1e6:.0f} MB); "
          f"{os.cpu_count()} cores; python {sys.version.split()[0]}", flush=True)

    with tempfile.TemporaryDirectory(prefix="poems-bench-", dir=args.cache) as scratch_dir:
        scratch = Path(scratch_dir)
        floor_db = scratch / "floor.sqlite"
        core = child(_CORE_FLOOR, str(clinic_json), str(floor_db))
        core_rate = core["values"] / core["seconds"]
        if "import" not in skip or not clinic_db.exists():
            imported = scratch / "import.sqlite"
            r = child(_IMPORT, str(clinic_json), str(imported))
            rate = r["values"] / r["seconds"]
            line("import timeline JSON (values/s)", f"{rate:,.0f}", f"{core_rate:,.0f}", core_rate / rate, r["peak_mb"])
            line("  ... seconds", f"{r['seconds']:.1f} s", f"{core['seconds']:.1f} s", None, core["peak_mb"])
            if not clinic_db.exists():
                copy_database(imported, clinic_db)
            parts = child(_IMPORT_PARTS, str(clinic_json), str(imported))
            line("  of which parsing the file (domain)", f"{parts['parse']:.1f} s", f"{core['seconds']:.1f} s",
                 parts["parse"] / core["seconds"], None)
            line(f"  of which sealing {parts['rows']:,} rows", f"{parts['seal']:.1f} s", f"{core['seconds']:.1f} s",
                 parts["seal"] / core["seconds"], None)
            floor = core["seconds"] + parts["parse"] + parts["seal"]
            line("  import beside Core + parsing + sealing", f"{rate:,.0f}", f"{r['values'] / floor:,.0f}",
                 r["seconds"] / floor, None)
        read = child(_SQLITE_READ_FLOOR, str(clinic_db))
        read_floor = f"{read['seconds']:.2f} s"
        if "export" not in skip:
            r = child(_EXPORT, str(clinic_db), str(scratch / "export.json"), "json")
            line("export timeline JSON", f"{r['seconds']:.1f} s", read_floor, r["seconds"] / read["seconds"], r["peak_mb"])
            r = child(_EXPORT, str(clinic_db), str(scratch / "csv"), "csv")
            line("export-csv (every table)", f"{r['seconds']:.1f} s", read_floor, r["seconds"] / read["seconds"], r["peak_mb"])
        if "worklist" not in skip:
            work_db = scratch / "work.sqlite"
            copy_database(clinic_db, work_db)
            mrn = sqlite3.connect(clinic_db).execute("SELECT mrn FROM patient ORDER BY mrn LIMIT 1").fetchone()[0]
            digests = set()
            for processes in ("2", "1"):
                copy_database(clinic_db, work_db)
                r = child(_WORKLIST, str(work_db), TODAY.isoformat(), mrn, processes)
                digests.add(r["digest"])
                line(f"first worklist, cold rules cache ({processes} proc.)", f"{r['cold']:.1f} s", read_floor,
                     r["cold"] / read["seconds"], r["peak_mb"])
                if processes == "2":
                    print(f"{'':<44} {'':>16}   {'':>22}  {'':>7}  each worker {r['children_peak_mb']:.0f} MB")
            print(f"  the same worklist ({r['items']:,} rows) from both: {'yes' if len(digests) == 1 else 'NO'}")
            r_parts = child(_WORKLIST_PARTS, str(clinic_db), TODAY.isoformat())
            line("  of which reading the records (1 proc.)", f"{r_parts['read']:.1f} s", read_floor,
                 r_parts["read"] / read["seconds"], None)
            line("  of which the rules on them (1 proc.)", f"{r_parts['rules']:.1f} s", read_floor,
                 r_parts["rules"] / read["seconds"], None)
            line("  worklist refresh, nothing changed", f"{r['refresh'] * 1000:.0f} ms", "", None, None)
            line("  worklist after one save (1 patient)", f"{r['after_save'] * 1000:.0f} ms",
                 f"{r['refresh'] * 1000:.0f} ms", r["after_save"] / r["refresh"], None)
            line(f"  that patient alone ({r['recomputed']} re-evaluated)", f"{r['one_patient'] * 1000:.0f} ms", "", None,
                 None)
            line("    its record read / its rules", f"{r['read_one'] * 1000:.0f} / {r['rules_one'] * 1000:.0f} ms", "",
                 None, None)
        if "csv" not in skip and args.csv_rows:
            csv_db, csv_file = scratch / "csv.sqlite", scratch / "labs.csv"
            copy_database(clinic_db, csv_db)
            mrns = [row[0] for row in sqlite3.connect(clinic_db).execute(  # nothing is recorded after a death
                "SELECT mrn FROM patient p WHERE NOT EXISTS (SELECT 1 FROM event e WHERE e.patient_id = p.id "
                "AND e.type = 'death' AND e.deleted_at IS NULL) ORDER BY mrn")]
            visit_days: dict[str, set[str]] = {}
            for mrn, day in sqlite3.connect(clinic_db).execute(
                    "SELECT p.mrn, v.date FROM visit v JOIN patient p ON p.id = v.patient_id"):
                visit_days.setdefault(mrn, set()).add(day)
            n = write_lab_csv(csv_file, args.csv_rows, mrns, visit_days)
            r = child(_LAB_CSV, str(csv_db), str(csv_file), str(n))
            rate = n / r["seconds"]
            line(f"lab CSV import, {n:,} rows (rows/s)", f"{rate:,.0f}", f"{core_rate:,.0f}", core_rate / rate, r["peak_mb"])
        print(f"floors: Core executemany peak {core['peak_mb']:.0f} MB (rows built first); "
              f"sqlite3 read of {read['values']:,} current values, peak {read['peak_mb']:.0f} MB")
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
