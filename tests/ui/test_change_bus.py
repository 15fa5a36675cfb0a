"""The change bus with real screens: a save publishes what it changed, and the open dashboard,
the patient list, the worklist and the review list show the new data because each listens to the
bus, not because another screen refreshed them; a change for another patient leaves the open
dashboard alone. Real widgets offscreen, a real SQLite file."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from poems_monitor.services.access import Role
from poems_monitor.services.changes import Changes
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.users import add_user
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from poems_monitor.ui.changes import ChangeBus
from poems_monitor.ui.main_window import TAB_DASHBOARD, VIEW_PATIENTS, VIEW_WORKLIST, MainWindow
from poems_monitor.ui.patients.model import COL_LAST_VISIT
from poems_monitor.ui.worklist.model import ROW_ROLE
from tests.conftest import TODAY
from tests.unit.timeline_builders import patient, visit

ANN, BEN = "H-000001", "H-000002"


@pytest.fixture
def clinic(db, admin):
    import_patients(db, [
        patient(visit("2025-06-01", platelets=300, hemoglobin=13.0), mrn=ANN, name="Ann Able"),
        patient(visit("2025-07-01", platelets=310, hemoglobin=13.5), mrn=BEN, name="Ben Baker", sex="male"),
    ], admin, reason="test")
    add_user(db, admin, "nurse-ann", Role.NURSE, "a long enough password")  # her visits wait for sign-off
    return db


@pytest.fixture
def window(qtbot, clinic, nurse):
    win = MainWindow(clinic, nurse, as_of=TODAY, remember_layout=False)
    qtbot.addWidget(win)
    win.resize(1500, 950)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.patients.model.status(BEN) is not None, timeout=15000)  # overview off-thread
    return win


def last_visit_shown(win: MainWindow, mrn: str) -> str:
    proxy = win.patients.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == mrn)
    return proxy.index(row, COL_LAST_VISIT).data()


def worklist_flags(win: MainWindow, mrn: str) -> set[str]:
    proxy = win.worklist.proxy
    rows = [proxy.index(r, 0).data(ROW_ROLE) for r in range(proxy.rowCount())]
    return {r.item for r in rows if r.mrn == mrn and r.kind == "flag"}


def save_visit_by_keyboard(qtbot, win: MainWindow, platelets: str) -> None:
    win.new_visit()
    editor = win.entry.rows["platelets"].editor
    editor.setFocus()
    qtbot.keyClicks(editor, platelets)
    with qtbot.waitSignal(win.entry.saved, timeout=5000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def test_a_visit_save_publishes_changes_naming_the_patient(qtbot, window):
    window.open_patient(ANN)
    published: list[Changes] = []
    window.bus.changed.connect(published.append)
    save_visit_by_keyboard(qtbot, window, "320")
    assert len(published) == 1
    assert published[0].patients == {ANN}
    assert published[0].visit_reviews  # a nurse's visit now waits for sign-off
    assert not published[0].patient_changed(BEN)


def test_after_a_save_every_open_screen_shows_the_new_data_by_itself(qtbot, window, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.show_view(VIEW_WORKLIST)  # the worklist is built and loaded once, then left in the background
    qtbot.waitUntil(lambda: window.worklist.model.rowCount() > 0, timeout=15000)
    window.show_view(VIEW_PATIENTS)
    window.open_patient(ANN)
    assert "followup" in {window.worklist.proxy.index(r, 0).data(ROW_ROLE).kind for r in range(window.worklist.proxy.rowCount())}
    assert "thrombocytosis" not in worklist_flags(window, ANN)
    assert last_visit_shown(window, ANN) == "2025-06-01"
    waiting_before = window.review.count()
    flags_before = window.patients.model.status(ANN).flags

    with qtbot.waitSignal(window.worklist.loaded, timeout=15000):  # the worklist reloads in the background
        save_visit_by_keyboard(qtbot, window, "900")  # thrombocytosis

    # the dashboard: the saved patient, with the new visit's flag, and the save's confirmation in view
    assert window.centre.currentIndex() == TAB_DASHBOARD and window.dashboard.mrn == ANN
    assert any(e.flag.kind.value == "thrombocytosis" and e.flag.date == TODAY for e in window.dashboard.dashboard.unacknowledged)
    assert "New flags" in window.last_save.text() and window.last_save.isVisible()
    # the patient list: the new last visit at once, the flag count once the overview has run off-thread
    assert last_visit_shown(window, ANN) == TODAY.isoformat()
    qtbot.waitUntil(lambda: window.patients.model.status(ANN).flags > flags_before, timeout=15000)
    # the worklist, never shown since: the new flag is there
    assert "thrombocytosis" in worklist_flags(window, ANN)
    # the review list: one more visit waits for a physician
    assert window.review.count() == waiting_before + 1


def test_a_change_for_another_patient_does_not_reload_the_open_dashboard(qtbot, window, clinic, nurse):
    window.open_patient(ANN)
    loads: list[str] = []
    window.dashboard.loaded.connect(loads.append)
    saved = record_visit(clinic, nurse, BEN, VisitInput(date(2026, 11, 1), values=(
        EnteredValue("platelets", 330, "10*9/L"),)), today=TODAY)  # another workstation, say
    window.bus.publish(saved)
    assert loads == []  # Ann's dashboard was not rebuilt
    assert last_visit_shown(window, BEN) == "2026-11-01"  # but the patient list shows Ben's visit

    window.bus.publish(Changes.of_patient(ANN.lower()))  # the same patient, however the MRN is spelled
    assert loads == [ANN]
    window.bus.publish(Changes(protocol=True))  # the protocol: every patient's flags
    assert loads == [ANN, ANN]
    window.bus.publish(Changes(accounts=True))  # not shown on the dashboard
    assert loads == [ANN, ANN]


def test_posted_changes_of_one_event_loop_turn_arrive_merged_once(qtbot):
    bus = ChangeBus()
    received: list[Changes] = []
    bus.changed.connect(received.append)
    bus.post(Changes.of_patient(ANN))
    bus.post(Changes.of_patient(BEN, visit_reviews=True))
    bus.post(Changes())  # nothing changed: nothing to tell
    assert received == []  # not before the event loop turns
    qtbot.waitUntil(lambda: len(received) == 1, timeout=2000)
    qtbot.wait(50)
    assert received == [Changes.of_patients([ANN, BEN], visit_reviews=True)]
    bus.publish(Changes())
    assert len(received) == 1


def test_acknowledgement_and_sign_off_are_published_and_the_lists_follow(qtbot, clinic, nurse, physician, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: pytest.fail(f"refused: {a[2]}"))
    saved = record_visit(clinic, nurse, ANN, VisitInput(TODAY, values=(EnteredValue("platelets", 900, "10*9/L"),)),
                         today=TODAY)
    win = MainWindow(clinic, physician, as_of=TODAY, remember_layout=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.show_view(VIEW_WORKLIST)
    qtbot.waitUntil(lambda: "thrombocytosis" in worklist_flags(win, ANN), timeout=15000)
    win.show_view(VIEW_PATIENTS)
    win.open_patient(ANN)
    published: list[Changes] = []
    win.bus.changed.connect(published.append)

    flag = next(e.flag for e in win.dashboard.dashboard.unacknowledged if e.flag.kind.value == "thrombocytosis")
    with qtbot.waitSignal(win.worklist.loaded, timeout=15000):
        assert win.dashboard.acknowledge(flag.flag_id, "seen, repeat in a month")
    assert published[-1] == Changes.of_patient(ANN)
    assert flag.flag_id not in {e.flag.flag_id for e in win.dashboard.dashboard.unacknowledged}  # redrawn
    assert "thrombocytosis" not in worklist_flags(win, ANN)

    assert win.review.select_visit(saved.visit_id)
    assert win.review.sign_off_current()
    assert published[-1] == Changes.of_patient(ANN, visit_reviews=True)
    assert saved.visit_id not in {win.review.model.visit(r).visit_id for r in range(win.review.count())}


def test_a_treatment_added_from_the_patient_menu_reaches_the_dashboard_through_the_bus(qtbot, window):
    from PySide6.QtCore import QTimer

    from poems_monitor.ui.dialogs import TreatmentDialog

    window.open_patient(ANN)
    published: list[Changes] = []
    window.bus.changed.connect(published.append)
    loads: list[str] = []
    window.dashboard.loaded.connect(loads.append)

    def fill_and_save(tries: int = 200) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, TreatmentDialog):
            if tries:
                QTimer.singleShot(25, lambda: fill_and_save(tries - 1))
            return
        dialog.regimen.setCurrentIndex(dialog.regimen.findData("asct"))
        dialog.start.setDate(date(2026, 3, 1))
        dialog.engraftment.set_value(date(2026, 3, 12))
        dialog.prophylaxis.setCurrentIndex(dialog.prophylaxis.findData("lmwh"))
        dialog.accept()

    QTimer.singleShot(0, fill_and_save)
    window.new_treatment()
    assert published == [Changes.of_patient(ANN)]
    assert loads == [ANN]  # redrawn once, by its own subscription
    assert [t.regimen for t in window.dashboard.dashboard.therapies] == ["asct"]  # the chart band/mark source
