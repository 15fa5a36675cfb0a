"""The sealing at the end of a lab CSV import (the touched records, then the audit entries as the
commit seals them: at a million rows, a minute after the last row is written) has a progress of
its own, after the file's reaches its end; a cancel during it leaves nothing written: the values,
visits, audit trail and seal of the real SQLite file are as they were, and `check` passes."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from poems_monitor.services import audit, lab_import, record_seal
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.integrity import check
from poems_monitor.services.lab_import import import_lab_csv, import_lab_csv_file
from poems_monitor.services.progress import Cancelled
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY

VALUES = (("calcium", "9.5", "mg/dL"), ("creatinine", "0.9", "mg/dL"))
READING = "Importing lab results (MB of the file read)"
RECORDS = "Sealing the imported values (patients)"
ENTRIES = "Sealing the audit trail (entries)"


@pytest.fixture
def clinic(db, admin, monkeypatch):
    monkeypatch.setattr(lab_import, "LAB_BATCH_ROWS", 4)  # several batches: several audit entries per patient
    monkeypatch.setattr(record_seal, "SEAL_BATCH", 1)  # one patient per round of the sealing
    monkeypatch.setattr(audit, "_SEAL_ENTRIES_CHUNK", 2)
    patients = [p for p in generate_patients(5, 7, TODAY) if not any(e.type == "death" for e in p.events)]
    import_patients(db, patients, admin, reason="clinic")
    return db, [p.mrn for p in patients]


def lab_text(mrns: list[str]) -> str:
    lines = [f"{mrn},{(TODAY + timedelta(days=d)).isoformat()},{code},{value},{unit}"
             for d in (1, 2) for mrn in mrns for code, value, unit in VALUES]
    return "\n".join(["mrn,date,code,value,unit", *lines]) + "\n"


def snapshot(db_path: Path) -> dict[str, list[tuple]]:
    """Every row of the values, visits, audit trail and seal, read from the file by plain sqlite3,
    and the chain head kept beside it."""
    con = sqlite3.connect(db_path)
    try:
        tables = {t: con.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
                  for t in ("observation", "visit", "audit_entry", "record_seal", "clinic_setting")}
    finally:
        con.close()
    head = audit.head_file(db_path)
    tables["head file"] = [(head.read_text(),)] if head.exists() else []
    return tables


def test_the_sealing_has_its_own_progress_after_the_file_is_read(clinic, admin, tmp_path):
    db, mrns = clinic
    path = tmp_path / "labs.csv"
    path.write_text(lab_text(mrns), encoding="utf-8")
    seen: list[tuple[str, int, int]] = []
    summary = import_lab_csv_file(db, admin, path, "iso", today=TODAY + timedelta(days=5),
                                  progress=lambda *call: seen.append(call))
    assert summary.values_added == 2 * len(VALUES) * len(mrns)
    phases = list(dict.fromkeys(what for what, _, _ in seen))
    assert phases == [READING, RECORDS, ENTRIES]
    reading = [(done, total) for what, done, total in seen if what == READING]
    assert reading[-1][0] == reading[-1][1]  # the file's bar is full before the sealing starts
    records = [(done, total) for what, done, total in seen if what == RECORDS]
    assert [done for done, _ in records] == list(range(len(mrns) + 1))  # one step per patient, then done
    assert {total for _, total in records} == {len(mrns)}
    entries = [(done, total) for what, done, total in seen if what == ENTRIES]
    assert len(entries) > 2 and entries[-1][0] == entries[-1][1] > 0
    assert [done for done, _ in entries] == sorted(done for done, _ in entries)
    assert check(db) == []


@pytest.mark.parametrize("phase", [RECORDS, ENTRIES])
@pytest.mark.parametrize("entry", ["file", "text"])
def test_a_cancel_while_sealing_writes_nothing(clinic, admin, tmp_path, db_path, phase, entry):
    """Cancelled half-way through the phase (some patients or entries already sealed in the
    transaction): the file holds exactly what it held before, and its seal still verifies."""
    db, mrns = clinic
    before = snapshot(db_path)
    asked: list[tuple[str, int, int]] = []

    def progress(what: str, done: int, total: int) -> None:
        asked.append((what, done, total))
        if what == phase and 0 < done < total:
            raise Cancelled(what)

    text = lab_text(mrns)
    with pytest.raises(Cancelled):
        if entry == "file":
            path = tmp_path / "labs.csv"
            path.write_text(text, encoding="utf-8")
            import_lab_csv_file(db, admin, path, "iso", today=TODAY + timedelta(days=5), progress=progress)
        else:  # what the app's lab import dialog runs behind its progress dialog
            import_lab_csv(db, admin, text, "iso", today=TODAY + timedelta(days=5), progress=progress)
    assert asked[-1][0] == phase and asked[-1][1] > 0
    after = snapshot(db_path)
    for table, rows in before.items():
        assert after[table] == rows, table
    assert check(db) == []
    # and the same file imports afterwards, whole
    summary = import_lab_csv(db, admin, text, "iso", today=TODAY + timedelta(days=5))
    assert summary.values_added == 2 * len(VALUES) * len(mrns)
    assert check(db) == []
