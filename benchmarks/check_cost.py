"""Benchmark of tamper evidence: what `check` costs per 100,000 values, and what sealing adds to
writes (an import, one visit saved).

Not a test (timings on shared machines flake); run it and copy the figures into the README.
Figures are CPU seconds of this process (SQLite's reads run in it too), so that other work on a
shared machine does not count:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/check_cost.py --patients 300

A demo clinic is imported into a fresh SQLite file (once with the seal, once without it, for the
difference), the rules cache is filled, and `check` runs part by part.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from poems_monitor.persistence import sqlite_backup
from poems_monitor.persistence.db import open_database
from poems_monitor.services import record_seal
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.integrity import check_report
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from poems_monitor.services.worklist import build_worklist

TODAY = date(2026, 11, 21)


def _timed(fn):  # noqa: ANN001, ANN202
    """CPU seconds of this process (the machine may be shared: wall time would measure the others)."""
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    actor = Actor("benchmark", Role.ADMIN)
    patients = generate_patients(args.patients, 1, TODAY)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        plain = open_database(tmp_path / "plain.sqlite")
        original = record_seal.has_seal_tables
        record_seal.has_seal_tables = lambda session: False
        unsealed_import, _ = _timed(lambda: import_patients(plain, patients, actor, reason="benchmark"))
        record_seal.has_seal_tables = original
        plain.dispose()
        plain_size = (tmp_path / "plain.sqlite").stat().st_size

        db = open_database(tmp_path / "clinic.sqlite")
        sealed_import, summary = _timed(lambda: import_patients(db, patients, actor, reason="benchmark"))
        values = summary.values_added
        build_worklist(db, TODAY)  # the rules cache is full, as in a clinic that is used
        mrn = patients[0].mrn
        saves = []
        for i in range(5):
            saves.append(_timed(lambda: record_visit(db, actor, mrn, VisitInput(date(2026, 1, 1 + i), values=(
                EnteredValue("platelets", 300 + i, "10*9/L"),)), today=TODAY))[0])
        parts: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            parts.setdefault("whole check", []).append(_timed(lambda: check_report(db))[0])
            parts.setdefault("  SQLite integrity + foreign keys", []).append(
                _timed(lambda: sqlite_backup.structural_problems(db))[0])
            with db.read() as session:
                from poems_monitor.services.audit import verify_chain

                states: dict = {}
                parts.setdefault("  audit chain", []).append(_timed(lambda: verify_chain(session, states))[0])
                parts.setdefault("  record against its seal", []).append(
                    _timed(lambda: record_seal.verify(session, states))[0])
                from poems_monitor.services.integrity import _check_rules_cache

                parts.setdefault("  rules cache recomputed", []).append(_timed(lambda: _check_rules_cache(session))[0])
        report = check_report(db)
        assert report.sound, report.problems
        size = (tmp_path / "clinic.sqlite").stat().st_size
        db.dispose()
    per = 100_000 / max(values, 1)
    print(f"{args.patients} patients, {values} values, database {size / 1e6:.1f} MB "
          f"({plain_size / 1e6:.1f} MB without the seal copies)")
    print(f"import, unsealed {unsealed_import:6.2f} s   sealed {sealed_import:6.2f} s   "
          f"(+{(sealed_import - unsealed_import) * per:.2f} s per 100k values)")
    print(f"one visit saved for a patient of {len(patients[0].visits)} visits: median {statistics.median(saves) * 1000:.0f} ms")
    for name, times in parts.items():
        median = statistics.median(times)
        print(f"{name:36s} {median:7.2f} s   {median * per:7.2f} s per 100k values")


if __name__ == "__main__":
    main()
