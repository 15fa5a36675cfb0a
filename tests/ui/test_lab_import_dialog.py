"""The lab import dialog, driven as a person would: choose a file, read every row's status, switch
the date format, press Import; nothing is written before that, and nothing when a row is bad."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from PySide6.QtCore import QThreadPool, Qt, QTimer
from PySide6.QtWidgets import QPushButton
from sqlalchemy import text

from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.lab_import_dialog import LabImportDialog, LabRowsModel
from tests.conftest import TODAY


@pytest.fixture
def clinic(db, admin):
    import_patients(db, generate_patients(2, 3, TODAY), admin, reason="tests")
    with db.read() as session:
        return db, load_timelines(session)


@pytest.fixture
def dialog(qtbot, clinic, nurse):
    db, _patients = clinic
    widget = LabImportDialog(db, nurse, today=TODAY)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.stop_preview()
    QThreadPool.globalInstance().waitForDone(120000)  # a superseded preview still finishing: before the database goes


def observations(db) -> int:
    with db.read() as session:
        return session.execute(text("SELECT count(*) FROM observation")).scalar_one()


def statuses(dialog) -> list[str]:  # noqa: ANN001
    model = dialog.model
    return [model.data(model.index(r, LabRowsModel.STATUS), Qt.ItemDataRole.UserRole) for r in range(model.rowCount())]


def lab_file(tmp_path, patients, *, conflict=False):  # noqa: ANN001
    p = patients[0]
    last = max(v.date for v in p.visits)
    stored = next(v for v in p.visits if v.value("platelets") is not None)
    plt = stored.value("platelets").value
    lines = [
        f"{p.mrn};{(last + timedelta(days=1)):%d/%m/%Y};hemoglobin;13,5;g/dL;",
        f"{p.mrn};{(last + timedelta(days=1)):%d/%m/%Y};75628-8;<31;pg/mL;plasma",
        f"{p.mrn};{stored.date:%d/%m/%Y};777-3;{plt + (9 if conflict else 0):g};10*3/uL;",
    ]
    path = tmp_path / "lab.csv"
    path.write_bytes(("\ufeffmrn;date;code;value;unit;specimen\r\n" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def test_every_row_is_listed_with_its_status_before_anything_is_written(dialog, clinic, tmp_path, qtmodeltester):
    db, patients = clinic
    before = observations(db)
    dialog.set_date_format("dmy")
    dialog.load_file(lab_file(tmp_path, patients))
    assert statuses(dialog) == ["new", "new", "duplicate"]
    assert dialog.model.data(dialog.model.index(1, LabRowsModel.VALUE)) == "<31 pg/mL"
    assert "VEGF (plasma) (75628-8)" == dialog.model.data(dialog.model.index(1, LabRowsModel.MEASURE))
    assert "2 new, 1 duplicate" in dialog.findChild(type(dialog.summary_label), "summary").text()
    assert dialog.import_button.isEnabled()
    assert observations(db) == before
    qtmodeltester.check(dialog.model)


def test_wrong_date_format_shows_invalid_rows_and_blocks_import(dialog, clinic, tmp_path):
    _db, patients = clinic
    dialog.load_file(lab_file(tmp_path, patients))  # the file uses DD/MM/YYYY; ISO is the default
    assert statuses(dialog) == ["invalid", "invalid", "invalid"]
    remark = dialog.model.data(dialog.model.index(0, LabRowsModel.REMARKS))
    assert "DD/MM/YYYY" in remark and "date_format" in remark
    assert not dialog.import_button.isEnabled()
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("dmy"))  # as a person picks it
    assert statuses(dialog) == ["new", "new", "duplicate"]
    assert dialog.import_button.isEnabled()


def test_conflict_blocks_the_whole_file(dialog, clinic, tmp_path):
    db, patients = clinic
    before = observations(db)
    dialog.set_date_format("dmy")
    dialog.load_file(lab_file(tmp_path, patients, conflict=True))
    assert statuses(dialog) == ["new", "new", "conflicting"]
    assert dialog.model.data(dialog.model.index(2, LabRowsModel.STORED)).endswith("10*9/L")
    assert not dialog.import_button.isEnabled()
    assert observations(db) == before


def test_import_writes_all_new_rows_and_closes(dialog, clinic, tmp_path, qtbot):
    db, patients = clinic
    before = observations(db)
    dialog.set_date_format("dmy")
    dialog.load_file(lab_file(tmp_path, patients))
    with qtbot.waitSignal(dialog.imported, timeout=5000) as signal:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert signal.args[0].values_added == 2
    assert observations(db) == before + 2
    assert dialog.result() == LabImportDialog.DialogCode.Accepted
    with db.read() as session:
        p = load_timelines(session, mrns=[patients[0].mrn])[0]
    assert p.visits[-1].value("vegf_plasma").qualifier == "<"


def test_unreadable_file_is_said_plainly(dialog, tmp_path):
    dialog.load_file(tmp_path / "missing.csv")
    assert "cannot be read" in dialog.summary_label.text()
    assert dialog.model.rowCount() == 0 and not dialog.import_button.isEnabled()


@pytest.mark.parametrize("content", [
    "mrn,date,code,value,unit\nH-1,2024-01-01,platelets,300,10*9/L\n".encode("utf-32"),
    "mrn,date,code,value,unit\nH-1,2024-01-01,platelets,300,10*9/L\n".encode("utf-16-le"),
])
def test_a_file_in_another_encoding_is_refused_with_a_sentence(dialog, clinic, tmp_path, content):
    path = tmp_path / "lab.csv"
    path.write_bytes(content)
    dialog.load_file(path)
    assert "is not text in UTF-8" in dialog.summary_label.text() and "CSV UTF-8" in dialog.summary_label.text()
    assert not dialog.import_button.isEnabled() and dialog.model.rowCount() == 0


def table_counts(db) -> dict[str, int]:  # noqa: ANN001
    with db.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("observation", "visit", "audit_entry")}


def big_lab_file(tmp_path, patients, rows: int):  # noqa: ANN001
    """`rows` new values: platelets and haemoglobin on days without a visit, before today."""
    days = []
    for p in patients:
        taken = {v.date for v in p.visits}
        first = min(taken)
        days += [(p.mrn, first + timedelta(days=d)) for d in range((TODAY - first).days)
                 if first + timedelta(days=d) not in taken]
    assert len(days) * 2 >= rows
    lines = []
    for i, (mrn, day) in enumerate(days[:rows // 2]):
        lines += [f"{mrn},{day.isoformat()},platelets,{200 + i % 300},10*9/L",
                  f"{mrn},{day.isoformat()},hemoglobin,{12 + (i % 30) / 10},g/dL"]
    path = tmp_path / "big.csv"
    path.write_text("mrn,date,code,value,unit\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cancelling_the_import_in_its_progress_dialog_leaves_the_database_unchanged(dialog, clinic, tmp_path, qtbot):
    db, patients = clinic
    with qtbot.waitSignal(dialog.previewed, timeout=120000):  # a large file: previewed by a worker
        dialog.load_file(big_lab_file(tmp_path, patients, 6000))
    assert dialog.import_button.isEnabled(), dialog.summary_label.text()
    before = table_counts(db)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    progress = dialog.importing
    assert progress is not None and progress.isVisible()
    cancel = progress.findChild(QPushButton)
    assert cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)  # at once: the import has only begun
    assert not cancel.isEnabled() and "Cancelling" in progress.labelText()
    with qtbot.waitSignal(progress.relay.finished, timeout=60000):
        pass
    qtbot.waitUntil(lambda: dialog.importing is None, timeout=5000)
    assert not progress.isVisible()
    assert "Import cancelled: nothing was written" in dialog.summary_label.text()
    assert table_counts(db) == before
    assert dialog.isVisible() and dialog.summary is None and dialog.import_button.isEnabled()


def test_the_import_shows_its_progress_and_stores_everything_when_not_cancelled(dialog, clinic, tmp_path, qtbot):
    db, patients = clinic
    dialog.load_file(big_lab_file(tmp_path, patients, 400))
    before = table_counts(db)
    with qtbot.waitSignal(dialog.imported, timeout=60000) as signal:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
        assert dialog.importing.isVisible()
    assert signal.args[0].values_added == 400
    assert table_counts(db)["observation"] == before["observation"] + 400
    assert not dialog.isVisible()


def test_a_large_file_is_previewed_off_the_gui_thread_with_progress(dialog, clinic, tmp_path, qtbot):
    """The GUI thread keeps running (a timer on it keeps ticking) while a worker reads the file;
    the progress bar says what it does; then every row arrives, ready to import."""
    db, patients = clinic
    # A first, small preview (read at once): the reading's modules are imported (and, in a fresh
    # checkout, compiled, which holds the interpreter's lock whatever thread does it) before the
    # timed reading.
    with qtbot.waitSignal(dialog.previewed, timeout=120000):
        dialog.load_file(big_lab_file(tmp_path, patients, 400))
    path = big_lab_file(tmp_path, patients, 6000)
    ticks, formats = [], set()
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    dialog.preview_bar.valueChanged.connect(lambda value: formats.add((dialog.preview_bar.format(), value)))
    timer.start(10)
    with qtbot.waitSignal(dialog.previewed, timeout=120000) as signal:
        dialog.load_file(path)
        assert dialog.preview is None and dialog.preview_row.isVisible()  # returned at once: nothing parsed yet
        assert "Reading big.csv" in dialog.summary_label.text()
    timer.stop()
    # The GUI thread served its events meanwhile. (Since the reading got 3x faster, 6,000 rows
    # take about 0.15 s here and the timer ticks 1-4 times in it; on a 60,000-row file over the
    # 2,000-patient clinic it ticks throughout, 120 times, the longest gap 140 ms.)
    assert len(ticks) >= 1, ticks
    reading = sorted(v for f, v in formats if f.startswith("Reading the rows of the file"))
    assert len(reading) >= 3 and reading[-1] == len(path.read_text(encoding="utf-8")), formats  # step by step to the end
    assert signal.args[0] is dialog.preview and dialog.model.rowCount() == 6000
    assert set(statuses(dialog)) == {"new"} and dialog.import_button.isEnabled()
    assert not dialog.preview_row.isVisible()


def test_the_dialog_stays_usable_while_a_large_file_is_read(dialog, clinic, tmp_path, qtbot):
    """Choosing the other date format while the file is read supersedes that reading: the rows
    that arrive are read with the format chosen last (an ISO file read as DD/MM/YYYY: invalid)."""
    db, patients = clinic
    with qtbot.waitSignal(dialog.previewed, timeout=120000) as signal:
        dialog.load_file(big_lab_file(tmp_path, patients, 6000))
        dialog.format_box.setFocus()
        qtbot.keyClick(dialog.format_box, Qt.Key.Key_Down)  # "Dates as DD/MM/YYYY"
        assert dialog.date_format.value == "dmy"
    assert signal.args[0] is dialog.preview and dialog.model.rowCount() > 1000
    assert set(statuses(dialog)) == {"invalid"} and not dialog.import_button.isEnabled()
    assert "more than 1000 rows are invalid" in dialog.summary_label.text()


def test_stopping_the_preview_shows_nothing_and_writes_nothing(dialog, clinic, tmp_path, qtbot):
    db, patients = clinic
    before = table_counts(db)
    with qtbot.waitSignal(dialog.previewed, timeout=120000) as signal:
        dialog.load_file(big_lab_file(tmp_path, patients, 6000))
        qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
        assert not dialog.stop_button.isEnabled()
    assert signal.args[0] is None and dialog.preview is None
    assert "Reading stopped: nothing is shown and nothing was written" in dialog.summary_label.text()
    assert dialog.model.rowCount() == 0 and not dialog.import_button.isEnabled()
    assert dialog.path_edit.text() == "" and not dialog.preview_row.isVisible()
    assert table_counts(db) == before
