"""Benchmark of the record core: demo generation, import, export, whole-clinic load.

Not a test (timings on shared machines flake); run it and copy the figures into the README:

    .venv/bin/python benchmarks/records.py --patients 200

Each figure is the median of --repeat runs, on a fresh SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from poems_monitor.persistence.db import open_database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import export_timeline_file, import_patients, import_timeline_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    actor = Actor("benchmark", Role.ADMIN)
    today = date(2026, 11, 21)
    timings: dict[str, list[float]] = {}

    def clock(name: str, fn):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        result = fn()
        timings.setdefault(name, []).append(time.perf_counter() - start)
        return result

    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            patients = clock("generate", lambda: generate_patients(args.patients, 1, today))
            db = open_database(tmp_path / "a.sqlite")
            summary = clock("store (one transaction)", lambda: import_patients(db, patients, actor, reason="benchmark"))
            clock("load whole clinic as timelines", lambda: _load(db))
            clock("export JSON", lambda: export_timeline_file(db, tmp_path / "e.json"))
            db2 = open_database(tmp_path / "b.sqlite")
            clock("import JSON into empty database", lambda: import_timeline_file(db2, tmp_path / "e.json", actor, today))
            db.dispose()
            db2.dispose()
    print(f"{args.patients} patients: {summary.visits_added} visits, {summary.values_added} values")
    for name, values in timings.items():
        print(f"{name:34s} {statistics.median(values):7.2f} s  (median of {len(values)})")


def _load(db) -> int:  # noqa: ANN001
    with db.read() as session:
        return len(load_timelines(session))


if __name__ == "__main__":
    main()
