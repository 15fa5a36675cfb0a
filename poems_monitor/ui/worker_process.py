"""Whole-clinic computations (the patient list's flag and overdue counts, the worklist) in a worker
process, so that a cold rules cache on a large clinic never slows the screens.

A Qt worker thread shares the interpreter with the GUI thread: while the rules ran over 10,000
patients in one, switching patients took 3-10x as long. `compute(job, db, args, ...)` runs
`job(db, *args)` in a spawned process instead (the calling thread only waits for its answer)
when the clinic is a SQLite file of at least `PROCESS_MIN_PATIENTS` patients. Each window has one
worker process, started with its first job and kept for the next ones (after a save, its memo of
the rules' results makes a refresh as quick as in one process). The worker process:

- runs at a lower priority (`NICENESS`), as do the rules' own worker processes it may start;
- leads its own process group, so cancelling ends it and those workers together (a killed
  transaction is rolled back by SQLite: nothing half-written stays); it is ended when its window
  closes, or its job is cancelled;
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
import multiprocessing.util  # (its exit handler, which waits for worker processes, is registered before ours)
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
_POLL_S = 0.05  # how often a waiting thread looks at the cancel request
_STOP_WAIT_S = 5.0

last_peak_mb: dict[str, float] = {}  # the last job's worker: its peak memory, its own workers' (benchmark)


class WorkerProcessFailed(Exception):
    """The worker process gave no result; its str() says why."""


class _Worker:
    """One long-lived worker process and the pipe to it; `lock` is held for the length of a job."""

    def __init__(self, url: str):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child, url, os.getpid()),
                                       name=WORKER_NAME, daemon=False)
        self.lock = threading.Lock()
        self.stopped = False  # ended on purpose (window closed, app quitting): its job is cancelled
        try:
            self.process.start()
        except Exception as exc:  # noqa: BLE001 (no process may be started here: say so, compute here)
            self.conn.close()
            raise WorkerProcessFailed(f"it could not start: {exc}") from exc
        finally:
            child.close()

    def stop(self) -> None:
        self.stopped = True
        _stop(self.process)
        self.conn.close()


WORKER_NAME = "poems-monitor rules worker"
_workers: dict[object, _Worker] = {}  # by key (the window): each window's own worker
_workers_lock = threading.Lock()


def uses_process(db: Database, patients: int) -> bool:
    """Whether `compute` would run a job over `patients` patients of `db` in a worker process."""
    return (PROCESS_MIN_PATIENTS is not None and patients >= PROCESS_MIN_PATIENTS
            and db.path is not None  # a clinic server: its password and connection stay in this process
            and not getattr(sys, "frozen", False))  # a frozen app would start itself again, not a worker


def compute(job: Callable[..., Any], db: Database, args: tuple, *, patients: int,
            cancel: threading.Event | None = None, key: object = None) -> Any:
    """`job(db, *args)`, in the worker process of `key` (default: the clinic) where `uses_process`
    says so, else here. `job` is a module-level function (the worker imports it by name) and its
    result must pickle. The worker stays for the next job (its memo of the rules' results stays
    warm: a refresh after a save costs what it costs in one process); jobs of one key take turns.
    Raises `Cancelled` when `cancel` is set meanwhile (the worker is ended) or the worker is
    stopped (`stop`); a job run here is not interrupted."""
    if not uses_process(db, patients):
        return job(db, *args)
    try:
        return _in_worker_process(job, db, args, cancel or threading.Event(), db.url if key is None else key)
    except WorkerProcessFailed as exc:
        log.warning("the worker process for %s failed (%s); computing it in this process instead",
                    getattr(job, "__name__", job), exc)
        return job(db, *args)


def stop(key: object) -> None:
    """End the worker process of `key` (its window closed), cancelling its job if it has one."""
    with _workers_lock:
        worker = _workers.pop(key, None)
    if worker is not None:
        worker.stop()


def stop_all() -> None:
    """End every worker process (the app is quitting; before multiprocessing's own exit handler,
    which would wait for them)."""
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop()


def _in_worker_process(job: Callable[..., Any], db: Database, args: tuple, cancel: threading.Event, key: object) -> Any:
    name = getattr(job, "__name__", "job")
    while True:  # the key's worker, once its previous job is done (a dead one is replaced)
        with _workers_lock:
            worker = _workers.get(key)
            if worker is None or not worker.process.is_alive():
                worker = _workers[key] = _Worker(db.url)
        if worker.lock.acquire(timeout=_POLL_S):
            if worker.process.is_alive() and not worker.stopped:
                break
            worker.lock.release()
        if cancel.is_set():
            raise Cancelled(name)
    try:
        try:
            worker.conn.send((job, args))
        except (OSError, ValueError) as exc:
            raise (Cancelled(name) if worker.stopped else WorkerProcessFailed(f"it cannot be reached: {exc}")) from exc
        while True:
            if worker.stopped:
                raise Cancelled(name)
            if cancel.is_set():
                stop(key)  # (the job cannot be interrupted otherwise; the next one starts a new worker)
                raise Cancelled(name)
            try:
                if worker.conn.poll(_POLL_S):
                    kind, value, peaks = worker.conn.recv()
                    break
            except (EOFError, OSError) as exc:
                if worker.stopped:
                    raise Cancelled(name) from exc
                with _workers_lock:
                    if _workers.get(key) is worker:
                        del _workers[key]
                worker.process.join(_STOP_WAIT_S)
                raise WorkerProcessFailed(f"it ended without a result (exit code {worker.process.exitcode})") from exc
    finally:
        worker.lock.release()
    last_peak_mb.clear()
    last_peak_mb.update(peaks)
    if kind != "ok":
        raise WorkerProcessFailed(value)
    return value


def _stop(process: Any) -> None:  # noqa: ANN401 (a multiprocessing process)
    """End a worker (and its group: the rules' own workers), asking first."""
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


atexit.register(stop_all)  # registered after multiprocessing's handler, so it runs before it


# --- in the worker process -------------------------------------------------------------------------

def _worker_main(conn: Any, url: str, parent_pid: int) -> None:  # noqa: ANN401
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):  # (Windows; or not allowed)
        pass
    threading.Thread(target=_end_with_parent, args=(parent_pid,), daemon=True).start()
    db = Database(engine=create_database_engine(url, wal="mode=ro" not in url), url=url)
    try:
        while True:
            try:
                job, args = conn.recv()
            except (EOFError, OSError):  # the app let go of this worker
                return
            try:
                message: tuple = ("ok", job(db, *args), _peaks())
            except BaseException as exc:  # noqa: BLE001 (said to the parent, which computes it itself)
                log.exception("worker process job failed")
                message = ("error", f"{type(exc).__name__}: {exc}", _peaks())
            try:
                conn.send(message)
            except Exception as exc:  # noqa: BLE001 (a result that does not pickle)
                conn.send(("error", f"its result could not be sent: {exc}", _peaks()))
    finally:
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
