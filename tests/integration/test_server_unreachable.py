"""Unreachable is not damaged: a clinic server that does not answer is named with its host and
port, `check` exits with its own code (3) instead of calling the record damaged, and the desktop
app waits and tries again. Needs no server: a loopback port where nothing listens."""

from __future__ import annotations

import socket
import time

from tests.integration.test_cli_safety import no_traceback, run


def _closed_port() -> int:
    with socket.socket() as s:  # bound and released: nothing listens there now
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_on_a_server_that_is_down_says_unreachable_with_its_address_and_exit_code_3():
    port = _closed_port()
    url = f"postgresql+psycopg://nurse@127.0.0.1:{port}/clinic"
    r = run("check", "--db", url)
    no_traceback(r)
    assert r.returncode == 3
    assert f"clinic server unreachable at 127.0.0.1:{port}" in r.stderr
    assert "damaged" not in r.stderr
    r = run("worklist", "--db", url)  # every command says the same, with the same code
    assert r.returncode == 3 and f"clinic server unreachable at 127.0.0.1:{port}" in r.stderr


def test_a_silent_address_gives_up_after_the_connect_timeout():
    from poems_monitor.persistence.db import CONNECT_TIMEOUT_SECONDS

    started = time.monotonic()
    r = run("check", "--db", "postgresql+psycopg://nurse@192.0.2.1:5432/clinic")  # TEST-NET-1: never answers
    elapsed = time.monotonic() - started
    assert r.returncode == 3 and "clinic server unreachable at 192.0.2.1:5432" in r.stderr, r.stderr
    assert elapsed < 2 * CONNECT_TIMEOUT_SECONDS + 5  # libpq may try twice (with and without TLS)


def test_the_engine_connects_with_a_timeout_and_tcp_keepalives(pg_url):
    from poems_monitor.persistence.db import open_database

    db = open_database(pg_url)
    try:
        with db.engine.connect() as conn:
            parameters = conn.connection.driver_connection.info.get_parameters()
    finally:
        db.dispose()
    assert parameters["connect_timeout"] == "5"
    assert parameters["keepalives"] == "1" and int(parameters["keepalives_idle"]) > 0


def test_the_app_waits_for_an_unreachable_server_and_tries_again(qtbot, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from poems_monitor import app
    from poems_monitor.services import clinic_database as db_module  # the app opens through services

    monkeypatch.setattr(app, "SERVER_RETRY_SECONDS", 0.2)  # tried again by itself, without a click
    attempts, shown = [0], []
    original = db_module.open_database

    def counting_open(*args, **kwargs):  # noqa: ANN002, ANN003
        attempts[0] += 1
        return original(*args, **kwargs)

    def look() -> None:  # what the person sees; after the third attempt, they close the message
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            shown.append(box.text())
            if attempts[0] >= 3 or len(shown) > 50:  # (never wait forever: the asserts below say why)
                box.button(QMessageBox.StandardButton.Close).click()
                return
        QTimer.singleShot(50, look)

    monkeypatch.setattr(db_module, "open_database", counting_open)
    port = _closed_port()
    QTimer.singleShot(50, look)
    assert app._open_waiting(f"postgresql+psycopg://nurse@127.0.0.1:{port}/clinic") is None
    assert attempts[0] >= 3  # it kept trying while the message was up
    assert f"clinic server unreachable at 127.0.0.1:{port}" in shown[0] and "Trying again every" in shown[0]


def test_a_server_stopped_under_an_open_clinic_is_unreachable_not_damaged(pg_server, admin):
    """A server of its own (the session's one keeps serving the other tests), stopped while the
    clinic is open: the next write fails as unreachable, and `check` says so with exit code 3."""
    from datetime import date

    import pytest
    from poems_monitor.persistence.db import ServerUnreachable, open_database
    from poems_monitor.services.clinic_server import upgrade_server
    from poems_monitor.services.patients import PatientInput, create_patient
    from tests.conftest import TODAY
    from tests.pg_server import start_server

    server = start_server()
    try:
        url = server.url(server.fresh_database())
        db = open_database(url, migrate=False)
        upgrade_server(db)
        create_patient(db, admin, PatientInput("DOWN-1", "Before The Stop", "female", date(1970, 1, 1)), today=TODAY)
        server.stop()
        with pytest.raises(ServerUnreachable) as raised:  # said as such by the database handle, not a driver error
            create_patient(db, admin, PatientInput("DOWN-2", "After The Stop", "male", date(1970, 1, 1)), today=TODAY)
        assert f"127.0.0.1:{server.port}" in str(raised.value) and "nothing was changed" in str(raised.value)
        db.dispose()
        r = run("check", "--db", url)
        assert r.returncode == 3 and "clinic server unreachable" in r.stderr and "damaged" not in r.stderr
    finally:
        server.remove()
