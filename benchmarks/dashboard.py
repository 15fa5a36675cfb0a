"""Benchmark (a script, not a test): time from "open patient" to painted charts, the patient list
with 5,000 patients, and cold start.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/dashboard.py [--runs 15] [--cold 5]
        [--list 5000] [--list-db PATH]

Builds a temporary clinic database with a demo clinic plus two patients of 20 years of
quarterly visits (80 visits, 2,000 values each, treatments and events), opens the main window,
and then alternately opens the two patients. Two measures:

1. synchronous (the first version of this script): `open_patient`, pending layouts, then a
   synchronous repaint of the whole window:
     build  = services.dashboard.build_dashboard (queries + rules),
     render = filling the widgets and charts,
     paint  = layouts and a repaint of the whole window (patient list included).
2. as a click does it: the patient's row is made current in the patient list (what a click or
   an arrow key does) and the event loop runs as usual for a while; reported:
     click -> charts painted  = until the last of the five charts has finished its first paint,
     chart paints             = paints of the five charts per open (5 = no double paint),
     longest freeze           = longest time the event loop did not run (a 2 ms heartbeat timer),
     settled                  = until the last stretch of work > 8 ms (everything, flags included).
   The two patients alternate, so from the second open on each is a *reopen*: services.dashboard
   remembers built dashboards per patient (until its record, the protocol or the rules change).
3. the same as 2. with that memo emptied before every click: a patient opened for the first time.

`--list N` (default 5000) also measures the patient list with N patients (demo patients copied
until there are N): filter-as-you-type latency per keystroke (key press to list repainted), with
the clinic overview (flag and overdue counts) computing off the GUI thread and after it.
`--cold N` starts the desktop app N times in a fresh process (on the same database) and reports
the median time until the window is shown and the event loop runs.
Target (issue 4): < 150 ms from click to painted charts on a 2-core machine; < 50 ms a keystroke.
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


class _PaintLog:
    """When each chart's view finished painting (pyqtgraph's GraphicsView.paintEvent, wrapped
    before the window exists)."""

    def __init__(self) -> None:
        import pyqtgraph as pg

        self.events: list[tuple[float, object]] = []
        original = pg.GraphicsView.paintEvent
        log = self.events

        def paint_event(view, event):  # noqa: ANN001, ANN202
            result = original(view, event)
            log.append((time.perf_counter(), view))
            return result

        pg.GraphicsView.paintEvent = paint_event


class _Heartbeat:
    """A 2 ms timer: a gap between beats is a time the event loop (the window) did not run."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.beats: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(2)
        self.timer.timeout.connect(lambda: self.beats.append(time.perf_counter()))

    def run(self, ms: int) -> None:
        """Run the event loop for `ms` milliseconds."""
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        self.timer.start()
        loop.exec()
        self.timer.stop()

    def gaps(self, t0: float) -> list[tuple[float, float]]:
        """(start, end) of every stretch > 8 ms without a beat, from t0."""
        times = [t0] + [b for b in self.beats if b >= t0]
        return [(a, b) for a, b in zip(times, times[1:]) if b - a > 0.008]


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f}"


def bench_open(path: Path, mrns: tuple[str, str], runs: int) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    paints = _PaintLog()
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
    app.processEvents()
    build, render, paint, total, later = [], [], [], [], []
    for i in range(runs):
        mrn = mrns[i % 2]
        t0 = time.perf_counter()
        window.open_patient(mrn)
        t1 = time.perf_counter()
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)  # pending layouts, then
        window.repaint()  # a synchronous paint of the whole window: every chart drawn
        t2 = time.perf_counter()
        app.processEvents()  # what follows the first paint
        later.append((time.perf_counter() - t2) * 1000)
        build.append(window.dashboard.last_build_ms)
        render.append(window.dashboard.last_render_ms)
        paint.append((t2 - t1) * 1000)
        total.append((t2 - t0) * 1000)
    points = sum(c.data_item_count() for c in window.dashboard.charts.charts.values())
    print(f"open patient -> painted charts, {runs} runs, {points} chart points, 1600x1000 offscreen:")
    print("1. synchronous (open, layouts, repaint of the whole window):")
    print(f"  build (queries + rules)  median {_median(build)} ms")
    print(f"  render (widgets, charts) median {_median(render)} ms")
    print(f"  paint (whole window)     median {_median(paint)} ms")
    print(f"  total                    median {_median(total)} ms  (min {min(total):.1f}, max {max(total):.1f})")
    print(f"  then: processEvents      median {_median(later)} ms")

    from poems_monitor.services.dashboard import forget_dashboards

    views = {c.plot_widget: key for key, c in window.dashboard.charts.charts.items()}
    beat = _Heartbeat()
    for title, first_open in (("2. as a click does it (row made current, event loop running); reopened patient "
                               "(dashboard remembered)", False),
                              ("3. the same, first open (the service's memo of built dashboards emptied before "
                               "each click)", True)):
        _click_runs(window, mrns, runs, paints, views, beat, title, forget_dashboards if first_open else None)
    window.close()
    db.dispose()


def _click_runs(window, mrns, runs, paints, views, beat, title, forget) -> None:  # noqa: ANN001
    build, render, painted, count, freeze, settled, cpu = [], [], [], [], [], [], []
    for i in range(runs):
        mrn = mrns[(i + 1) % 2]  # (the other patient than the one shown)
        if forget is not None:
            forget()
        paints.events.clear()
        beat.beats.clear()
        c0 = time.thread_time()
        t0 = time.perf_counter()
        window.patients.select(mrn)  # a click on the patient's row: selection -> open_patient
        beat.run(900)
        cpu.append((time.thread_time() - c0) * 1000)
        first: dict[str, float] = {}
        n = 0
        for when, view in paints.events:
            key = views.get(view)
            if key is not None and when >= t0:
                n += 1
                first.setdefault(key, when)
        gaps = beat.gaps(t0)
        build.append(window.dashboard.last_build_ms)
        render.append(window.dashboard.last_render_ms)
        if len(first) == len(views):  # (else: a chart not painted within the time: not counted)
            painted.append((max(first.values()) - t0) * 1000)
        count.append(n)
        freeze.append(max((b - a for a, b in gaps), default=0.0) * 1000)
        settled.append((max((b for _, b in gaps), default=t0) - t0) * 1000)
    print(title + ":")
    print(f"  build (queries + rules)  median {_median(build)} ms")
    print(f"  render (widgets, charts) median {_median(render)} ms")
    print(f"  click -> charts painted  median {_median(painted)} ms  (min {min(painted):.1f}, max {max(painted):.1f}; "
          f"{len(painted)} of {runs} runs)")
    print(f"  chart paints per open    median {statistics.median(count):6.0f}    (5 charts)")
    print(f"  longest freeze           median {_median(freeze)} ms")
    print(f"  settled (all work done)  median {_median(settled)} ms")
    print(f"  GUI-thread CPU per open  median {_median(cpu)} ms  (less sensitive to other load; includes "
          f"~{900 * 0.02:.0f} ms of idle heartbeat)")


def build_list_clinic(path: Path, n: int) -> None:
    """A clinic of `n` patients: 200 demo patients (years of visits each), copied under new MRNs
    (SQL copies with shifted ids: much quicker than importing n patients)."""
    from sqlalchemy import text

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.demo_clinic import create_demo_clinic

    db = open_database(path)
    base = min(n, 200)
    create_demo_clinic(db, base, seed=5, actor=Actor("bench", Role.PHYSICIAN), today=TODAY)
    tables = ("patient", "treatment", "event", "visit", "observation", "exam", "feature_status")
    fks = {"patient_id": "patient", "visit_id": "visit", "replaced_by_id": "observation"}
    with db.engine.begin() as conn:
        cols = {t: [r[1] for r in conn.execute(text(f"PRAGMA table_info({t})"))] for t in tables}
        top = {t: conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar() for t in tables}
        copies = (n + base - 1) // base
        for k in range(1, copies):
            for t in tables:
                exprs = []
                for c in cols[t]:
                    if c == "id":
                        exprs.append(f"id + {k * top[t]}")
                    elif c in fks:
                        exprs.append(f"CASE WHEN {c} IS NULL THEN NULL ELSE {c} + {k * top[fks[c]]} END")
                    elif t == "patient" and c == "mrn":
                        exprs.append(f"'C{k:02d}-' || substr(mrn, 3)")
                    else:
                        exprs.append(c)
                conn.execute(text(f"INSERT INTO {t} ({', '.join(cols[t])}) SELECT {', '.join(exprs)} FROM {t} "
                                  f"WHERE id <= {top[t]}"))
        extra = conn.execute(text("SELECT count(*) FROM patient")).scalar() - n
        if extra > 0:  # the last copy only in part: drop the surplus and what belongs to it
            conn.execute(text(f"DELETE FROM patient WHERE id IN (SELECT id FROM patient ORDER BY id DESC LIMIT {extra})"))
        conn.execute(text("DELETE FROM treatment WHERE patient_id NOT IN (SELECT id FROM patient)"))
        conn.execute(text("DELETE FROM event WHERE patient_id NOT IN (SELECT id FROM patient)"))
        conn.execute(text("DELETE FROM feature_status WHERE visit_id IN (SELECT id FROM visit WHERE patient_id NOT IN (SELECT id FROM patient))"))
        conn.execute(text("DELETE FROM exam WHERE visit_id IN (SELECT id FROM visit WHERE patient_id NOT IN (SELECT id FROM patient))"))
        conn.execute(text("DELETE FROM observation WHERE visit_id IN (SELECT id FROM visit WHERE patient_id NOT IN (SELECT id FROM patient))"))
        conn.execute(text("DELETE FROM visit WHERE patient_id NOT IN (SELECT id FROM patient)"))
        count = conn.execute(text("SELECT count(*) FROM patient")).scalar()
        values = conn.execute(text("SELECT count(*) FROM observation")).scalar()
    print(f"list clinic: {count} patients, {values} values")
    db.dispose()


def bench_list(path: Path, runs: int) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.ui.main_window import MainWindow

    db = open_database(path)
    t0 = time.perf_counter()
    window = MainWindow(db, Actor("bench", Role.PHYSICIAN), as_of=TODAY, background=True, remember_layout=False)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    shown = time.perf_counter() - t0
    panel = window.patients
    total = panel.model.rowCount()
    beat = _Heartbeat()
    keys = "rossi 1"  # a name, then a digit of the MRN

    def type_and_clear() -> list[float]:
        out = []
        for ch in keys + "\b" * len(keys):
            t = time.perf_counter()
            if ch == "\b":
                QTest.keyClick(panel.search, Qt.Key.Key_Backspace)
            else:
                QTest.keyClick(panel.search, ch)
            app.processEvents()  # the list repainted
            out.append((time.perf_counter() - t) * 1000)
        return out

    panel.search.setFocus()
    during, overview_done = [], None
    t_overview = time.perf_counter()
    while panel.model.status(panel.model.patient(total - 1).mrn) is None and time.perf_counter() - t_overview < 300:
        during.extend(type_and_clear())
        beat.beats.clear()
        beat.run(50)
        overview_done = time.perf_counter() - t_overview
    overview_done = time.perf_counter() - t_overview
    after = []
    for _ in range(max(1, runs // 5)):
        after.extend(type_and_clear())
    beat.beats.clear()
    beat.run(300)
    print(f"patient list, {total} patients (window shown in {shown * 1000:.0f} ms):")
    print(f"  clinic overview (flag/overdue counts, off the GUI thread): ready {overview_done:.1f} s after start")
    if during:
        print(f"  keystroke while it computes: median {_median(during)} ms, max {max(during):6.1f} ms  ({len(during)} keys)")
    print(f"  keystroke afterwards:        median {_median(after)} ms, max {max(after):6.1f} ms  ({len(after)} keys)")
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
    parser.add_argument("--list", type=int, default=5000, help="patients in the patient-list benchmark (0: skip)")
    parser.add_argument("--list-db", type=Path, help="keep the patient-list clinic here (reused when it exists)")
    parser.add_argument("--skip-open", action="store_true", help="only the patient list (and cold start)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["POEMS_MONITOR_HOME"] = str(Path(tmp) / "home")
        path = Path(tmp) / "bench.sqlite"
        if not args.skip_open:
            mrns = build_clinic(path)
            bench_open(path, mrns, args.runs)
        if args.list:
            list_path = args.list_db or Path(tmp) / "list.sqlite"
            if not list_path.exists():
                build_list_clinic(list_path, args.list)
            bench_list(list_path, args.runs)
        if args.cold and not args.skip_open:
            bench_cold(path, args.cold)


if __name__ == "__main__":
    main()
