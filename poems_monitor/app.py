"""Composition root of the desktop app: settings, database, signed-in user, main window.

Owns start-up and nothing else: it opens the database (or a fresh demo clinic in a temporary
folder), decides who is acting, applies the theme, builds the main window with those, and either
runs the event loop or renders one screen headless (`gui --screenshot FILE.png`). Heavy modules
(Qt, pyqtgraph, the services) are imported here, inside `run_app`, so the command line stays
quick for every other command.

Who is acting: `--demo` signs in as the demo physician without a password (the title says so);
`--screenshot` and the start-up probe of the benchmarks render without a login (`--user`, as on
the command line); otherwise the database is opened with a quick integrity check (a damaged file
offers the newest good backup), and the person signs in (at first start: creates the
administrator). The session then locks after the configured idle time and backs up on close.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_PATIENTS = 60
DEMO_SEED = 7
DEMO_TITLE = "Demo clinic — signed in as demo physician"


def parse_size(text: str | None) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in (text or "1600x1000").lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 1600x1000, not {text!r}") from None
    if not (320 <= w <= 10000 and 240 <= h <= 10000):
        raise ValueError(f"--size {text} is outside 320x240 .. 10000x10000")
    return w, h


def _install_excepthook() -> None:
    """An error no window caught (Qt prints those to stderr with their text, which may quote the
    record) goes to the log with its traceback scrubbed, and to stderr as one scrubbed line."""
    from poems_monitor.logging_setup import scrubbed_exception

    def hook(kind, exc, tb) -> None:  # noqa: ANN001
        log.error("unexpected error in the desktop app", exc_info=(kind, exc, tb))
        print(f"poems-monitor: {scrubbed_exception(exc)} (details in the log file)", file=sys.stderr)

    if sys.excepthook is sys.__excepthook__:  # never replace a hook someone else installed (a test harness)
        sys.excepthook = hook


def set_app_identity(app) -> None:  # noqa: ANN001 (a QGuiApplication)
    """The window icon (every window inherits it) and the desktop entry the window belongs to."""
    from PySide6.QtGui import QIcon

    from poems_monitor import shipped

    icon = shipped.find(shipped.APP_ICON)
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    app.setDesktopFileName(shipped.APP_ID)
    from poems_monitor.ui.fonts import japanese_family

    japanese_family()  # the bundle's Japanese font becomes a fallback of every screen (a workstation may have none)


def _load_data_layers() -> None:
    """Import the layers under the screens (SQLModel tables, repositories, rules, services) before
    Qt. Once PySide6 is imported, its import hook (the `__feature__` machinery, which has no switch)
    reads the source of every module imported after it to look for "PySide6": modules that are
    already loaded are read only when a later import statement names them, not their own imports
    (cold start: about 300 fewer files read). numpy (the charts' arrays, through pyqtgraph) for the
    same reason: the first paint needs it anyway."""
    import numpy  # noqa: F401

    import poems_monitor.services.clinic_database
    import poems_monitor.services.dashboard
    import poems_monitor.services.patients
    import poems_monitor.services.review
    import poems_monitor.services.users  # noqa: F401 (imported for the side effect above)


# Packages known never to select a PySide feature (`from __feature__ import snake_case` and the
# like; tests/ui/test_cold_start.py checks their source): the app's own and pyqtgraph.
NO_PYSIDE_FEATURES = ("poems_monitor", "pyqtgraph")


def _skip_feature_scan_of_known_packages() -> None:
    """PySide6's import hook reads the whole source of every module imported after it (to learn
    whether the module uses PySide, for `__feature__` selections): about 280 files before the first
    paint, 30-40 ms of a cold start. The modules of NO_PYSIDE_FEATURES get PySide's answer for a
    module that uses it (the default selection, which no module here ever changes), the standard
    library's the answer reading would give, without reading them; any other module is read as
    before. Nothing happens with a PySide6 that has no such hook."""
    try:
        from shibokensupport import feature  # (PySide6's own support package, loaded with it)
    except ImportError:
        return
    scan = getattr(feature, "_mod_uses_pyside", None)
    if scan is None or getattr(scan, "skips_known_packages", False):
        return

    def uses_pyside(module) -> bool:  # noqa: ANN001
        package = getattr(module, "__name__", "").partition(".")[0]
        if package in NO_PYSIDE_FEATURES:
            return True
        if package in sys.stdlib_module_names:  # (named by `from datetime import ...` after PySide6)
            return False  # what reading it would say: the standard library never names PySide6
        return scan(module)

    uses_pyside.skips_known_packages = True
    feature._mod_uses_pyside = uses_pyside


def run_app(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from poems_monitor.garbage_collector import pause_collector

    # No cyclic garbage collection until the first paint (then the dashboard freezes start-up's
    # heap): start-up's imports and widgets triggered about 380, each rescanning a growing heap
    # (0.1-0.2 s of a cold start's CPU on the 2,000-patient clinic).
    resume_collector = pause_collector()
    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        size = parse_size(getattr(args, "size", None))
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    _load_data_layers()
    from PySide6.QtWidgets import QApplication

    _skip_feature_scan_of_known_packages()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("poems-monitor")
    app.setOrganizationName("poems-monitor")
    app.setApplicationDisplayName("poems-monitor")
    set_app_identity(app)
    # a headless render or start-up probe has nobody to read a dialog: one line on stderr suffices
    headless = bool(screenshot or os.environ.get("POEMS_MONITOR_STARTUP_PROBE"))
    reporter = None
    if headless:
        _install_excepthook()
    else:
        from poems_monitor.ui.error_dialog import install_error_handlers

        reporter = install_error_handlers(app)
    try:
        return _run_window(app, args, started, screenshot, size if screenshot else None, resume_collector)
    except Exception:
        if reporter is None:
            raise  # the command line reports it (cli.main): one sentence, the log, its exit code
        from poems_monitor.incident import EXIT_UNEXPECTED, record_unexpected
        from poems_monitor.ui.error_dialog import show_start_up_error

        show_start_up_error(record_unexpected(sys.exc_info(), "desktop app start-up"))
        return EXIT_UNEXPECTED
    finally:
        resume_collector()
        if reporter is not None:
            reporter.uninstall()


def _run_window(app, args: argparse.Namespace, started: float, screenshot: str | None,  # noqa: ANN001
                size: tuple[int, int] | None, resume_collector: Callable[[], None]) -> int:
    """Open the clinic, build the main window, and run the event loop (or render one screen)."""
    from poems_monitor.ui.qt_translation import install_translators

    install_translators(app)  # before any screen is built: its texts are looked up as it is made

    from poems_monitor.ui.theme import apply_theme

    from poems_monitor.services.preferences import dark_theme, high_contrast_theme

    # POEMS_MONITOR_THEME, else the Settings choice, else the system's (its dark and contrast settings)
    apply_theme(app, dark=dark_theme(), high_contrast=high_contrast_theme())

    temp_dir = None
    session = None
    probe = os.environ.get("POEMS_MONITOR_STARTUP_PROBE")  # measuring cold start (benchmarks/dashboard.py)
    if getattr(args, "demo", False):
        db, actor, title, temp_dir = _demo_clinic()
    elif screenshot or probe:
        from poems_monitor.config import app_paths
        from poems_monitor.services.clinic_database import open_clinic_database
        from poems_monitor.services.users import account_without_password
        from poems_monitor.ui.damaged_database import read_only_actor
        from poems_monitor.workstation import login_name

        db = open_clinic_database(args.db or app_paths().default_database)
        # a headless render writes nothing, so it asks no password; its actor may not write either
        actor = read_only_actor(account_without_password(db, getattr(args, "user", None) or login_name()))
        title = None
    else:
        opened = _open_and_sign_in(args)
        if opened == "cancelled":  # the connection dialog was cancelled: nothing was opened
            return 0
        if opened is None:
            return 1
        db, actor, read_only = opened
        if actor is None:  # the sign-in was cancelled
            db.dispose()
            return 0
        title = None
        from poems_monitor.ui.shell.session import DesktopSession
        from poems_monitor.ui.idle_lock import idle_lock_minutes

        session = DesktopSession(db, actor, idle_lock_ms=idle_lock_minutes() * 60_000, backups=True, read_only=read_only,
                                 defer_until_painted=True)

    from poems_monitor.ui.main_window import MainWindow

    try:
        if session is not None:
            window = session.window
        else:
            # (a screenshot renders at once, everything loaded)
            window = MainWindow(db, actor, title=title, background=not screenshot, remember_layout=not screenshot,
                                defer_until_painted=not screenshot)
        window.firstPainted.connect(resume_collector)
        if screenshot:
            return _screenshot(app, window, db, Path(screenshot), size, getattr(args, "mrn", None),
                               getattr(args, "view", "dashboard") or "dashboard")
        if probe:
            from PySide6.QtCore import QTimer

            # "shown": leave at the first turn of the event loop; "ready": once the charts are built
            # too; "painted" (with --mrn): once every chart of that patient's dashboard has painted
            if probe == "shown":
                QTimer.singleShot(0, lambda: os._exit(0))
            elif probe != "painted":
                window.dashboard.prepared.connect(lambda: os._exit(0))
        window.show()
        mrn = getattr(args, "mrn", None)
        if mrn:
            window.open_patient(mrn)
            if probe == "painted":
                _exit_when_painted([c.plot_widget.viewport() for c in window.dashboard.charts.charts.values()])
        log.info("desktop app ready in %.0f ms", (time.perf_counter() - started) * 1000)
        return int(app.exec())
    finally:
        db.dispose()
        if temp_dir is not None:
            temp_dir.cleanup()


def _exit_when_painted(views: list) -> None:  # noqa: ANN001 (QWidgets)
    """The cold-start probe "painted": leave the process once each of `views` that can be seen
    (charts below the fold of the scroll area are not painted) has painted."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    painted: set = set()

    class _Watch(QObject):
        def eventFilter(self, watched, event) -> bool:  # noqa: ANN001, N802 (Qt API)
            if event.type() == QEvent.Type.Paint and watched in views:
                painted.add(watched)
                if all(v in painted for v in views if not v.visibleRegion().isEmpty()):
                    QTimer.singleShot(0, lambda: os._exit(0))  # (after this paint has run)
            return False

    watch = _Watch(views[0] if views else None)
    for view in views:
        view.installEventFilter(watch)
    if not views:
        QTimer.singleShot(0, lambda: os._exit(0))


SERVER_RETRY_SECONDS = 15  # how often the app tries a clinic server again while it waits for it


def _open_waiting(target, password: str | None = None, refusals: bool = False):  # noqa: ANN001, ANN202
    """Open a clinic server, waiting while it is unreachable or at an older schema than this
    version needs (its administrator runs `server upgrade`): the message says which, and the app
    tries again every SERVER_RETRY_SECONDS, or when asked, until the person quits. A newer schema
    or any other refusal is final (raised when `refusals`, so the connection dialog can say it).
    None when the person quit. `password` is the login's, typed in the connection dialog."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from poems_monitor.i18n import tr
    from poems_monitor.services.clinic_database import (
        DatabaseError,
        ServerSchemaNotCurrent,
        ServerUnreachable,
        open_clinic_database,
    )

    while True:
        try:
            return open_clinic_database(target, password=password)
        except (ServerUnreachable, ServerSchemaNotCurrent) as exc:
            box = QMessageBox(QMessageBox.Icon.Warning, tr("Waiting for the clinic server"), str(exc) + "\n\n" + tr(
                "Trying again every {n} seconds.").format(n=SERVER_RETRY_SECONDS),
                QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Close)
            QTimer.singleShot(SERVER_RETRY_SECONDS * 1000, box, lambda b=box: b.done(QMessageBox.StandardButton.Retry))
            if box.exec() != QMessageBox.StandardButton.Retry:
                return None
        except DatabaseError as exc:
            if refusals:
                raise
            QMessageBox.critical(None, tr("Cannot open the clinic database"), str(exc))
            return None


def _open_and_sign_in(args: argparse.Namespace):  # noqa: ANN202 ((db, actor | None, read_only) or None)
    """Open the clinic database (checked; a damaged file offers its newest good backup) and sign in.
    None when the person chose to quit (or the database could not be opened).

    `--db` opens what it names. Otherwise the connection comes from `--profile`, or the profile
    used last time, or (at first start, or when a server's password is needed) the connection
    dialog; a refusal there shows the dialog again with the sentence, and the profile that opened
    is remembered for the next start (never its password)."""
    if getattr(args, "db", None) and not getattr(args, "profile", None):
        return _open_target_and_sign_in(args, args.db)
    from poems_monitor.services.clinic_database import DatabaseError, ServerSignInRefused
    from poems_monitor.services import connection_profiles as cp
    from poems_monitor.ui.connection_dialog import choose_connection

    profile = cp.profile_named(args.profile) if getattr(args, "profile", None) else cp.last_used_profile()
    chosen = (profile, None) if profile is not None and (not profile.is_server or cp.password_source(profile)) \
        else choose_connection(preselect=profile)
    while True:
        if chosen is None:
            return "cancelled"
        profile, password = chosen
        try:
            opened = _open_target_and_sign_in(args, cp.database_url(profile), profile=profile, password=password)
        except (DatabaseError, cp.ProfileError) as exc:
            message = cp.sign_in_refused_sentence(profile) if isinstance(exc, ServerSignInRefused) else str(exc)
            chosen = choose_connection(preselect=profile, message=message)
            continue
        if opened is not None and opened[1] is not None:
            cp.remember_last_used(profile)
        return opened


def _open_target_and_sign_in(args: argparse.Namespace, target, profile=None, password: str | None = None):  # noqa: ANN001, ANN202
    from PySide6.QtWidgets import QMessageBox

    from poems_monitor.i18n import tr
    from poems_monitor.services.clinic_database import sqlite_file
    from poems_monitor.ui.login_dialog import LoginDialog

    read_only = False
    if (existing_file := sqlite_file(target)) is not None:
        from poems_monitor.ui.damaged_database import open_checked

        opened = open_checked(existing_file)
        if opened.db is None:
            return None
        db, read_only = opened.db, opened.read_only
        if opened.restored_from is not None:
            kept = tr(" The damaged file was kept as {file}.").format(file=opened.damaged_kept_as) \
                if opened.damaged_kept_as else ""
            QMessageBox.information(None, tr("Backup restored"), tr(
                "The clinic database was restored from {file}. Everything entered after that backup was made must be "
                "entered again.").format(file=opened.restored_from.name) + kept)
    else:
        db = _open_waiting(target, password, refusals=profile is not None)
        if db is None:
            return None
    if profile is not None and profile.is_server and password:
        # the server has just accepted this login's password: signing in again would ask it twice
        from poems_monitor.services.users import SignInRefused, authenticate

        try:
            return db, authenticate(db, profile.login, password), False
        except SignInRefused as exc:
            db.dispose()
            from poems_monitor.services.clinic_database import DatabaseError

            raise DatabaseError(str(exc)) from None
    dialog = LoginDialog(db)
    dialog.setMinimumWidth(460)
    user = getattr(args, "user", None) or (profile.login if profile is not None and profile.is_server else None)
    if user and not dialog.first_start:
        dialog.name_edit.setText(user)
        dialog.password_edit.setFocus()
    if read_only and dialog.first_start:
        QMessageBox.critical(None, tr("Cannot sign in"), tr("The damaged database holds no account to sign in with."))
        db.dispose()
        return None
    actor = dialog.actor if dialog.exec() == dialog.DialogCode.Accepted else None
    if actor is not None and read_only:
        from poems_monitor.ui.damaged_database import read_only_actor

        actor = read_only_actor(actor)  # every service refuses every write
    return db, actor, read_only


def _demo_clinic():  # noqa: ANN202
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.clinic_database import open_clinic_database
    from poems_monitor.services.demo_clinic import create_demo_clinic

    temp_dir = tempfile.TemporaryDirectory(prefix="poems-monitor-demo-")
    db = open_clinic_database(Path(temp_dir.name) / "demo-clinic.sqlite")
    actor = Actor("demo-physician", Role.PHYSICIAN)
    create_demo_clinic(db, DEMO_PATIENTS, seed=DEMO_SEED, actor=actor, today=date.today())
    return db, actor, DEMO_TITLE, temp_dir


def _screenshot(app, window, db, path: Path, size: tuple[int, int], mrn: str | None, view: str) -> int:  # noqa: ANN001
    from poems_monitor.services.dashboard import richest_patient
    from poems_monitor.ui.main_window import TAB_DASHBOARD, TAB_ENTRY, VIEW_WORKLIST

    window.resize(*size)
    window.show()
    app.processEvents()
    mrn = mrn or richest_patient(db)
    if mrn:
        if not window.open_patient(mrn):
            print(f"No patient with MRN {mrn}", file=sys.stderr)
            return 1
    if view == "worklist":  # the worklist loads in the background: wait for its rows
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        window.worklist.loaded.connect(lambda *_: loop.quit())
        QTimer.singleShot(60000, loop.quit)
        window.show_view(VIEW_WORKLIST)
        loop.exec()
    elif view == "entry":
        window.show_tab(TAB_ENTRY)
        if mrn:
            window.entry.load_new(mrn)
    else:
        window.show_tab(TAB_DASHBOARD)
        if view == "features":
            from poems_monitor.ui.dashboard.view import TAB_FEATURES

            window.dashboard.tabs.setCurrentIndex(TAB_FEATURES)
    for _ in range(3):
        app.processEvents()
    image = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path), "PNG"):
        print(f"Could not write {path}", file=sys.stderr)
        return 1
    window.close()
    print(f"Saved {path} ({image.width()}×{image.height()}, {view}{', ' + mrn if mrn else ''})")
    return 0
