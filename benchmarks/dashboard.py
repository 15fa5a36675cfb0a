"""Benchmark (a script, not a test): time from "open patient" to painted charts, and cold start.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/dashboard.py [--runs 15] [--cold 5]

Builds a temporary clinic database with a demo clinic plus two patients of 20 years of
quarterly visits (80 visits, 2,000 values each, treatments and events), opens the main window,
and then alternately opens the two patients, timing each step:
  build  = services.dashboard.build_dashboard (queries + rules),
  render = filling the widgets and charts,
  paint  = a synchronous repaint of the whole window (charts drawn),
and prints medians. `--cold N` also starts the desktop app N times in a fresh process (on the
same database) and reports the median time until the window is shown and the event loop runs.
Target (issue 4): < 150 ms from click to painted charts on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TODAY = date(2026, 11, 21)
CODES = ("vegf_plasma", "platelets", "hemoglobin", "hematocrit", "creatinine", "egfr", "albumin", "m_protein",
         "flc_kappa", "flc_lambda", "flc_ratio", "tsh", "free_t4", "glucose_fasting", "hba1c", "calcium",
         "onls_arm", "onls_leg", "onls", "incat", "mrs", "weight", "fvc_pct", "dlco_pct", "tlc_pct")
RANGES = {"vegf_plasma": (60, 900), "platelets": (150, 650), "hemoglobin": (11, 17), "hematocrit": (34, 50),
          "creatinine": (0.6, 1.4), "egfr": (45, 100), "albumin": (3.0, 4.6), "m_protein": (0, 0.8),
          "flc_kappa": (5, 20), "flc_lambda": (10, 60), "flc_ratio": (0.2, 1.2), "tsh": (0.5, 7), "free_t4": (0.8, 1.7),
          "glucose_fasting": (75, 140), "hba1c": (4.8, 7.0), "calcium": (8.6, 10.2), "onls_arm": (0, 4),
          "onls_leg": (0, 5), "incat": (0, 8), "mrs": (0, 4), "weight": (55, 90), "fvc_pct": (60, 100),
          "dlco_pct": (45, 95), "tlc_pct": (65, 105), "pasp": (25, 60), "lvef": (45, 65)}


def long_patient(mrn: str, seed: int):
    from poems_monitor.domain.catalogue import MEASURES
    from poems_monitor.domain.timeline import (
        EventRecord, ObservationRecord, PatientRecord, TreatmentRecord, VisitRecord,
    )

    rng = random.Random(seed)
    start = TODAY - timedelta(days=int(20 * 365.25))
    visits = []
    for i in range(80):
        day = start + timedelta(days=91 * i + rng.randint(-5, 5))
        obs = []
        arm = leg = None
        for code in CODES:
            lo, hi = RANGES.get(code, (0, 10))
            m = MEASURES[code]
            if code == "onls":
                obs.append(ObservationRecord("onls", float(arm + leg), m.unit, derived=True))
                continue
            value = round(lo + (hi - lo) * (0.5 + 0.45 * __import__("math").sin(i / 7 + rng.random())), m.decimals)
            if m.integer:
                value = float(int(value))
            if code == "onls_arm":
                arm = value
            if code == "onls_leg":
                leg = value
            obs.append(ObservationRecord(code, value, m.unit, specimen=m.specimen))
        visits.append(VisitRecord(day, tuple(obs), (("polyneuropathy", "present"),
                                                    ("monoclonal_plasma_cell_disorder", "present"),
                                                    ("sclerotic_bone_lesions", "present"),
                                                    ("peripheral_edema", "present" if i % 9 < 4 else "absent"))))
    treatments = (
        TreatmentRecord("lenalidomide_dexamethasone", start + timedelta(days=30), start + timedelta(days=400), "aspirin"),
        TreatmentRecord("asct", start + timedelta(days=450), start + timedelta(days=451), None,
                        engraftment_date=start + timedelta(days=463)),
        TreatmentRecord("radiotherapy", start + timedelta(days=3000), start + timedelta(days=3030)),
        TreatmentRecord("bortezomib_dexamethasone", start + timedelta(days=4200), start + timedelta(days=4600), "none"),
    )
    events = (EventRecord("dvt", start + timedelta(days=200)), EventRecord("relapse", start + timedelta(days=4100)))
    return PatientRecord(mrn, f"Long Course {seed}", "female", date(1960, 5, 5), start, tuple(visits), treatments, events)


def build_clinic(path: Path) -> tuple[str, str]:
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.demo_clinic import create_demo_clinic
    from poems_monitor.services.timeline_io import import_patients

    db = open_database(path)
    actor = Actor("bench", Role.PHYSICIAN)
    create_demo_clinic(db, 60, seed=7, actor=actor, today=TODAY)
    a, b = long_patient("L-000001", 1), long_patient("L-000002", 2)
    import_patients(db, [a, b], actor, reason="benchmark")
    values = sum(len(v.observations) for v in a.visits)
    print(f"clinic: 62 patients; each long patient {len(a.visits)} visits, {values} values")
    db.dispose()
    return a.mrn, b.mrn


def bench_open(path: Path, mrns: tuple[str, str], runs: int) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.ui.main_window import MainWindow
    from poems_monitor.ui.theme import apply_theme

    apply_theme(app, dark=False)
    db = open_database(path)
    window = MainWindow(db, Actor("bench", Role.PHYSICIAN), as_of=TODAY, background=False, remember_layout=False)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    window.open_patient(mrns[1])  # warm-up: first use of pyqtgraph items, fonts
    window.repaint()
    build, render, paint, total, later = [], [], [], [], []
    for i in range(runs):
        mrn = mrns[i % 2]
        t0 = time.perf_counter()
        window.open_patient(mrn)
        t1 = time.perf_counter()
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)  # pending layouts, then
        window.repaint()  # a synchronous paint of the whole window: every chart drawn
        t2 = time.perf_counter()
        app.processEvents()  # what follows the first paint (the rest of the flag cards)
        later.append((time.perf_counter() - t2) * 1000)
        build.append(window.dashboard.last_build_ms)
        render.append(window.dashboard.last_render_ms)
        paint.append((t2 - t1) * 1000)
        total.append((t2 - t0) * 1000)
    points = sum(c.data_item_count() for c in window.dashboard.charts.charts.values())
    print(f"open patient -> painted charts, {runs} runs, {points} chart points, 1600x1000 offscreen:")
    print(f"  build (queries + rules)  median {statistics.median(build):6.1f} ms")
    print(f"  render (widgets, charts) median {statistics.median(render):6.1f} ms")
    print(f"  paint (whole window)     median {statistics.median(paint):6.1f} ms")
    print(f"  total                    median {statistics.median(total):6.1f} ms  (min {min(total):.1f}, max {max(total):.1f})")
    print(f"  then: older flag cards   median {statistics.median(later):6.1f} ms (after the charts are on screen)")
    window.close()
    db.dispose()


def bench_cold(path: Path, runs: int) -> None:
    exe = [sys.executable, "-m", "poems_monitor", "gui", "--db", str(path), "--user", "bench"]
    print(f"cold start on the same database, {runs} runs each (a fresh process every time):")
    for probe, what in (("shown", "window shown, patient list filled, event loop running"),
                        ("ready", "… and the charts built (pyqtgraph loaded), ready to open a patient")):
        env = dict(os.environ, POEMS_MONITOR_STARTUP_PROBE=probe, QT_QPA_PLATFORM="offscreen")
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(exe, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        print(f"  {what}: median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cold", type=int, default=5, help="cold starts to time (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["POEMS_MONITOR_HOME"] = str(Path(tmp) / "home")
        path = Path(tmp) / "bench.sqlite"
        mrns = build_clinic(path)
        bench_open(path, mrns, args.runs)
        if args.cold:
            bench_cold(path, args.cold)


if __name__ == "__main__":
    main()
