"""Benchmark (a script, not a test): the desktop app on a whole clinic, each figure beside its floor
measured in the same run (issue 13).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/app_scale.py CLINIC.sqlite [CLINIC2.sqlite ...]
        [--runs 9] [--cold 3] [--baseline OTHER_CHECKOUT]

Give copies of the clinics (the app migrates and writes its rules cache into them). For each:

- cold start: a fresh process until the dashboard of the heaviest patient has painted every
  chart one can see (`gui --mrn`, start-up probe "painted"; charts below the fold are not painted), vs the stack's floor: a fresh process that
  imports PySide6, pyqtgraph and sqlmodel, reads that patient's values with sqlmodel and paints
  them in five pyqtgraph charts in a window of the same size;
- patient switch: a mouse click on the row of the other of the two heaviest patients in the
  patient list until its charts in view have painted (first open: the service's memo of built
  dashboards emptied). The list is first scrolled to that row, untimed, as a user scrolls before
  clicking (until 2026-12 the switch selected the row programmatically, which also scrolled the
  list from row 3 to row 333 and timed a repaint of the whole list, about 8 ms, that no click
  makes); vs
  the floor: the same five bare pyqtgraph charts given the other patient's values (read before)
  until they have painted; floor and app switches alternate, so both see the same load. With
  `--overview-limit 0` the switches are measured while the clinic overview computes (a cold rules
  cache: in the worker process of `ui.worker_process` on a large clinic), then again after it;
  After each app switch the app is let settle (its later layout passes, the neighbours built
  ahead) before the floor's switch, so that no work of the app is timed as the floor's;
- patient switch to a neighbour built ahead: the Down arrow in the patient list from one of the
  two patients, once the app has built the dashboards of its neighbours while idle (prefetch),
  until the next patient's charts in view have painted; beside the same arrow key with the memo
  emptied (first open) and the same floor;
- filter as you type: key press in the patient list's search box to the list repainted, per
  keystroke (goal < 50 ms), after the clinic overview (flag and overdue counts) has arrived.

Windows are 1366x768, offscreen. The load average is printed: the machine may be shared. The peak
memory (RSS) of this process (the app and the floor's charts) and of the overview's worker process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dashboard import TODAY, _PaintLog  # noqa: E402 (after the path)

# Wall ms of the app's switches, of the floor's, then the GUI thread's CPU ms of each.
Timings = tuple[list[float], list[float], list[float], list[float]]

SIZE = (1366, 768)
FLOOR_CODES = ("vegf_plasma", "platelets", "m_protein", "onls", "hemoglobin")  # five charts' worth of values

# The stack's floor: what any app on this stack must do to paint one patient's values.
_FLOOR_COLD = """
import os, sys
os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")  # as the app does (poems_monitor/ui/__init__.py): like for like
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QVBoxLayout, QWidget
import pyqtgraph as pg
from sqlalchemy import text
from sqlmodel import Session, create_engine

app = QApplication(sys.argv[:1])
engine = create_engine("sqlite:///" + sys.argv[1])
with Session(engine) as session:
    rows = session.execute(text(
        "SELECT o.code, v.date, o.value_num FROM observation o JOIN visit v ON v.id = o.visit_id "
        "JOIN patient p ON p.id = v.patient_id WHERE p.mrn = :mrn AND o.superseded_at IS NULL ORDER BY v.date"), {"mrn": sys.argv[2]}).all()
codes = sys.argv[3].split(",")
window = QMainWindow()
body = QWidget()
layout = QVBoxLayout(body)
views = []
for code in codes:
    plot = pg.PlotWidget()
    points = [(i, r[2]) for i, r in enumerate(rows) if r[0] == code and r[2] is not None]
    plot.plot([p[0] for p in points], [p[1] for p in points], symbol="o")
    layout.addWidget(plot)
    views.append(plot.viewport())
window.setCentralWidget(body)
window.resize(int(sys.argv[4]), int(sys.argv[5]))
waiting = set(views)
class Watch(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and watched in waiting:
            waiting.discard(watched)
            if not waiting:
                QTimer.singleShot(0, lambda: os._exit(0))
        return False
watch = Watch()
for v in views:
    v.installEventFilter(watch)
window.show()
app.exec()
"""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (2 cores)"


def _peak_mb(who: int) -> float:
    """Peak resident memory in MB (Linux reports kB) of this process or of its largest waited-for child."""
    return resource.getrusage(who).ru_maxrss / 1024


def heaviest_patients(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT p.mrn FROM visit v JOIN patient p ON p.id = v.patient_id GROUP BY v.patient_id "
            "ORDER BY count(*) DESC LIMIT 2").fetchall()
    return [r[0] for r in rows]


def _cold(exe: list[str], env: dict[str, str], runs: int) -> list[tuple[float, float]]:
    """(wall s, CPU s) of each run: the CPU time of the child is less sensitive to a shared machine.
    Run in the folder `env`'s PYTHONPATH names (if any): `python -m` puts the working folder first on
    the path, so a baseline started from this checkout would otherwise import this checkout's code."""
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(exe, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
                       cwd=env.get("PYTHONPATH") or None)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    return times


def bench_cold(path: Path, mrn: str, runs: int, home: Path, baseline: Path | None = None) -> None:
    """`baseline`: the root of another checkout (e.g. main's), started alternately with this one and
    the floor, so that before and after are compared under the same load."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", POEMS_MONITOR_HOME=str(home),
               PYTHONPYCACHEPREFIX=str(home / "pycache"))  # compiled once, as an installed app is
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    path = path.resolve()  # (the apps run in their own checkout's folder)
    floor_exe = [sys.executable, "-c", _FLOOR_COLD, str(path), mrn, ",".join(FLOOR_CODES), *map(str, SIZE)]
    app_exe = [sys.executable, "-m", "poems_monitor", "gui", "--db", str(path), "--user", "bench", "--mrn", mrn]
    apps = {"app": dict(env, POEMS_MONITOR_STARTUP_PROBE="painted", PYTHONPATH=str(ROOT))}
    if baseline is not None:
        apps["baseline"] = dict(apps["app"], PYTHONPATH=str(baseline.resolve()))
    for app_env in apps.values():
        _cold(app_exe, app_env, 1)  # migrations, caches, compiling: not a cold start's work
    floor: list[tuple[float, float]] = []
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
    for _ in range(runs):  # alternated: all see the same load
        floor += _cold(floor_exe, env, 1)
        for name, app_env in apps.items():
            times[name] += _cold(app_exe, app_env, 1)
    f, fc = statistics.median(w for w, _ in floor), statistics.median(c for _, c in floor)
    for name, app in times.items():
        a, ac = statistics.median(w for w, _ in app), statistics.median(c for _, c in app)
        label = "cold start to a painted dashboard" if name == "app" else f"  the same, {baseline}"
        print(f"  {label}: {name} {a:.2f} s, floor {f:.2f} s -> {a / f:.2f}x wall; "
              f"CPU {name} {ac:.2f} s, floor {fc:.2f} s -> {ac / fc:.2f}x  (goal <= 1.1x; {runs} runs each; "
              f"CPU min {min(c for _, c in app):.2f} s, floor min {min(c for _, c in floor):.2f} s)")


def _series(path: Path, mrn: str) -> dict[str, tuple[list[float], list[float]]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT o.code, julianday(v.date), o.value_num FROM observation o JOIN visit v ON v.id = o.visit_id "
            "JOIN patient p ON p.id = v.patient_id WHERE p.mrn = ? AND o.superseded_at IS NULL ORDER BY v.date", (mrn,)).fetchall()
    out: dict[str, tuple[list[float], list[float]]] = {c: ([], []) for c in FLOOR_CODES}
    for code, day, value in rows:
        if code in out and value is not None:
            out[code][0].append(day)
            out[code][1].append(value)
    return out


def _wait_paints(app, paints: _PaintLog, views: set, t0: float, limit: float = 5.0) -> float | None:  # noqa: ANN001
    """Run the event loop until each of `views` has painted after t0; ms, or None."""
    while time.perf_counter() - t0 < limit:
        app.processEvents()
        seen = {v for v in views if not v.viewport().visibleRegion().isEmpty()}  # (not those below the fold)
        done = {v for when, v in paints.events if when >= t0 and v in seen}
        if seen and done == seen:
            return (max(when for when, v in paints.events if when >= t0 and v in seen) - t0) * 1000
        time.sleep(0.0005)
    return None


class _FloorCharts:
    """The switch's floor: five bare pyqtgraph charts in a window of the app's size, given the
    other patient's values (read before) until they have painted."""

    def __init__(self, path: Path, mrns: list[str], paints: _PaintLog):
        import pyqtgraph as pg
        from PySide6.QtWidgets import QApplication, QMainWindow, QVBoxLayout, QWidget

        self.app = QApplication.instance()
        self.paints = paints
        self.data = [_series(path, m) for m in mrns]
        self.window = QMainWindow()
        body = QWidget()
        layout = QVBoxLayout(body)
        self.curves, self.views = [], set()
        for _code in FLOOR_CODES:
            plot = pg.PlotWidget()
            self.curves.append(plot.plot([], [], symbol="o"))
            layout.addWidget(plot)
            self.views.add(plot)
        self.window.setCentralWidget(body)
        self.window.resize(*SIZE)
        self.window.show()
        self.app.processEvents()
        self.switch(1)  # (pyqtgraph's first use)

    def switch(self, i: int) -> float | None:
        series = self.data[i % 2]
        self.paints.events.clear()
        t0 = time.perf_counter()
        for curve, code in zip(self.curves, FLOOR_CODES):
            curve.setData(*series[code])
        return _wait_paints(self.app, self.paints, self.views, t0)

    def close(self) -> None:
        self.window.close()
        self.window.deleteLater()
        self.app.processEvents()


def _settle(app, window, least: float = 0.25, limit: float = 5.0) -> None:  # noqa: ANN001
    """Run the event loop for `least` seconds and until the dashboard builds nothing ahead (its
    later layout passes and the neighbours' prefetch are the app's work, not the next floor's)."""
    pending = getattr(window.dashboard, "prefetch_pending", lambda: False)  # (a tree before the prefetch)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit and (time.perf_counter() - t0 < least or pending()):
        app.processEvents()
        time.sleep(0.002)


def bench_app(path: Path, mrns: list[str], runs: int, paints: _PaintLog, overview_limit: float) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.dashboard import forget_dashboards
    from poems_monitor.ui.main_window import MainWindow

    app = QApplication.instance()
    db = open_database(path)
    window = MainWindow(db, Actor("bench", Role.PHYSICIAN), as_of=TODAY, background=True, remember_layout=False)
    window.resize(*SIZE)
    window.show()
    app.processEvents()
    overview = []
    window.overviewUpdated.connect(lambda: overview.append(time.perf_counter()))
    t_start = time.perf_counter()
    window.dashboard.prepare()
    window.open_patient(mrns[1])  # warm-up
    app.processEvents()
    panel = window.patients
    total = panel.model.total()

    # patient switch, first open (memo emptied), while the overview may still compute, then after it;
    # each app switch follows a floor switch, so that both see the same load (the machine may be shared)
    views = {c.plot_widget: key for key, c in window.dashboard.charts.charts.items()}
    floor_charts = _FloorCharts(path, mrns, paints)

    def timed_switch(switch: Callable[[], None], floor_wall: float | None, floor_cpu_s: float, out: Timings) -> None:
        """Run one app switch (`switch`) until its charts in view have painted, and keep its wall
        and GUI-thread CPU ms beside the floor switch's that came just before it."""
        app_ms, floor_ms, app_cpu, floor_cpu = out
        paints.events.clear()
        c = time.thread_time()
        t0 = time.perf_counter()
        switch()
        ms = _wait_paints(app, paints, set(views), t0)
        if ms is not None and floor_wall is not None:
            app_ms.append(ms)
            floor_ms.append(floor_wall)
            app_cpu.append((time.thread_time() - c) * 1000)
            floor_cpu.append(floor_cpu_s * 1000)
            phases.append((window.dashboard.last_build_ms, window.dashboard.last_render_ms))
        _settle(app, window)

    def switches(n: int) -> Timings:
        """Wall ms of each app and floor switch, and the GUI thread's CPU ms of each (less sensitive to load)."""
        out: Timings = ([], [], [], [])
        for i in range(n):
            c = time.thread_time()
            f = floor_charts.switch(i)
            fc = time.thread_time() - c
            forget_dashboards()
            row = in_view(mrns[i % 2])
            timed_switch(lambda: QTest.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton,
                                                  Qt.KeyboardModifier.NoModifier, row.center()), f, fc, out)
        return out

    def in_view(mrn: str):  # noqa: ANN202
        """Scroll the patient list so that `mrn`'s row is in view (as a user does before the click,
        not timed) and return the rectangle of its row in the list's viewport."""
        from poems_monitor.ui.patients.model import COL_MRN

        index = panel.proxy.mapFromSource(panel.model.index(panel.model.row_of(mrn), COL_MRN))
        panel.table.scrollTo(index)
        _settle(app, window, least=0.05)
        return panel.table.visualRect(index)

    def arrow_switches(n: int, ahead: bool) -> Timings:
        """The Down arrow from one of the two patients to the next in the list: its dashboard built
        ahead while idle (`ahead`), or not (the memo emptied: a first open of the same patients)."""
        out: Timings = ([], [], [], [])
        panel.table.setFocus()
        for i in range(n):
            panel.select(mrns[i % 2])
            _settle(app, window)  # opened; its neighbours built ahead (when the app does)
            c = time.thread_time()
            f = floor_charts.switch(i)
            fc = time.thread_time() - c
            if not ahead:
                forget_dashboards()
            timed_switch(lambda: QTest.keyClick(panel.table, Qt.Key.Key_Down), f, fc, out)  # the next patient in the list
        return out

    while not overview and time.perf_counter() - t_start < overview_limit:
        app.processEvents()
        time.sleep(0.01)
    ready = time.perf_counter() - t_start if overview else None

    phases: list[tuple[float, float]] = []  # (build, render) ms of each app switch measured

    def line(what: str, measured: tuple[list[float], list[float], list[float], list[float]], state: str) -> None:
        after, floors, cpu, floor_cpu = measured
        built = f"; of the app's: build {statistics.median(b for b, _ in phases):.0f} ms, widgets filled " \
                f"{statistics.median(r for _, r in phases):.0f} ms (medians, wall)" if phases else ""
        phases.clear()
        if not after:
            print(f"  {what}: no switch painted within 5 s")
            return
        a, floor = statistics.median(after), statistics.median(floors)
        ac, fc = statistics.median(cpu), statistics.median(floor_cpu)
        print(f"  {what}: app {a:.0f} ms, bare 5-chart repaint "
              f"floor {floor:.0f} ms -> {a / floor:.2f}x  (goal <= 1.3x; app min {min(after):.0f} max {max(after):.0f}, "
              f"floor min {min(floors):.0f} max {max(floors):.0f}; GUI-thread CPU app {ac:.0f} ms, floor {fc:.0f} ms "
              f"-> {ac / fc:.2f}x; {state}{built})")

    def report(state: str) -> None:
        line("patient switch (click -> charts in view painted, first open)", switches(runs), state)

    report("the clinic overview computing meanwhile" if not overview else "after the clinic overview")
    if overview:
        if hasattr(window.dashboard, "prefetch_pending"):
            line("  arrow key to the next patient, its dashboard built ahead while idle", arrow_switches(runs, True),
                 "after the clinic overview")
        line("  arrow key to the next patient, first open (memo emptied)", arrow_switches(runs, False),
             "after the clinic overview")

    # filter as you type
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        name = conn.execute("SELECT name FROM patient ORDER BY id LIMIT 1 OFFSET 7").fetchone()[0]
    keys = name.split()[-1][:4].lower() + " 1"
    panel.search.setFocus()
    per_key, cpu = [], []
    for _ in range(max(1, runs // 3)):
        for ch in keys + "\b" * len(keys):
            t, c = time.perf_counter(), time.thread_time()
            QTest.keyClick(panel.search, Qt.Key.Key_Backspace if ch == "\b" else ch)
            app.processEvents()  # the list repainted
            per_key.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)
    print(f"  filter as you type ({total} patients, keys {keys!r} and back): median {statistics.median(per_key):.1f} ms, "
          f"max {max(per_key):.1f} ms per keystroke; GUI-thread CPU median {statistics.median(cpu):.1f} ms, "
          f"max {max(cpu):.1f} ms  (goal < 50 ms{'' if overview else '; the overview computing meanwhile'})")
    if ready is None:  # measured while it computed: wait for it now (its time, the peak memory of its work)
        while not overview and time.perf_counter() - t_start < max(overview_limit, 900):
            app.processEvents()
            time.sleep(0.01)
        ready = overview[0] - t_start if overview else None
        if ready is not None:
            report("after the clinic overview")
    floor_charts.close()
    print("  clinic overview (flag and overdue counts, off the GUI thread): "
          + (f"arrived {ready:.1f} s after the window" if ready is not None else "not within 900 s"))
    print(f"  peak memory (RSS): this process (the app, the floor's charts) {_peak_mb(resource.RUSAGE_SELF):.0f} MB; "
          f"its child processes (the largest) {_peak_mb(resource.RUSAGE_CHILDREN):.0f} MB  (goal <= 250 MB)")
    try:
        from poems_monitor.ui.worker_process import last_peak_mb
    except ImportError:  # (a tree before the worker process)
        last_peak_mb = {}
    if last_peak_mb:
        print("  the overview's worker process: peak " + ", ".join(f"{k} {v:.0f} MB" for k, v in last_peak_mb.items()))
    window.skip_close_checks = True
    window.close()
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clinics", nargs="+", type=Path, help="copies of clinic databases (they are written to)")
    parser.add_argument("--runs", type=int, default=9, help="patient switches and keystroke rounds (0: skip them)")
    parser.add_argument("--cold", type=int, default=3, help="cold starts of each (0: skip)")
    parser.add_argument("--baseline", type=Path, help="root of another checkout (e.g. main) whose app is started "
                        "alternately with this one in the cold starts: before and after under the same load")
    parser.add_argument("--app-root", type=Path, help="root of another checkout whose app (poems_monitor) the switches "
                        "and keystrokes measure, with this script's method (e.g. main's, for a before/after)")
    parser.add_argument("--overview-limit", type=float, default=900, help="seconds to wait for the clinic overview "
                        "before the switches and keystrokes (0: measure them while it computes)")
    args = parser.parse_args()
    if args.app_root is not None:
        sys.path.insert(0, str(args.app_root.resolve()))
        print(f"the app measured: {args.app_root.resolve()}")
    from PySide6.QtWidgets import QApplication

    from poems_monitor.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app, dark=False)
    paints = _PaintLog()
    # (ignore_cleanup_errors: an app that left at its first paint may have a worker process still writing there)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / "home"
        os.environ["POEMS_MONITOR_HOME"] = str(home)
        for path in args.clinics:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                patients = conn.execute("SELECT count(*) FROM patient").fetchone()[0]
            mrns = heaviest_patients(path)
            print(f"{path.name}: {patients} patients; switching between {mrns[0]} and {mrns[1]}; {load()}")
            if args.cold:
                bench_cold(path, mrns[0], args.cold, home, args.baseline)
            if args.runs:
                bench_app(path, mrns, args.runs, paints, args.overview_limit)
            print(f"  ({load()})")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
