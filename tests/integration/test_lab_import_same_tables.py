"""The lab import writes exactly what it wrote before it was made faster: the same stored rows,
record seal and audit entries, byte for byte, for the same file on the same clinic at the same
clock. The digest below is that of every table after this test's import as the code of commit
bf2bb67 (before the lab import's speed-up) wrote them; run this file with that commit's package
on PYTHONPATH to see it again. The file holds every kind of row the import writes: new values on
new and on stored visits, duplicates of stored values and of earlier lines (in another batch),
LOINC codes, a converted unit, a censored value, a category, a specimen, lab and method columns,
out-of-range and sex-specific values, a decimal comma and DD/MM/YYYY dates."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from poems_monitor.persistence import audit_chain
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services import audit, lab_import, timeline_io
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.lab_import import import_lab_csv_file
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY

# sha256 of every table's rows after the import below, as commit bf2bb67 wrote them.
BASELINE_DIGEST = "e89933b6ebf1d5a23a63607b54592ac1fae5b4852620cbf2c7db4c656536857a"
FROZEN = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=timezone.utc)


@pytest.fixture
def frozen_clock(monkeypatch):
    for module in (audit_chain, audit, lab_import, timeline_io):
        monkeypatch.setattr(module, "utcnow", lambda: FROZEN)


def tables_digest(path) -> tuple[str, dict[str, int]]:
    """sha256 over every table's rows in rowid order, and the row count of each table."""
    con = sqlite3.connect(path)
    h, counts = hashlib.sha256(), {}
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                       "AND name != 'alembic_version' ORDER BY name")]
    for name in names:
        rows = con.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() if name != "record_seal" else \
            con.execute("SELECT * FROM record_seal ORDER BY scope, tbl, row_id").fetchall()
        counts[name] = len(rows)
        h.update(name.encode())
        for row in rows:
            h.update(repr(row).encode())
    con.close()
    return h.hexdigest(), counts


def lab_lines(stored) -> list[str]:
    """Rows of every kind for the clinic's first three living patients (semicolon file, dmy dates)."""
    a, b, c = stored[:3]
    lines = []
    for k, p in enumerate((a, b, c)):
        new_day = max(v.date for v in p.visits) + timedelta(days=1 + k)
        d = new_day.strftime("%d/%m/%Y")
        lines += [f"{p.mrn};{d};calcium;9,5;mg/dL;;;", f"{p.mrn};{d};creatinine;80;umol/L;;Central lab;Jaffe",
                  f"{p.mrn};{d};75628-8;<31;pg/mL;plasma;;", f"{p.mrn};{d};hemoglobin;135;g/L;;;",
                  f"{p.mrn};{d};ife;lambda;;;;", f"{p.mrn};{d};glucose_fasting;130;mg/dL;;;",
                  f"{p.mrn};{d};777-3;250;10*3/uL;;;", f"{p.mrn};{d};calcium;9.5;mg/dL;;;"]  # the last: a duplicate line
        visit = next(v for v in p.visits if v.value("pth") is None)
        stored_value = next(o for o in visit.observations if isinstance(o.value, float) and o.code == "platelets") \
            if any(o.code == "platelets" for o in visit.observations) else None
        lines.append(f"{p.mrn};{visit.date:%d/%m/%Y};pth;42,5;pg/mL;;;")  # joins a stored visit
        if stored_value is not None:
            lines.append(f"{p.mrn};{visit.date:%d/%m/%Y};777-3;{stored_value.value:g};10*3/uL;;;")  # stored: skipped
    return lines


def test_the_import_writes_the_same_rows_seal_and_audit_entries_as_before(db, db_path, admin, tmp_path, monkeypatch,
                                                                          frozen_clock):
    monkeypatch.setattr(lab_import, "LAB_BATCH_ROWS", 4)  # several batches: duplicates of an earlier batch too
    patients = [p for p in generate_patients(5, 11, TODAY) if not any(e.type == "death" for e in p.events)]
    import_patients(db, patients, admin, reason="clinic")
    with db.read() as session:
        stored = load_timelines(session)
    path = tmp_path / "labs.csv"
    path.write_text("\n".join(["mrn;date;code;value;unit;specimen;lab;method", *lab_lines(stored)]) + "\n",
                    encoding="utf-8")
    summary = import_lab_csv_file(db, admin, path, "dmy", today=TODAY + timedelta(days=30))
    assert summary.values_added >= 20 and summary.duplicates_skipped >= 3 and summary.visits_created == 3
    db.engine.dispose()
    digest, counts = tables_digest(db_path)
    assert counts["observation"] > 100 and counts["record_seal"] > 100 and counts["audit_entry"] >= 4
    assert digest == BASELINE_DIGEST, (digest, counts)
