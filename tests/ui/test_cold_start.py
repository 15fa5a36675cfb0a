"""Cold start (issue 13): the app paints its first screen without loading what that screen does not
show. The real command (`python -m poems_monitor gui --mrn ...`, start-up probe "painted") runs in
a fresh process, which reports the modules it had loaded when the dashboard's charts had painted;
the PDF report, FHIR and CSV exports, the PostgreSQL code and driver, the dialogs and the user
guide are loaded when first used, so a start-up import that creeps back in fails here; the
charts' hidden "Table" twins read no value before the Table button is pressed; and what the
dashboard does not show waits until after the first paint (the patient list's rows and search
index, the lock panel, the garbage collector's rescans), then comes without moving the layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from poems_monitor.local_format import day

ROOT = Path(__file__).resolve().parents[2]

# Run as the app's own entry point, with os._exit (how the probe leaves) reporting sys.modules and
# the window's state first.
PROBE = """
import gc, json, os, runpy, sys
from poems_monitor.ui.charts.chart_table import ChartTableModel
from poems_monitor.ui.main_window import MainWindow
cells = []
cell = ChartTableModel.cell
ChartTableModel.cell = lambda self, *a: cells.append(1) or cell(self, *a)
windows = []
build = MainWindow.__init__
MainWindow.__init__ = lambda self, *a, **k: windows.append(self) or build(self, *a, **k)
leave = os._exit
def report(code):
    try:
        print("MODULES " + json.dumps(sorted(sys.modules)), flush=True)
        print("CELLS " + str(len(cells)), flush=True)
        window = windows[0]
        print("WINDOW " + json.dumps({"dashboard": window.dashboard.mrn, "patient_rows": window.patients.model.total(),
                                      "collector_on": gc.isenabled(), "review_list_built": window._review is not None,
                                      "pydantic_plugins_looked_for": getattr(sys.modules.get("pydantic.plugin._loader"),
                                                                             "_plugins", None) is not None}),
              flush=True)
    finally:
        leave(code)
os._exit = report
sys.argv = ["poems-monitor", "gui", "--db", sys.argv[1], "--user", "bench", "--mrn", sys.argv[2]]
runpy.run_module("poems_monitor", run_name="__main__")
"""

NOT_AT_START = (
    "poems_monitor.ui.report.summary_document",  # the PDF summary
    "poems_monitor.ui.report.chart_export",
    "poems_monitor.services.patient_summary",
    "poems_monitor.services.fhir_export",
    "poems_monitor.services.csv_export",
    "poems_monitor.services.timeline_io",
    "poems_monitor.services.clinic_server",  # PostgreSQL
    "poems_monitor.services.server_backup",
    "poems_monitor.services.server_migration",
    "poems_monitor.persistence.pg_tools",
    "psycopg",
    "psycopg2",
    "alembic",  # (the database is at the current schema)
    "poems_monitor.ui.settings_dialog",
    "poems_monitor.ui.units_dialog",
    "poems_monitor.ui.accounts_dialog",
    "poems_monitor.ui.history_view",
    "poems_monitor.ui.user_guide",
    "poems_monitor.ui.about_dialog",
    "poems_monitor.ui.dialogs",
    "poems_monitor.ui.lab_import_dialog",
    "poems_monitor.services.lab_import",
    "poems_monitor.ui.entry",  # the visit entry tab, built when first shown
    "poems_monitor.ui.worklist",  # the clinic worklist view, likewise
    "poems_monitor.services.worklist",
    "poems_monitor.ui.idle_lock",  # the lock panel, built after the first paint (no idle lock without a sign-in)
    "poems_monitor.ui.review_panel",  # the "To review" list, a view of its own, built with the lists after it
    "poems_monitor.services.backup",  # the backup indicator is filled, and backups made, after the first paint
    "poems_monitor.services.integrity",  # File > Check database
    # the other commands of the command line: `gui` is read by a parser of its own
    "poems_monitor.cli.records",
    "poems_monitor.cli.rules",
    "poems_monitor.cli.reports",
    "poems_monitor.cli.response",
    "poems_monitor.cli.safety",
    "poems_monitor.cli.server",
)


def _clinic(tmp_path: Path) -> tuple[Path, str]:
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.clinic_database import open_clinic_database
    from poems_monitor.services.dashboard import richest_patient
    from poems_monitor.services.demo_clinic import create_demo_clinic

    path = tmp_path / "clinic.sqlite"
    db = open_clinic_database(path)
    create_demo_clinic(db, 6, seed=3, actor=Actor("demo-physician", Role.PHYSICIAN), today=date(2026, 12, 2))
    mrn = richest_patient(db)
    db.dispose()
    return path, mrn


def _probe(tmp_path, probe: str) -> tuple[str, list[str]]:  # noqa: ANN001
    """Start the app on a new clinic with `probe` (it leaves once the charts have painted): the
    MRN it opened and the lines it printed."""
    path, mrn = _clinic(tmp_path)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", POEMS_MONITOR_STARTUP_PROBE="painted",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", probe, str(path), mrn], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return mrn, done.stdout.splitlines()


def _json_line(lines: list[str], prefix: str):  # noqa: ANN202
    return json.loads(next(x for x in lines if x.startswith(prefix)).removeprefix(prefix))


def test_the_first_dashboard_paints_without_reports_exports_server_code_or_dialogs(tmp_path):
    mrn, lines = _probe(tmp_path, PROBE)
    loaded = set(_json_line(lines, "MODULES "))
    # the probe left once the charts had painted: the first screen's parts were loaded
    assert {"poems_monitor.ui.main_window", "poems_monitor.ui.charts.trend_chart", "pyqtgraph"} <= loaded
    early = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_AT_START))
    assert early == []
    # the charts' hidden "Table" twins were not sized to their values (about 13,000 cells on a
    # heavy patient: a tenth of a cold start)
    assert next(x for x in lines if x.startswith("CELLS ")) == "CELLS 0"
    # what the dashboard does not show waited: the patient list's rows (its search index), the
    # lock panel (idle_lock above); and no garbage collection rescanned start-up's heap before the paint
    window = _json_line(lines, "WINDOW ")
    # nor did pydantic read every installed distribution's entry points for plugins (the app uses none)
    assert window == {"dashboard": mrn, "patient_rows": 0, "collector_on": False, "review_list_built": False,
                      "pydantic_plugins_looked_for": False}


def test_after_the_first_paint_the_patient_list_fills_without_moving_the_layout_or_the_focus(qtbot, db, physician):
    """The window as the app starts it (`defer_until_painted`): the dashboard of the patient opened
    at start is complete at the first paint; a moment later the patient list has every patient,
    that one selected, the lock panel is ready, and nothing on screen moved."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QWidget

    from poems_monitor.services.dashboard import richest_patient
    from poems_monitor.services.demo_clinic import create_demo_clinic
    from poems_monitor.ui.main_window import VIEW_REVIEW, MainWindow

    create_demo_clinic(db, 5, seed=5, actor=physician, today=date(2026, 12, 2))
    mrn = richest_patient(db)
    win = MainWindow(db, physician, as_of=date(2026, 12, 2), background=False, remember_layout=False,
                     defer_until_painted=True)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    win.open_patient(mrn)
    win.patients.search.setFocus()
    assert win.patients.model.total() == 0 and win.lock_controller._panel is None  # not before the first paint
    assert win._review is None
    assert win.dashboard.dashboard.mrn == mrn  # the dashboard is complete before it

    def places() -> dict[str, QRect]:
        shown = [win.dashboard, win.patients, win.patients.search, win.patients.table, win.patients.count,
                 *(c.plot_widget for c in win.dashboard.charts.charts.values())]
        return {f"{type(w).__name__} {i}": QRect(w.mapTo(win, QPoint(0, 0)), w.size()) for i, w in enumerate(shown)}

    at_paint: dict[str, QRect] = {}
    win.firstPainted.connect(lambda: at_paint.update(places()))
    qtbot.waitUntil(lambda: win.patients.model.total() == 5)
    assert at_paint  # (the rows came after the first paint)
    qtbot.wait(50)  # (any layout the new rows asked for has run)
    assert places() == at_paint
    assert win.patients.current_mrn() == mrn  # the open patient is the list's selected row
    assert win.focusWidget() is win.patients.search
    assert isinstance(win.lock_panel, QWidget) and win.lock_controller._panel is win.lock_panel
    assert win._review is not None and win.views.widget(VIEW_REVIEW) is win.review  # in its place among the views


def test_a_charts_table_shows_its_values_once_asked(qtbot, db, physician):
    """(Its model is given when first shown.)"""
    from poems_monitor.services.dashboard import richest_patient
    from poems_monitor.services.demo_clinic import create_demo_clinic
    from poems_monitor.ui.main_window import MainWindow

    create_demo_clinic(db, 4, seed=5, actor=physician, today=date(2026, 12, 2))
    win = MainWindow(db, physician, as_of=date(2026, 12, 2), background=False, remember_layout=False)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    win.open_patient(richest_patient(db))
    chart = next(c for c in win.dashboard.charts.charts.values() if c.series)
    qtbot.mouseClick(chart.table_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: chart.table.isVisible())
    model = chart.table.model()
    assert model.rowCount() == sum(len(s.points) for s in chart.series) > 0
    newest = max(p.date for s in chart.series for p in s.points)
    assert model.index(0, 0).data() == day(newest)  # newest first, dated as on the chart's tooltip


# The desktop app's start as a person starts it (no start-up probe): the clinic file is checked,
# then the sign-in dialog; os._exit reports what was loaded and built when that dialog (or the
# damaged-database dialog) was shown, and which dialog it was.
REAL_START = """
import json, os, runpy, sys
from PySide6.QtWidgets import QApplication, QDialog
from poems_monitor.ui.damaged_database import DamagedDatabaseDialog
from poems_monitor.ui.login_dialog import LoginDialog

def shown(dialog):
    windows = sorted(type(w).__name__ for w in QApplication.topLevelWidgets() if w.isVisible() and w is not dialog)
    print("SHOWN " + json.dumps({"dialog": type(dialog).__name__, "visible_windows": windows,
                                  "modules": sorted(m for m in sys.modules if m.startswith("poems_monitor"))}), flush=True)
    os._exit(0)

DamagedDatabaseDialog.exec = LoginDialog.exec = lambda self: shown(self)
sys.argv = ["poems-monitor", "gui", "--db", sys.argv[1]]
runpy.run_module("poems_monitor", run_name="__main__")
"""


def _start_as_a_person(path: Path) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("POEMS_MONITOR_STARTUP_PROBE", None)
    done = subprocess.run([sys.executable, "-c", REAL_START, str(path)], env=env, capture_output=True, text=True, timeout=300)
    line = next((x for x in done.stdout.splitlines() if x.startswith("SHOWN ")), None)
    assert line is not None, done.stderr
    return json.loads(line.removeprefix("SHOWN "))


def test_a_sound_clinic_file_opens_to_the_sign_in_without_loading_the_backup_code(tmp_path):
    path, _ = _clinic(tmp_path)
    seen = _start_as_a_person(path)
    assert seen["dialog"] == "LoginDialog" and seen["visible_windows"] == []
    assert "poems_monitor.services.backup" not in seen["modules"]  # loaded for a damaged file only


def test_a_damaged_clinic_file_shows_its_dialog_before_anything_else(tmp_path):
    path, _ = _clinic(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # every page but the first: header intact, content garbage
        for offset in range(4096, size, 4096):
            fh.seek(offset + 8)
            fh.write(b"\xde\xad\xbe\xef" * 200)
    seen = _start_as_a_person(path)
    assert seen["dialog"] == "DamagedDatabaseDialog"
    assert seen["visible_windows"] == []  # no sign-in, no main window before it
    assert "poems_monitor.ui.main_window" not in seen["modules"]


@pytest.mark.parametrize("argv", [
    ["gui", "--db", "c.sqlite", "--user", "ann", "--mrn", "H-1"],
    ["--db", "c.sqlite", "gui", "--mrn", "H-1", "--size", "1366x768"],
    ["--db", "c.sqlite"],  # no command: the desktop app
    [],
    ["--db=gui"],  # "gui" as a value, not the command
    ["--us", "ann", "gui", "--demo"],  # an abbreviated option
])
def test_the_desktop_apps_command_line_reads_as_the_full_parser_reads_it(argv):
    from poems_monitor.cli import _desktop_app_arguments, build_parser

    quick = _desktop_app_arguments(argv)
    full = build_parser().parse_args(argv)
    if full.command is None:  # (as `main` reads it: no command opens the desktop app)
        full = build_parser().parse_args([*argv, "gui"])
    assert quick is not None and full.command == "gui"
    assert vars(quick).keys() == vars(full).keys()
    assert {k: v for k, v in vars(quick).items() if k != "_common"} == {k: v for k, v in vars(full).items() if k != "_common"}


@pytest.mark.parametrize("argv", [
    ["worklist", "--db", "c.sqlite"],  # another command
    ["--db", "c.sqlite", "records", "gui"],  # "gui" further on: not the command
    ["gui", "--no-such-option"],  # a mistake: the full parser names it
    ["gui", "--view", "nowhere"],
    ["--help"], ["gui", "-h"], ["--vers"],  # they print the full parser's text
])
def test_any_other_command_line_is_left_to_the_full_parser(argv):
    from poems_monitor.cli import _desktop_app_arguments

    assert _desktop_app_arguments(argv) is None


def test_a_mistake_in_the_desktop_apps_command_line_is_named_as_before(capsys):
    from poems_monitor.cli import main

    with pytest.raises(SystemExit) as leaving:
        main(["gui", "--view", "nowhere"])
    assert leaving.value.code == 2
    said = capsys.readouterr().err
    assert "usage: poems-monitor gui" in said and "--view" in said and "nowhere" in said


def test_what_is_typed_into_the_patient_filter_at_the_first_paint_is_kept_when_the_rows_arrive(qtbot, db, physician):
    """The first keystrokes reach the filter at once (its rows come a moment after the first
    paint), and the rows that arrive are filtered by them: nothing typed is cleared or lost."""
    from PySide6.QtWidgets import QApplication

    from poems_monitor.services.demo_clinic import create_demo_clinic
    from poems_monitor.services.patients import list_patients
    from poems_monitor.ui.main_window import MainWindow

    create_demo_clinic(db, 5, seed=5, actor=physician, today=date(2026, 12, 2))
    rows = list_patients(db)
    opened, other = rows[0], rows[-1]
    win = MainWindow(db, physician, as_of=date(2026, 12, 2), background=False, remember_layout=False,
                     defer_until_painted=True)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    win.open_patient(opened.mrn)
    win.patients.search.setFocus()
    typed_at_paint: list[int] = []

    def type_now() -> None:
        typed_at_paint.append(win.patients.model.total())
        qtbot.keyClicks(QApplication.focusWidget(), other.mrn)

    win.firstPainted.connect(type_now)
    qtbot.waitUntil(lambda: win.patients.model.total() == 5)
    qtbot.wait(50)
    assert typed_at_paint == [0]  # typed before the rows had come
    assert win.patients.search.text() == other.mrn
    shown = [win.patients.proxy.index(r, 0).data() for r in range(win.patients.proxy.rowCount())]
    assert shown == [other.mrn]
    assert win.focusWidget() is win.patients.search


# The start-up probe as the benchmark runs it, nothing imported before the app's own start; it
# reports which modules' source PySide6's import hook read (to learn whether they use PySide).
SOURCE_PROBE = """
import inspect, json, os, runpy, sys
read = []
getsource = inspect.getsource
inspect.getsource = lambda obj: read.append(getattr(obj, "__name__", "?")) or getsource(obj)
leave = os._exit
os._exit = lambda code: (print("SOURCES " + json.dumps(read), flush=True), leave(code))
sys.argv = ["poems-monitor", "gui", "--db", sys.argv[1], "--user", "bench", "--mrn", sys.argv[2]]
runpy.run_module("poems_monitor", run_name="__main__")
"""


def test_pyside_reads_the_source_of_no_module_of_the_app_pyqtgraph_or_the_standard_library(tmp_path):
    """(About 280 files, 30-40 ms of a cold start, before.)"""
    read = _json_line(_probe(tmp_path, SOURCE_PROBE)[1], "SOURCES ")
    assert "PySide6.QtCore" in read  # (the hook ran: it reads PySide's own modules)
    assert [m for m in read if m.partition(".")[0] in ("poems_monitor", "pyqtgraph", "datetime", "dataclasses")] == []


def test_the_packages_whose_source_pyside_is_not_asked_to_read_select_no_pyside_feature():
    """`app._skip_feature_scan_of_known_packages` gives these packages' modules PySide's default
    selection without reading them: true only while none of them selects a feature."""
    import re

    import pyqtgraph

    from poems_monitor.app import NO_PYSIDE_FEATURES

    selecting = re.compile(r"^\s*(from\s+__feature__\s+import|import\s+__feature__)", re.MULTILINE)
    roots = {"poems_monitor": ROOT / "poems_monitor", "pyqtgraph": Path(pyqtgraph.__file__).parent}
    assert set(NO_PYSIDE_FEATURES) == set(roots)
    files = [f for root in roots.values() for f in root.rglob("*.py")]
    assert len(files) > 300
    assert [f for f in files if selecting.search(f.read_text(encoding="utf-8", errors="replace"))] == []
