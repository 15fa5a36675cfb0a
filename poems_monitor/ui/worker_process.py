"""Whole-clinic computations (the patient list's flag and overdue counts, the worklist) in a worker
process, so that a cold rules cache on a large clinic never slows the screens.

A Qt worker thread shares the interpreter with the GUI thread: while the rules ran over 10,000
patients in one, switching patients took 3-10x as long. `compute(job, db, args, ...)` runs
`job(db, *args)` in a spawned process instead (the calling thread only waits for its one message)
when the clinic is a SQLite file of at least `PROCESS_MIN_PATIENTS` patients; the rules cache it
fills is the database's, so the GUI process finds it warm afterwards. The worker process:

- runs at a lower priority (`NICENESS`), as do the rules' own worker processes it may start;
- leads its own process group, so cancelling ends it and those workers together (a killed
  transaction is rolled back by SQLite: nothing half-written stays);
- ends itself if the app's process goes away.

Anything that stops it from giving a result (it cannot start, it dies, the job raises) is logged
and the job is run in the calling thread as before, so the screen still gets its rows (or the
job's own error). A frozen (PyInstaller) app, a clinic server, and small clinics run it in the
calling thread too. Qt-free: the child imports only this module and the job's.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from poems_monitor.services.clinic_database import Database, create_database_engine
from poems_monitor.services.progress import Cancelled

log = logging.getLogger(__name__)

PROCESS_MIN_PATIENTS: int | None = 500  # below this a cold clinic takes a second or two: a thread is enough
NICENESS = 10  # the GUI process keeps the cores it needs; an idle workstation still gives them all to the job
_POLL_S = 0.05  # how often the waiting thread looks at the cancel request
_STOP_WAIT_S = 5.0

_live: set[Any] = set()  # running worker processes (stopped when the app exits)
_live_lock = threading.Lock()
_ended_by_quit: set[Any] = set()  # ended by `stop_all`: their jobs are not computed here instead
last_peak_mb: dict[str, float] = {}  # the last worker's peak memory: itself, its own workers (benchmark)


class WorkerProcessFailed(Exception):
    """The worker process gave no result; its str() says why."""


def uses_process(db: Database, patients: int) -> bool:
    """Whether `compute` would run a job over `patients` patients of `db` in a worker process."""
    return (PROCESS_MIN_PATIENTS is not None and patients >= PROCESS_MIN_PATIENTS
            and db.path is not None  # a clinic server: its password and connection stay in this process
            and not getattr(sys, "frozen", False))  # a frozen app would start itself again, not a worker


def compute(job: Callable[..., Any], db: Database, args: tuple, *, patients: int,
            cancel: threading.Event | None = None) -> Any:
    """`job(db, *args)`, in a worker process where `uses_process` says so, else here. `job` is a
    module-level function (the worker imports it by name) and its result must pickle. Raises
    `Cancelled` when `cancel` is set meanwhile (the worker is ended); a job run here is not
    interrupted."""
    if not uses_process(db, patients):
        return job(db, *args)
    try:
        return _in_worker_process(job, db, args, cancel or threading.Event())
    except WorkerProcessFailed as exc:
        log.warning("the worker process for %s failed (%s); computing it in this process instead",
                    getattr(job, "__name__", job), exc)
        return job(db, *args)


def stop_all() -> None:
    """End every running worker process (the app is quitting; before multiprocessing's own exit
    handler, which would wait for them)."""
    with _live_lock:
        running = list(_live)
        _ended_by_quit.update(running)
    for process in running:
        _stop(process)


def _in_worker_process(job: Callable[..., Any], db: Database, args: tuple, cancel: threading.Event) -> Any:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_worker_main, args=(sender, db.url, job, args, os.getpid()),
                              name=f"poems-monitor {getattr(job, '__name__', 'job')}", daemon=False)
    try:
        process.start()
    except Exception as exc:  # noqa: BLE001 (no process may be started here: say so, compute here)
        receiver.close()
        sender.close()
        raise WorkerProcessFailed(f"it could not start: {exc}") from exc
    sender.close()  # (the child's copy is the only writer left: its exit ends the pipe)
    with _live_lock:
        _live.add(process)
    try:
        while True:
            if cancel.is_set() or process in _ended_by_quit:
                raise Cancelled(getattr(job, "__name__", "job"))
            if receiver.poll(_POLL_S):
                try:
                    kind, value, peaks = receiver.recv()
                except (EOFError, OSError) as exc:
                    if process in _ended_by_quit:
                        raise Cancelled(getattr(job, "__name__", "job")) from exc
                    process.join(_STOP_WAIT_S)
                    raise WorkerProcessFailed(f"it ended without a result (exit code {process.exitcode})") from exc
                break
    finally:
        receiver.close()
        _stop(process)
        with _live_lock:
            _live.discard(process)
            _ended_by_quit.discard(process)
    last_peak_mb.clear()
    last_peak_mb.update(peaks)
    if kind != "ok":
        raise WorkerProcessFailed(value)
    return value


def _stop(process: Any) -> None:  # noqa: ANN401 (a multiprocessing process)
    """Wait briefly for a process that has answered; end one (and its group) that has not."""
    process.join(0.5 if process.is_alive() else 0)
    if process.is_alive():
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGTERM)  # with the rules' own workers
            else:
                process.terminate()
        except (ProcessLookupError, PermissionError):  # (not yet its own group leader)
            process.terminate()
        process.join(_STOP_WAIT_S)
        if process.is_alive():
            process.kill()
            process.join(_STOP_WAIT_S)


atexit.register(stop_all)  # (after multiprocessing's handler was registered: runs before it)


# --- in the worker process -------------------------------------------------------------------------

def _worker_main(sender: Any, url: str, job: Callable[..., Any], args: tuple, parent_pid: int) -> None:  # noqa: ANN401
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):  # (Windows; or not allowed)
        pass
    threading.Thread(target=_end_with_parent, args=(parent_pid,), daemon=True).start()
    db = None
    try:
        db = Database(engine=create_database_engine(url, wal="mode=ro" not in url), url=url)
        message: tuple = ("ok", job(db, *args), _peaks())
    except BaseException as exc:  # noqa: BLE001 (said to the parent, which computes it itself)
        log.exception("worker process job failed")
        message = ("error", f"{type(exc).__name__}: {exc}", _peaks())
    try:
        sender.send(message)
    except Exception as exc:  # noqa: BLE001 (a result that does not pickle)
        sender.send(("error", f"its result could not be sent: {exc}", _peaks()))
    sender.close()
    if db is not None:
        db.engine.dispose()


def _end_with_parent(parent_pid: int) -> None:
    """The app's process went away (crashed, killed): nobody waits for the result; end the group."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            if hasattr(os, "killpg"):
                os.killpg(0, signal.SIGKILL)
            os._exit(1)


def _peaks() -> dict[str, float]:
    try:
        import resource
    except ImportError:  # (Windows)
        return {}
    return {"worker": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "its workers": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
