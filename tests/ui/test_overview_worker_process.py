"""The clinic overview and the worklist from a cold rules cache, computed in a worker process
(ui.worker_process): the window keeps answering meanwhile (a patient switch completes, a timer
keeps ticking, this process stays nearly idle), the counts and rows are the ones the services
compute in one process, the next refresh goes to the same worker, closing the window ends it, and
a worker that fails is replaced by the work done here."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from poems_monitor.persistence.db import open_database
from poems_monitor.services import rules_cache
from poems_monitor.services.clinic_database import quick_check_problems
from poems_monitor.services.dashboard import clinic_overview
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.worklist import build_worklist
from poems_monitor.ui import worker_process
from poems_monitor.ui.main_window import MainWindow
from poems_monitor.ui.worklist.rows import FLAG, load_worklist
from tests.conftest import TODAY

COUNT = 30


@pytest.fixture(scope="module")
def cold_clinic_file(tmp_path_factory) -> Path:
    from poems_monitor.services.access import Actor, Role

    path = tmp_path_factory.mktemp("clinic") / "cold.sqlite"
    db = open_database(path)
    import_patients(db, generate_patients(COUNT, seed=7, today=TODAY), Actor("test-admin", Role.ADMIN), reason="test")
    rules_cache.clear_cache(db)
    db.dispose()
    return path


@pytest.fixture
def cold_clinic(cold_clinic_file, tmp_path, monkeypatch):
    """A copy of the clinic with an empty rules cache, big enough (for this test) for a worker process."""
    path = tmp_path / "clinic.sqlite"
    shutil.copy(cold_clinic_file, path)
    rules_cache.forget()  # (this process's memo of earlier tests' results)
    monkeypatch.setattr(worker_process, "PROCESS_MIN_PATIENTS", 1)
    db = open_database(path)
    yield db
    db.dispose()


@pytest.fixture
def reference(cold_clinic_file, tmp_path):
    """Another cold copy, computed by the services in this process (as before the worker process)."""
    path = tmp_path / "reference.sqlite"
    shutil.copy(cold_clinic_file, path)
    db = open_database(path)
    yield db
    db.dispose()


def _workers() -> list:
    return [p for p in multiprocessing.active_children() if p.name == worker_process.WORKER_NAME]


def _window(qtbot, db, physician) -> MainWindow:
    win = MainWindow(db, physician, as_of=TODAY, remember_layout=False)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_a_cold_overview_computes_in_a_worker_process_while_the_window_switches_patients(
        qtbot, cold_clinic, reference, physician):
    win = _window(qtbot, cold_clinic, physician)
    arrived: list[float] = []
    win.overviewUpdated.connect(lambda: arrived.append(time.perf_counter()))
    ticks: list[float] = []
    timer = QTimer(win)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.waitUntil(lambda: bool(_workers()), timeout=30000)
    assert not arrived

    # a click on another patient opens its dashboard before the overview has arrived
    mrns = [p.mrn for p in generate_patients(COUNT, seed=7, today=TODAY)]
    other = next(m for m in mrns if m != win.dashboard.mrn)
    win.patients.select(other)
    qtbot.waitUntil(lambda: win.dashboard.mrn == other, timeout=10000)
    assert not arrived, "the overview arrived before the switch: nothing was shown about the GUI meanwhile"

    started, cpu = time.perf_counter(), time.process_time()
    qtbot.waitUntil(lambda: bool(arrived), timeout=240000)
    wall, used = arrived[0] - started, time.process_time() - cpu
    # the rules ran elsewhere: this process (GUI thread, the thread waiting for the worker) was nearly idle
    assert used < 0.5 * wall + 0.2, f"this process used {used:.2f} s of CPU in {wall:.2f} s"
    beats = [t for t in ticks if started <= t <= arrived[0]]
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert beats and max(gaps, default=0) < 1.0, f"the event loop stopped for {max(gaps, default=0):.2f} s"

    expected = clinic_overview(reference, TODAY)  # in this process, from its own cold cache
    assert len(expected) == COUNT
    assert {m: win.patients.model.status(m) for m in expected} == expected
    assert any(s.new_flags for s in expected.values()) and any(s.overdue for s in expected.values())

    # the next refresh (after a save, say) goes to the same worker, whose memo is warm
    worker = _workers()
    with qtbot.waitSignal(win.overviewUpdated, timeout=120000):
        win.refresh_overview()
    assert _workers() == worker and len(worker) == 1


def test_the_worklist_from_a_worker_process_has_the_rows_of_build_worklist(qtbot, cold_clinic, reference, physician):
    win = _window(qtbot, cold_clinic, physician)
    view = win.worklist
    with qtbot.waitSignal(view.loaded, timeout=240000) as loaded:
        win.show_view(1)  # View › Worklist
        qtbot.waitUntil(lambda: bool(_workers()) or not view._loading, timeout=30000)
        assert view.busy.isVisible() or not view._loading  # the moving bar while it computes
    assert loaded.args[0] > 0

    shown = view.model.rows()
    assert shown == load_worklist(reference, TODAY).rows
    items = [i for i in build_worklist(reference, TODAY).items if i.status is not None]
    followups = [r for r in shown if r.kind != FLAG]
    assert [(r.mrn, r.item, r.status, r.due, r.last_done) for r in followups] == [
        (i.mrn, i.item, i.status.value, i.due, i.last_done) for i in items]
    assert any(r.kind == FLAG for r in shown)


def test_closing_the_window_ends_the_worker_process_and_leaves_the_clinic_whole(qtbot, cold_clinic, physician):
    win = _window(qtbot, cold_clinic, physician)
    qtbot.waitUntil(lambda: bool(_workers()), timeout=30000)
    win.skip_close_checks = True
    win.close()
    qtbot.waitUntil(lambda: not _workers(), timeout=15000)
    assert quick_check_problems(cold_clinic) == []
    assert len(clinic_overview(cold_clinic, TODAY)) == COUNT  # what the worker left is usable


def _fails_in_a_worker(db, as_of):  # noqa: ANN001, ANN202 (a job the worker process cannot do)
    if multiprocessing.parent_process() is not None:
        raise RuntimeError("no rules here")
    return clinic_overview(db, as_of)


def test_a_failed_worker_process_is_replaced_by_the_work_done_here(cold_clinic, reference, caplog):
    with caplog.at_level(logging.WARNING, logger="poems_monitor.ui.worker_process"):
        got = worker_process.compute(_fails_in_a_worker, cold_clinic, (TODAY,), patients=COUNT)
    worker_process.stop(cold_clinic.url)
    assert got == clinic_overview(reference, TODAY)
    assert "failed" in caplog.text and "computing it in this process instead" in caplog.text


def test_a_frozen_app_computes_in_its_own_process(cold_clinic, monkeypatch):
    assert worker_process.uses_process(cold_clinic, COUNT)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert not worker_process.uses_process(cold_clinic, COUNT)  # it would start itself again, not a worker
    before = set(multiprocessing.active_children())
    assert len(worker_process.compute(clinic_overview, cold_clinic, (TODAY,), patients=COUNT)) == COUNT
    assert set(multiprocessing.active_children()) == before
