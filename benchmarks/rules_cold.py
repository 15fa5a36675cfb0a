"""The rules over a whole clinic from a cold cache, beside the read floor, for one or more code
trees measured in turns (not a test; issue 13).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/rules_cold.py /work/bench/poems-clinic-2000-seed1.sqlite \\
        --trees /work/main $PWD --rounds 2

On a shared machine wall times move with the load: each round measures, for every tree in turn,
the floor (a plain sqlite3 read of every current value), the rules' inputs floor (a plain
sqlite3 read of every row the rules read, in their batches: see _INPUTS_FLOOR), the first worklist from an emptied
rules cache in one process and with the worker processes, and the split of the one-process
work into reading the records and the rules on them. Each figure is given as wall time and CPU
time (this process and its workers: what the load does not inflate), both as ratios to the
floor of the same round; peak memory is the child's own (workers: the largest).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from clinic_scale import WORKLIST_PARTS_BODY  # (this folder is on sys.path when the script runs)

_PRELUDE = """
import json, resource, sys, time
from datetime import date
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
def done(**figures):
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["worker_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(figures))
"""

_FLOOR = _PRELUDE + """
import sqlite3
c, t = cpu(), time.perf_counter()
con = sqlite3.connect(sys.argv[1])
n = 0
for n, row in enumerate(con.execute(
        "SELECT v.patient_id, v.date, o.code, o.value_num, o.value_text, o.unit, o.specimen, o.qualifier "
        "FROM observation o JOIN visit v ON v.id = o.visit_id WHERE o.superseded_at IS NULL "
        "ORDER BY v.patient_id, v.date"), 1):
    pass
done(wall=time.perf_counter() - t, cpu=cpu() - c, values=n)
"""

# The floor of the rules' own reading: every row the rules read (patients, visits, values with
# the 13 columns a record keeps, feature statuses, exams, treatments, events; current rows only),
# with the same SQL shape, GATHER_BATCH patients at a time in MRN order, fetched as the driver's
# tuples and dropped: what any evaluation of these records must at least do with this schema.
_INPUTS_FLOOR = _PRELUDE + """
import sqlite3
c, t = cpu(), time.perf_counter()
con = sqlite3.connect(sys.argv[1])
ids = [r[0] for r in con.execute("SELECT id FROM patient ORDER BY mrn")]
live = "superseded_at IS NULL"
queries = (
    "SELECT id, mrn, name, sex, birth_date, diagnosis_date FROM patient WHERE id IN ({ids}) ORDER BY mrn",
    "SELECT visit_id, code, value_num, value_text, unit, entered_num, entered_unit, specimen, lab, method, qualifier, "
    "derived, confirmed_at_entry FROM observation WHERE " + live + " AND visit_id IN "
    "(SELECT id FROM visit WHERE patient_id IN ({ids})) ORDER BY visit_id, id",
    "SELECT visit_id, code, status FROM feature_status WHERE " + live + " AND visit_id IN "
    "(SELECT id FROM visit WHERE patient_id IN ({ids})) ORDER BY visit_id, code",
    "SELECT visit_id, kind, result, note FROM exam WHERE " + live + " AND visit_id IN "
    "(SELECT id FROM visit WHERE patient_id IN ({ids})) ORDER BY visit_id, id",
    "SELECT id, patient_id, date, note FROM visit WHERE patient_id IN ({ids}) ORDER BY patient_id, date",
    "SELECT patient_id, regimen, start, stop, thromboprophylaxis, name, engraftment_date, melphalan_mg, note, id "
    "FROM treatment WHERE deleted_at IS NULL AND patient_id IN ({ids}) ORDER BY patient_id, start, id",
    "SELECT patient_id, type, date, note, id FROM event WHERE deleted_at IS NULL AND patient_id IN ({ids}) "
    "ORDER BY patient_id, date, id",
)
n = 0
for i in range(0, len(ids), 50):
    listed = ", ".join(str(x) for x in ids[i:i + 50])
    for q in queries:
        n += len(con.execute(q.format(ids=listed)).fetchall())
done(wall=time.perf_counter() - t, cpu=cpu() - c, rows=n)
"""

_COLD = _PRELUDE + """
import hashlib
from poems_monitor.persistence.db import open_database
from poems_monitor.services import rules_cache
from poems_monitor.services.worklist import build_worklist
if __name__ == "__main__":  # the rules' worker processes import this script again
    db = open_database(sys.argv[1]); as_of = date.fromisoformat(sys.argv[2])
    if sys.argv[3] == "1":
        rules_cache.POOL_MIN_PATIENTS = None
    rules_cache.clear_cache(db)
    c, t = cpu(), time.perf_counter()
    wl = build_worklist(db, as_of)
    wall, used = time.perf_counter() - t, cpu() - c
    done(wall=wall, cpu=used, items=len(wl.items),
         digest=hashlib.sha256(json.dumps(wl.to_json(), sort_keys=True).encode()).hexdigest()[:16])
"""

_PARTS = _PRELUDE + WORKLIST_PARTS_BODY.replace("CLOCK", "time.process_time")  # the same split, in CPU time


def child(tree: str, script: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=tree)
    if out.returncode != 0:
        sys.exit(f"failed in {tree}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def copy_database(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clinic", type=Path)
    parser.add_argument("--trees", nargs="+", default=[os.getcwd()])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--as-of", default="2026-11-21")
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {tree: {} for tree in args.trees}
    with tempfile.TemporaryDirectory(prefix="rules-cold-") as tmp:
        work = Path(tmp) / "work.sqlite"
        for round_ in range(args.rounds):
            for tree in args.trees:
                mine = figures[tree]
                before = load()
                floor = child(tree, _FLOOR, str(args.clinic))
                inputs = child(tree, _INPUTS_FLOOR, str(args.clinic))
                for kind in ("wall", "cpu"):
                    mine.setdefault(f"inputs floor {kind}", []).append(inputs[kind] / floor[kind])
                row = [f"round {round_ + 1} {tree}: load {before};", f"floor {floor['wall']:.2f} s ({floor['cpu']:.2f} s CPU)",
                       f"the rules' inputs read {inputs['wall']:.2f} s ({inputs['cpu']:.2f} s CPU, {inputs['rows']} rows);"]
                for processes in ("1", "2"):
                    copy_database(args.clinic, work)
                    r = child(tree, _COLD, str(work), args.as_of, processes)
                    for kind in ("wall", "cpu"):
                        mine.setdefault(f"cold {processes} proc. {kind}", []).append(r[kind] / floor[kind])
                    mine.setdefault(f"cold {processes} proc. peak MB", []).append(r["peak_mb"])
                    if processes == "2":
                        mine.setdefault("cold 2 proc. worker MB", []).append(r["worker_mb"])
                    row.append(f"cold {processes} proc. {r['wall']:.1f} s ({r['cpu']:.1f} s CPU) {r['peak_mb']:.0f} MB "
                               f"worklist {r['digest']} ({r['items']} rows)")
                parts = child(tree, _PARTS, str(args.clinic), args.as_of)
                for part in ("read", "rules"):
                    mine.setdefault(f"{part} (CPU)", []).append(parts[part] / floor["cpu"])
                row.append(f"records {parts['read']:.1f} s CPU, rules {parts['rules']:.1f} s CPU; load after {load()}")
                print(" ".join(row), flush=True)
    print("\nmedians of the ratios to the floor of the same round (wall; CPU: this process and its workers)")
    for tree, mine in figures.items():
        print(tree)
        for name, values in mine.items():
            unit = "" if "MB" in name else "x"
            print(f"  {name:<28} {statistics.median(values):7.2f}{unit}   ({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
