"""A lab CSV file of any size is imported streamed, a batch of rows at a time, in one transaction:
all rows or none; a bad row in a later batch leaves nothing written and is named by line, column
and rule; a row repeating an earlier batch's row is a duplicate (same value) or refused (another
value); a hostile file (a huge line, NUL bytes, an unknown encoding, an absurd size, a folder) is
refused with a sentence before anything is written; progress is reported up to the file's size,
also through the command line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from poems_monitor.domain.lab_csv import CsvEncodingError
from poems_monitor.services import lab_import
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.lab_import import LabImportRefused, import_lab_csv, import_lab_csv_file
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY

VALUES = (("calcium", "9.5", "mg/dL"), ("creatinine", "0.9", "mg/dL"), ("albumin", "4.2", "g/dL"))


@pytest.fixture
def clinic(db, admin, monkeypatch):
    monkeypatch.setattr(lab_import, "LAB_BATCH_ROWS", 4)  # a small file spans several batches
    patients = [p for p in generate_patients(4, 7, TODAY) if not any(e.type == "death" for e in p.events)]
    import_patients(db, patients, admin, reason="clinic")
    return db, [p.mrn for p in patients]


def lab_lines(mrns: list[str], days: int = 2) -> list[str]:
    return [f"{mrn},{(TODAY + timedelta(days=d)).isoformat()},{code},{value},{unit}"
            for d in range(1, days + 1) for mrn in mrns for code, value, unit in VALUES]


def write(path: Path, lines: list[str], header: str = "mrn,date,code,value,unit") -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def counts(db) -> dict[str, int]:
    with db.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("observation", "visit", "audit_entry", "record_seal")}


def stored_values(db) -> list[tuple]:
    with db.read() as session:
        return session.execute(text(
            "SELECT p.mrn, v.date, o.code, o.value_num, o.unit FROM observation o JOIN visit v ON v.id = o.visit_id "
            "JOIN patient p ON p.id = v.patient_id WHERE v.date > :t ORDER BY 1, 2, 3"),
            {"t": TODAY.isoformat()}).all()


def test_a_file_of_several_batches_is_imported_whole(clinic, admin, tmp_path):
    db, mrns = clinic
    lines = lab_lines(mrns)
    seen: list[tuple[str, int, int]] = []
    before = counts(db)
    summary = import_lab_csv_file(db, admin, write(tmp_path / "labs.csv", lines), "iso", today=TODAY + timedelta(days=5),
                                  progress=lambda *a: seen.append(a))
    assert summary.values_added == len(lines) and summary.duplicates_skipped == 0
    assert summary.visits_created == 2 * len(mrns) and sorted(summary.patients) == sorted(mrns)
    after = counts(db)
    assert after["observation"] - before["observation"] == len(lines)
    assert after["visit"] - before["visit"] == 2 * len(mrns)
    assert len(seen) >= len(lines) // 4 and seen[-1][1] == seen[-1][2]
    from poems_monitor.services.integrity import check
    assert check(db) == []


def test_the_streamed_file_stores_what_the_text_import_stores(clinic, admin, tmp_path, db_path):
    from poems_monitor.persistence.db import open_database

    db, mrns = clinic
    lines = lab_lines(mrns)
    other = open_database(tmp_path / "other.sqlite")
    import_patients(other, [p for p in generate_patients(4, 7, TODAY) if p.mrn in mrns], admin, reason="clinic")
    import_lab_csv_file(db, admin, write(tmp_path / "labs.csv", lines), "iso", today=TODAY + timedelta(days=5))
    lab_import.LAB_BATCH_ROWS = 10_000
    import_lab_csv(other, admin, "mrn,date,code,value,unit\n" + "\n".join(lines) + "\n", "iso",
                   today=TODAY + timedelta(days=5))
    assert stored_values(db) == stored_values(other) and len(stored_values(db)) == len(lines)


def test_a_bad_row_in_a_later_batch_leaves_nothing_written(clinic, admin, tmp_path):
    db, mrns = clinic
    lines = lab_lines(mrns)
    lines[-2] = lines[-2].replace(",0.9,", ",lots,")
    before = counts(db)
    with pytest.raises(LabImportRefused) as refused:
        import_lab_csv_file(db, admin, write(tmp_path / "labs.csv", lines), "iso", today=TODAY + timedelta(days=5))
    assert counts(db) == before
    line = len(lines)  # the header is line 1
    assert any(m.startswith(f"line {line}, column value:") and "[" in m for m in refused.value.messages()), \
        refused.value.messages()


def test_a_row_repeating_an_earlier_batch(clinic, admin, tmp_path):
    db, mrns = clinic
    lines = lab_lines(mrns, days=1)
    same = [*lines, lines[0]]
    summary = import_lab_csv_file(db, admin, write(tmp_path / "same.csv", same), "iso", today=TODAY + timedelta(days=5))
    assert summary.values_added == len(lines) and summary.duplicates_skipped == 1
    before = counts(db)
    later = lab_lines(mrns, days=2)[len(lines):]
    other = [*later, later[0].replace(",9.5,", ",10.5,")]
    with pytest.raises(LabImportRefused) as refused:
        import_lab_csv_file(db, admin, write(tmp_path / "other.csv", other), "iso", today=TODAY + timedelta(days=5))
    assert counts(db) == before
    assert any(f"line {len(other) + 1}, column value: line {len(other) + 1} gives a different value" in m
               and "[repeated_in_file]" in m for m in refused.value.messages()), refused.value.messages()


def test_a_dry_run_checks_every_row_and_keeps_nothing(clinic, admin, tmp_path):
    db, mrns = clinic
    before = counts(db)
    summary = import_lab_csv_file(db, admin, write(tmp_path / "labs.csv", lab_lines(mrns)), "iso",
                                  today=TODAY + timedelta(days=5), dry_run=True)
    assert summary.values_added == len(lab_lines(mrns))
    assert counts(db) == before


@pytest.mark.parametrize("content, expected", [
    (b"mrn,date,code,value,unit\n" + b"x" * 300 + b"\n", "line 2 is longer than 200 characters"),
    (b"mrn,date,code,value,unit\nH-1,2026-01-01,calcium,9\x00.5,mg/dL\n", "NUL characters"),
    ("mrn,date,code,value,unit\n".encode("utf-16-le"), "NUL characters"),
    (b"mrn,date,code,value,unit\n\x81\x8d\x8f\x90\x9d\n", "bytes that no Windows-1252 text holds"),
    (b"\xff\xfem\x00\x00\xd8", "broken UTF-16"),
])
def test_a_hostile_file_is_refused_with_a_sentence(clinic, admin, tmp_path, monkeypatch, content, expected):
    db, _ = clinic
    monkeypatch.setattr(lab_import, "MAX_LINE_CHARS", 200)
    path = tmp_path / "hostile.csv"
    path.write_bytes(content)
    before = counts(db)
    with pytest.raises((LabImportRefused, CsvEncodingError)) as refused:
        import_lab_csv_file(db, admin, path, "iso", today=TODAY)
    said = " ".join(refused.value.messages()) if isinstance(refused.value, LabImportRefused) else str(refused.value)
    assert expected in said and "Traceback" not in said
    assert counts(db) == before


def test_an_absurd_size_or_a_folder_is_refused_before_reading(clinic, admin, tmp_path, monkeypatch):
    db, mrns = clinic
    monkeypatch.setattr(lab_import, "MAX_STREAMED_CSV_BYTES", 100)
    with pytest.raises(CsvEncodingError, match="far more than any lab export"):
        import_lab_csv_file(db, admin, write(tmp_path / "big.csv", lab_lines(mrns)), "iso", today=TODAY)
    with pytest.raises(CsvEncodingError, match="not a regular file"):
        import_lab_csv_file(db, admin, tmp_path, "iso", today=TODAY)


def test_the_command_line_imports_a_large_file_streamed_with_a_progress_bar(clinic, db_path, tmp_path, monkeypatch,
                                                                             capsys):
    """Above the preview's size the CLI imports without a row-by-row preview; the bar is fed."""
    from contextlib import contextmanager

    from poems_monitor.cli import reports
    from poems_monitor.cli import main

    db, mrns = clinic
    monkeypatch.setattr(lab_import, "MAX_CSV_BYTES", 100)
    calls: list[tuple] = []

    @contextmanager
    def bar():  # what cli.progress yields on a terminal: a callable
        yield lambda *a: calls.append(a)

    monkeypatch.setattr(reports, "progress_bar", bar)
    path = write(tmp_path / "labs.csv", lab_lines(mrns))
    code = main(["--db", str(db_path), "--user", "admin", "import-csv", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "without a row-by-row preview" in out and f"{len(lab_lines(mrns))} values added" in out
    assert calls and calls[-1][1] == calls[-1][2]
