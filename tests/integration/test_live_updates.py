"""Live updates on a clinic server: every committed write announces what it changed on the
`poems_changes` channel (in its own transaction), a rolled-back one announces nothing, and the
listener hears it, survives a server restart and says meanwhile that the server is unreachable.
Runs on the session's throwaway TLS server (tests/pg_server.py), a fresh database per test."""

from __future__ import annotations

import time
from datetime import date

import pytest

from poems_monitor.services.changes import Changes
from tests.conftest import TODAY

MRN = "PG-100"


@pytest.fixture
def clinic(pg_url, admin):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.patients import PatientInput, create_patient

    db = open_database(pg_url)
    create_patient(db, admin, PatientInput(MRN, "Ada Live", "female", date(1970, 1, 1)), today=TODAY)
    yield db
    db.dispose()


@pytest.fixture
def listener(pg_url):
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.live_updates import ChangeListener

    db = open_database(pg_url)  # another workstation's handle
    heard = ChangeListener(db)
    assert heard.connect()
    yield heard
    heard.close()
    db.dispose()


def _heard(listener, seconds: float = 1.0) -> list:
    return list(listener.wait(seconds))


def _platelets(value: float):
    from poems_monitor.services.visits import EnteredValue, VisitInput

    return VisitInput(date(2026, 1, 5), (EnteredValue("platelets", value, "10*9/L"),))


def test_a_saved_visit_is_announced_with_its_patient_origin_and_writer(clinic, listener, nurse, admin):
    from poems_monitor.services.visits import record_visit

    saved = record_visit(clinic, admin, MRN, _platelets(300), today=TODAY)
    heard = _heard(listener)
    assert len(heard) == 1
    assert heard[0].changes == saved.changes == Changes.of_patient(MRN, visit_reviews=True)
    assert heard[0].origin == clinic.origin and heard[0].by == admin.name


def test_a_rolled_back_write_announces_nothing(clinic, listener, admin):
    from poems_monitor.services.visits import (
        ConcurrentEdit,
        correct_visit,
        record_visit,
    )

    saved = record_visit(clinic, admin, MRN, _platelets(300), today=TODAY)
    assert len(_heard(listener)) == 1
    correct_visit(clinic, admin, saved.visit_id, saved.version, _platelets(310), "lab amended", today=TODAY)
    assert len(_heard(listener)) == 1
    with pytest.raises(ConcurrentEdit):  # refused inside its transaction, which rolls back
        correct_visit(clinic, admin, saved.visit_id, saved.version, _platelets(320), "stale form", today=TODAY)
    assert _heard(listener) == []
    with pytest.raises(RuntimeError), clinic.write() as session:  # any write that fails after its audit entry
        from poems_monitor.services.audit import AuditWriter

        AuditWriter(session, admin.name).append("create", "protocol", new={"text": "x"})
        raise RuntimeError("given up")
    assert _heard(listener) == []


def test_the_announced_changes_cover_what_each_write_service_says_it_changed(clinic, listener, admin):
    from poems_monitor.domain.protocol import default_protocol_text
    from poems_monitor.domain.timeline import TreatmentRecord
    from poems_monitor.services.access import Role
    from poems_monitor.services.patients import (
        PatientInput,
        add_treatment,
        patient_id_for,
        update_patient,
    )
    from poems_monitor.services.protocol_store import save_protocol
    from poems_monitor.services.users import add_user

    results = [
        add_treatment(clinic, admin, MRN, TreatmentRecord("lenalidomide_dexamethasone", date(2025, 2, 1),
                                                          thromboprophylaxis="aspirin"), today=TODAY),
        update_patient(clinic, admin, patient_id_for(clinic, MRN), 1,
                       PatientInput("PG-101", "Ada Live", "female", date(1970, 1, 1)), "MRN typed wrong", today=TODAY),
        save_protocol(clinic, admin, default_protocol_text() + "\n# reviewed\n", "annual review"),
        add_user(clinic, admin, "nurse-live", Role.NURSE, "a long enough password 1"),
    ]
    heard = []
    deadline = time.monotonic() + 5
    while len(heard) < len(results) and time.monotonic() < deadline:
        heard += _heard(listener, 0.5)
    assert len(heard) == len(results)
    for result, announcement in zip(results, heard, strict=True):
        said = result.changes
        assert said, result
        # every patient and every kind the service names is announced (more is allowed: safe)
        assert said.patients <= announcement.changes.patients, (said, announcement)
        assert (said | announcement.changes) == announcement.changes, (said, announcement)
    assert heard[1].changes.patients == {MRN, "PG-101"}  # the old MRN too: its open dashboard must hear


def test_a_listener_survives_a_server_restart_and_says_unreachable_meanwhile(pg_server, clinic, listener, admin):
    from poems_monitor.services.visits import record_visit

    stopped = pg_server.pg_ctl("-m", "fast", "-w", "stop")
    try:
        assert stopped.returncode == 0, stopped.stderr
        assert _heard(listener, 1.5) == []
        assert listener.reachable is False and listener.last_error
    finally:
        pg_server.start()
    deadline = time.monotonic() + 15
    while not listener.reachable and time.monotonic() < deadline:
        _heard(listener, 0.5)
    assert listener.reachable
    record_visit(clinic, admin, MRN, _platelets(280), today=TODAY)  # the engine reconnects by itself too
    heard = _heard(listener, 2)
    assert [a.changes for a in heard] == [Changes.of_patient(MRN, visit_reviews=True)]


def test_an_unreadable_payload_means_everything_changed():
    from poems_monitor.services.live_updates import Announcement

    assert Announcement.from_payload("not json").changes == Changes.everything()
    assert Announcement.from_payload('{"patients":["A"],"origin":"x1","by":"ann","colour":1}').changes \
        == Changes.everything()
    round_trip = Announcement(Changes.of_patient("A", visit_reviews=True), "x1", "ann")
    assert Announcement.from_payload(round_trip.to_payload()) == round_trip
