"""Benchmark of the clinical rules over a whole clinic: worklist and flags (not a test).

Run it and copy the figures into the README:

    .venv/bin/python benchmarks/rules.py --patients 2000

Builds a demo clinic (services.demo_clinic) in a temporary SQLite file, then times:
- the first worklist after the import (empty rules cache: every full timeline is read, flags and
  reduced timelines are computed and stored): paid once after an import, a protocol change or
  an upgrade of the rules;
- the worklist and all flags in a new process (cache table filled, nothing parsed yet in
  memory): what `poems-monitor worklist` costs, for an as-of asked before (the rows of the last
  as-of asked for are kept) and for a new one (the first worklist of the day);
- the worklist and all flags refreshed in the same process (what a screen pays on refresh);
- one patient's dashboard-relevant figures: its worklist rows, its flags, its dashboard;
- for comparison, the same worklist computed from the full timelines without the cache.
Each figure is the median of --repeat runs. With --check, the cached worklist and flags are
compared with the domain rules on the full timelines (they must be equal).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from poems_monitor.persistence.db import open_database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients

TODAY = date(2026, 11, 21)

_CHILD = """
import sys, time, json
from datetime import date
from poems_monitor.persistence.db import open_database
t0 = time.perf_counter()
from poems_monitor.services.worklist import build_worklist, clinic_flags
db = open_database(sys.argv[1]); as_of = date.fromisoformat(sys.argv[2])
t1 = time.perf_counter(); wl = build_worklist(db, as_of); t2 = time.perf_counter()
fl = clinic_flags(db, as_of); t3 = time.perf_counter()
print(json.dumps({"worklist": t2 - t1, "flags": t3 - t2, "items": len(wl.items), "n_flags": len(fl)}))
"""


def median_of(repeat: int, fn) -> tuple[float, object]:  # noqa: ANN001
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="compare with the domain rules on full timelines")
    args = parser.parse_args()

    from poems_monitor.domain.followup import schedule_for, sort_key
    from poems_monitor.services import rules_cache
    from poems_monitor.services.dashboard import build_dashboard
    from poems_monitor.services.protocol_store import current_protocol
    from poems_monitor.services.worklist import build_worklist, clinic_flags, patient_worklist

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clinic.sqlite"
        db = open_database(path)
        start = time.perf_counter()
        summary = import_patients(db, generate_patients(args.patients, 1, TODAY), Actor("benchmark", Role.ADMIN),
                                  reason="benchmark")
        print(f"{args.patients} patients: {summary.visits_added} visits, {summary.values_added} values "
              f"(built in {time.perf_counter() - start:.0f} s)")
        rows: list[tuple[str, float]] = []

        start = time.perf_counter()
        worklist = build_worklist(db, TODAY)
        rows.append(("first worklist (empty cache, fills it)", time.perf_counter() - start))

        children = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), TODAY.isoformat()], capture_output=True,
                                 text=True, check=True).stdout
            children.append(json.loads(out))
        rows.append(("worklist, new process, as-of asked before", statistics.median(c["worklist"] for c in children)))
        rows.append(("all flags, new process", statistics.median(c["flags"] for c in children)))
        firsts = []
        for k in range(1, args.repeat + 1):  # a date not asked for before: the plans are computed
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), date.fromordinal(TODAY.toordinal() + k).isoformat()],
                                 capture_output=True, text=True, check=True).stdout
            firsts.append(json.loads(out)["worklist"])
        rows.append(("worklist, new process, new as-of (first of the day)", statistics.median(firsts)))

        t, worklist = median_of(args.repeat, lambda: build_worklist(db, TODAY))
        rows.append(("worklist, refresh in the same process", t))
        t, flags = median_of(args.repeat, lambda: clinic_flags(db, TODAY))
        rows.append(("all flags, refresh in the same process", t))

        mrn = worklist.items[0].mrn
        rules_cache.forget()
        t, _ = median_of(args.repeat, lambda: (patient_worklist(db, mrn, TODAY), clinic_flags(db, TODAY, mrn=mrn)))
        rows.append(("one patient: worklist rows + flags", t))
        t, _ = median_of(args.repeat, lambda: build_dashboard(db, mrn, TODAY))
        rows.append(("one patient: full dashboard (services.dashboard)", t))

        protocol = current_protocol(db)

        def uncached():  # noqa: ANN202
            with db.read() as session:
                records = load_timelines(session)
            return sorted((i for p in records for i in schedule_for(p, protocol, TODAY)), key=sort_key)

        t, reference = median_of(1, uncached)
        rows.append(("worklist from full timelines, no cache", t))

        print(f"worklist: {len(worklist.items)} items; flags: {len(flags)}")
        for name, seconds in rows:
            print(f"{name:50s} {seconds:8.3f} s")
        if args.check:
            from poems_monitor.domain.flags import compute_flags

            with db.read() as session:
                records = load_timelines(session)
            same_flags = [f.to_json() for f in flags] == [f.to_json() for p in records for f in compute_flags(p, protocol, TODAY)]
            print(f"check: worklist equal to the domain rules: {list(worklist.items) == reference}; "
                  f"flags equal: {same_flags}")
        db.dispose()


if __name__ == "__main__":
    main()
