"""The record seal of an import is made from the rows as they are written (not read back at the
commit), and it is the same seal: the digests the chain holds and the field fingerprints equal
those computed by re-reading every row, on a first import and on one into a clinic already
sealed; and `check` still finds a value edited, a row added or deleted by another process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from poems_monitor.persistence.db import open_database
from poems_monitor.services import record_seal, timeline_io
from poems_monitor.services.audit import verify_chain
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.integrity import check
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY

SQL_CLIENT = "import sqlite3, sys\nconn = sqlite3.connect(sys.argv[1])\nconn.executescript(sys.argv[2])\nconn.close()\n"


@pytest.fixture
def read_back(monkeypatch):
    """The patient scopes whose rows the seal read back at the commit (not sealed as written)."""
    scopes: set[str] = set()
    real = record_seal._seal_scopes

    def spy(session, rows, wanted):
        rows = list(rows)
        scopes.update(scope for scope, *_ in rows if scope.startswith("patient:"))
        return real(session, rows, wanted)

    monkeypatch.setattr(record_seal, "_seal_scopes", spy)
    monkeypatch.setattr(timeline_io, "STORE_BATCH", 3)  # several batches
    return scopes


def seal_by_rereading(db) -> tuple[dict[str, str], dict[str, str], dict[tuple, str], dict[tuple, str]]:
    """(digests the chain holds, digests of every row read now, fingerprints stored, fingerprints of the rows now)."""
    states: dict[str, record_seal.SealedScope] = {}
    with db.read() as session:
        assert verify_chain(session, states) == []
        rows: dict[str, list] = {}
        fields_now = {}
        for scope, tbl, row_id, content, fields in record_seal.record_rows(session, global_scopes=False):
            rows.setdefault(scope, []).append((tbl, row_id, content))
            fields_now[(scope, tbl, row_id)] = fields
        RS = record_seal.RS
        stored = {(s, t, r): f for s, t, r, f in session.execute(
            RS.select().with_only_columns(RS.c.scope, RS.c.tbl, RS.c.row_id, RS.c.fields).where(RS.c.scope.like("patient:%")))}
    chain = {scope: sealed.digest for scope, sealed in states.items() if scope.startswith("patient:")}
    return chain, {scope: record_seal.digest_of(r) for scope, r in rows.items()}, stored, fields_now


def test_an_import_is_sealed_as_written_and_equals_the_seal_by_rereading(db, admin, read_back):
    patients = generate_patients(8, 3, TODAY)
    summary = import_patients(db, list(patients), admin, reason="first import")
    assert summary.patients_created == 8
    assert read_back == set()  # nothing read back: every new patient was sealed from its rows as written
    chain, now, stored, fields_now = seal_by_rereading(db)
    assert len(now) == 8 and chain == now
    assert stored == fields_now
    assert check(db) == []


def test_an_import_into_a_sealed_clinic_is_sealed_as_written_too(db, admin, read_back):
    import_patients(db, list(generate_patients(4, 3, TODAY)), admin, reason="first")
    read_back.clear()
    more = generate_patients(6, 3, TODAY, first_index=4)
    import_patients(db, list(more), admin, reason="second")
    assert read_back == set()
    chain, now, stored, fields_now = seal_by_rereading(db)
    assert len(now) == 10 and chain == now
    assert stored == fields_now
    assert check(db) == []


@pytest.mark.parametrize("script, expected", [
    ("UPDATE observation SET value_num = value_num + 1 WHERE id = (SELECT max(id) FROM observation)",
     "value_num changed outside poems-monitor"),
    ("DELETE FROM observation WHERE id = (SELECT max(id) FROM observation)", "was deleted outside poems-monitor"),
    ("INSERT INTO observation (visit_id, code, value_num, unit, derived, confirmed_at_entry, entered_at, entered_by) "
     "VALUES ((SELECT max(id) FROM visit), 'platelets', 100, '10*9/L', 0, 0, '2026-01-01 00:00:00.000000', 'x')",
     "was added outside poems-monitor"),
])
def test_a_change_by_another_process_after_an_import_is_found(db, db_path, admin, read_back, script, expected):
    import_patients(db, list(generate_patients(5, 3, TODAY)), admin, reason="import")
    assert read_back == set() and check(db) == []
    db.dispose()
    subprocess.run([sys.executable, "-c", SQL_CLIENT, str(db_path), script], check=True, timeout=60)
    problems = check(open_database(db_path))
    assert any("table observation, row" in p and expected in p for p in problems), problems
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM record_seal").fetchone()[0] > 0


def test_the_canonical_form_is_json_of_the_kept_columns(db, admin):
    """`canonical` writes what json writes for the dict of a row's kept columns, for every row of
    an imported clinic and for awkward values (quotes, control characters, non-ASCII, floats)."""
    import json
    from datetime import datetime, timezone
    from zlib import crc32

    from poems_monitor.models import Observation

    def reference(row, table):
        values, parts = {}, []
        for (name, code, default), value in zip(record_seal._columns_of(table), row):
            if value is None or (default is not record_seal._NO_DEFAULT and value == default
                                 and type(value) is type(default)):
                continue
            value = record_seal._norm(value)
            values[name] = value
            parts.append(code + f"{crc32(str(value).encode()) & 0xFFF:03x}")
        return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str), "".join(parts)

    import_patients(db, list(generate_patients(4, 3, TODAY)), admin, reason="import")
    tables = {t.name: t for t, _ in record_seal.PATIENT_TABLES}
    with db.read() as session:
        n = 0
        for _row in record_seal.record_rows(session, global_scopes=False):
            n += 1
        assert n > 100
    O = Observation.__table__
    odd = [("q\"uote\\ \x00\x1f é 日本 \u2028", 1e-7, float("inf"), -0.0, True, datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)),
           ("x", float("nan"), 12345678901234567890.0, 3, False, b"\x00\xff")]
    for code, num, entered, version, derived, when in odd:
        row = [None] * len(O.columns)
        names = [c.name for c in O.columns]
        row[names.index("code")], row[names.index("value_num")] = code, num
        row[names.index("entered_num")], row[names.index("visit_id")] = entered, version
        row[names.index("derived")], row[names.index("entered_at")] = derived, when
        assert record_seal.canonical(row, O) == reference(row, O)
    with db.read() as session:
        for table in tables.values():
            for row in session.execute(table.select()):
                assert record_seal.canonical(row, table) == reference(row, table)


def test_the_entries_of_a_large_transaction_are_sealed_a_chunk_at_a_time(db, admin, monkeypatch):
    """The chain is re-linked in order across chunks of entries (a lab file's entries list every
    value: they are never all held at once): the chain verifies and `check` finds the record sound."""
    from poems_monitor.services import audit

    monkeypatch.setattr(audit, "_SEAL_ENTRIES_CHUNK", 3)
    import_patients(db, list(generate_patients(8, 3, TODAY)), admin, reason="first")
    import_patients(db, list(generate_patients(5, 3, TODAY, first_index=8)), admin, reason="second")
    chain, now, stored, fields_now = seal_by_rereading(db)
    assert len(now) == 13 and chain == now and stored == fields_now
    assert check(db) == []


def test_a_float_as_written_is_sealed_as_its_read_back_form(monkeypatch):
    """The sealer of rows as bound remembers the text of a REAL column's floats; what it writes is
    still `canonical` of the row as a read returns it (-0.0 read as 0.0, NaN as NULL, an int as a
    float), for awkward values, for values met again and after its memory is cleared."""
    from poems_monitor.models import Observation
    from poems_monitor.persistence import bulk_insert

    O = Observation.__table__
    names = [c.name for c in O.columns]
    real = {names.index("value_num"), names.index("entered_num")}
    plan = tuple((i, bulk_insert.REAL if i in real else None) for i in range(len(names)))
    monkeypatch.setattr(record_seal, "_MEMO_SIZE", 3)
    monkeypatch.setattr(record_seal, "_SEALERS", {})
    sealer = record_seal._row_sealer(O, plan)
    floats = [1e-7, float("inf"), float("-inf"), -0.0, 0.0, float("nan"), 12345678901234567890.0, 3, 617.0, 0.1 + 0.2,
              -2.5, 1e300]
    for value, entered in [(a, b) for a in floats for b in floats[::-1]] * 2:
        row = [None] * len(names)
        row[names.index("id")], row[names.index("visit_id")], row[names.index("code")] = 7, 3, "platelets"
        row[names.index("value_num")], row[names.index("entered_num")] = value, entered
        read = [bulk_insert.as_read(v, kind) for v, (_, kind) in zip(row, plan)]
        assert sealer(tuple(row)) == record_seal.canonical(read, O), (value, entered)


def test_the_fingerprint_rows_reach_the_driver_as_plain_text(db, admin, monkeypatch):
    """Every value of every fingerprint row is an exact str (not SQLAlchemy's quoted_name, the type
    of a table's name): sqlite3 binds a str subclass through its adaptation protocol, which made
    writing the fingerprints of an import 4x slower. Both ways: sealed as written, and read back."""
    written = []
    real = record_seal._insert_copies

    def spy(session, rows):
        written.extend(rows)
        return real(session, rows)

    monkeypatch.setattr(record_seal, "_insert_copies", spy)
    import_patients(db, generate_patients(4, 3, TODAY), admin, reason="as written")
    with db.write() as session:  # the read-back path: every scope again
        record_seal.seal(session, [], everything=True)
    assert len(written) > 100 and {type(v) for row in written for v in row} == {str}
    assert {row[1] for row in written} >= {"patient", "visit", "observation"}
