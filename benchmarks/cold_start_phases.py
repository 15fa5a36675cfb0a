"""Benchmark (a script, not a test): where the CPU time of a cold start goes, the app's phases beside
the floor's (issue 13), to show how close the floor is and what remains above it.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cold_start_phases.py CLINIC.sqlite [--runs 3]

Each run is a fresh process replaying the app's start-up step by step (as `gui --mrn`, start-up
probe "painted": the heaviest patient's dashboard until every chart in view has painted), then a
fresh process doing the floor's steps (`app_scale._FLOOR_COLD`). Each phase is the process time it
took, the median of the runs; the stack's imports come first in both, so the phases compare.
Give a copy of the clinic (the app writes its rules cache into it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from app_scale import FLOOR_CODES, SIZE, heaviest_patients, load  # noqa: E402 (after the path)

_CLOCK = """
import json, os, sys, time
PHASES = [("start", time.process_time())]
def mark(name):
    PHASES.append((name, time.process_time()))
leave = os._exit
def report():
    mark("paint (event loop, until the charts in view painted)")
    print("PHASES " + json.dumps([(n, t - p) for (n, t), (_, p) in zip(PHASES[1:], PHASES)]), flush=True)
    leave(0)
"""

_APP = _CLOCK + """
import sqlalchemy, sqlmodel, numpy
mark("stack: sqlalchemy, sqlmodel, numpy")
from poems_monitor.app import _exit_when_painted, _load_data_layers, _skip_feature_scan_of_known_packages, set_app_identity
from poems_monitor.cli import parse_command_line
parse_command_line(["gui", "--db", sys.argv[1], "--user", "bench", "--mrn", sys.argv[2]])
mark("app: command line parser")
from poems_monitor.garbage_collector import pause_collector
pause_collector()  # (as run_app: no collection until the first paint)
_load_data_layers()
mark("app: data layers (SQLModel tables, rules, services)")
from PySide6.QtWidgets import QApplication
_skip_feature_scan_of_known_packages()  # (as run_app: pyqtgraph's and the app's modules are not read by PySide's hook)
app = QApplication(sys.argv[:1])
mark("stack: PySide6, QApplication")
import pyqtgraph
mark("stack: pyqtgraph")
from poems_monitor.services.preferences import dark_theme
from poems_monitor.ui.qt_translation import install_translators
from poems_monitor.ui.theme import apply_theme
set_app_identity(app)
install_translators(app)
apply_theme(app, dark=dark_theme())
mark("app: icon, fonts, translations, theme")
from poems_monitor.services.clinic_database import open_clinic_database
from poems_monitor.services.users import account_without_password
from poems_monitor.ui.damaged_database import read_only_actor
db = open_clinic_database(sys.argv[1])
actor = read_only_actor(account_without_password(db, "bench"))
mark("app: open the clinic, the actor")
from poems_monitor.ui.main_window import MainWindow
mark("app: screen modules")
window = MainWindow(db, actor, defer_until_painted=True)
mark("app: main window (menus, patient list, dashboard frame)")
window.show()
window.open_patient(sys.argv[2])
mark("app: open the patient (rules, dashboard, charts)")
os._exit = lambda code: report()
_exit_when_painted([c.plot_widget.viewport() for c in window.dashboard.charts.charts.values()])
app.exec()
"""

_FLOOR = _CLOCK + """
import sqlalchemy, sqlmodel, numpy
mark("stack: sqlalchemy, sqlmodel, numpy")
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QVBoxLayout, QWidget
app = QApplication(sys.argv[:1])
mark("stack: PySide6, QApplication")
import pyqtgraph as pg
mark("stack: pyqtgraph")
from sqlalchemy import text
from sqlmodel import Session, create_engine
engine = create_engine("sqlite:///" + sys.argv[1])
with Session(engine) as session:
    rows = session.execute(text(
        "SELECT o.code, v.date, o.value_num FROM observation o JOIN visit v ON v.id = o.visit_id "
        "JOIN patient p ON p.id = v.patient_id WHERE p.mrn = :mrn AND o.superseded_at IS NULL ORDER BY v.date"),
        {"mrn": sys.argv[2]}).all()
mark("floor: read the patient's values")
window = QMainWindow()
body = QWidget()
layout = QVBoxLayout(body)
views = []
for code in sys.argv[3].split(","):
    plot = pg.PlotWidget()
    points = [(i, r[2]) for i, r in enumerate(rows) if r[0] == code and r[2] is not None]
    plot.plot([p[0] for p in points], [p[1] for p in points], symbol="o")
    layout.addWidget(plot)
    views.append(plot.viewport())
window.setCentralWidget(body)
window.resize(int(sys.argv[4]), int(sys.argv[5]))
mark("floor: five charts")
waiting = set(views)
class Watch(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and watched in waiting:
            waiting.discard(watched)
            if not waiting:
                QTimer.singleShot(0, report)
        return False
watch = Watch()
for v in views:
    v.installEventFilter(watch)
window.show()
app.exec()
"""


def _phases(code: str, args: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("PHASES ")), None)
    if line is None:
        raise SystemExit(f"no phases reported:\n{done.stderr[-2000:]}")
    return [(name, seconds) for name, seconds in json.loads(line.removeprefix("PHASES "))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clinic", type=Path, help="a copy of a clinic database (it is written to)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    mrn = heaviest_patients(args.clinic)[0]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", POEMS_MONITOR_HOME=tmp, PYTHONPATH=str(ROOT),
                   PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        app_args = [str(args.clinic), mrn]
        floor_args = [str(args.clinic), mrn, ",".join(FLOOR_CODES), *map(str, SIZE)]
        _phases(_APP, app_args, env)  # compiling, migrating, the rules cache: not a cold start's work
        _phases(_FLOOR, floor_args, env)
        runs: dict[str, list[list[tuple[str, float]]]] = {"app": [], "floor": []}
        for _ in range(args.runs):  # alternated: both see the same load
            runs["app"].append(_phases(_APP, app_args, env))
            runs["floor"].append(_phases(_FLOOR, floor_args, env))
    print(f"{args.clinic.name}, patient {mrn}; CPU (process time) per phase, median of {args.runs} runs; {load()}")
    totals = {}
    for who, results in runs.items():
        print(f"  {who}:")
        for i, (name, _) in enumerate(results[0]):
            print(f"    {statistics.median(r[i][1] for r in results) * 1000:6.0f} ms  {name}")
        totals[who] = statistics.median(sum(s for _, s in r) for r in results)
        own = statistics.median(sum(s for n, s in r if not n.startswith("stack")) for r in results)
        print(f"    {totals[who] * 1000:6.0f} ms  in all (after the interpreter's start); "
              f"{own * 1000:.0f} ms beside the stack's imports")
    print(f"  app / floor: {totals['app'] / totals['floor']:.2f}x")


if __name__ == "__main__":
    main()
