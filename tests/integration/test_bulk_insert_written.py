"""`bulk_insert.insert_rows` with explicit ids tells the rows exactly as a read of them returns
them (`WrittenRows`), and the record seal's per-row sealer made from the bound parameters gives
what `canonical` gives for the rows read back, awkward values included (quotes, control
characters, non-ASCII, NaN, infinities, booleans, defaults)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from poems_monitor.models import Observation, Visit
from poems_monitor.persistence import bulk_insert
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.services import record_seal
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.demo_clinic import generate_patients
from tests.conftest import TODAY

O, V = Observation.__table__, Visit.__table__
AT = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=timezone.utc)
ODD_TEXT = "q\"uote\\ \x00\x1f é 日本 \u2028"


def _odd_values(visit_id: int) -> list[dict]:
    base = dict(visit_id=visit_id, code="platelets", value_num=250.0, value_text=None, unit="10*9/L", entered_num=None,
                entered_unit=None, specimen=None, lab=None, method=None, qualifier=None, derived=False,
                confirmed_at_entry=False, entered_at=AT, entered_by="nurse")
    return [
        base,
        {**base, "code": ODD_TEXT, "value_num": 1e-7, "entered_num": float("inf"), "derived": True, "lab": "日本"},
        {**base, "value_num": float("nan"), "entered_num": -0.0, "unit": "", "qualifier": "<"},
        {**base, "value_num": None, "value_text": "positive", "entered_num": 12345678901234567890.0,
         "confirmed_at_entry": True, "method": ""},
    ]


def test_written_rows_are_the_rows_as_read_and_seal_as_canonical_does(db):
    told: dict[str, bulk_insert.WrittenRows | None] = {}
    with db.write() as session:
        patient = repo.insert_patient(session, generate_patients(1, 1, TODAY)[0],
                                      repo.WriteStamp(user="nurse", at=AT))
        conn = session.connection()
        visit_ids = bulk_insert.insert_rows(conn, V, [dict(patient_id=patient, date=TODAY, note="", created_at=AT,
                                                           created_by="nurse", version=1)],
                                            assign_ids=True, stored=lambda t, w: told.__setitem__(t.name, w))
        ids = bulk_insert.insert_rows(conn, O, _odd_values(visit_ids[0]), assign_ids=True,
                                      stored=lambda t, w: told.__setitem__(t.name, w))
    assert len(ids) == 4 and ids == sorted(ids)
    with db.read() as session:
        dialect = session.connection().dialect.name
        stored_rows = {}
        for table in (V, O):
            query, _ = record_seal._base_query(table, "patient_id" if table is V else None, dialect)
            stored_rows[table.name] = [tuple(r[:len(table.columns)]) for r in session.execute(query.order_by(table.c.id))]
    for table in (V, O):
        written = told[table.name]
        assert written is not None
        as_written = list(written.rows())
        assert as_written == stored_rows[table.name]  # the rows as a read returns them, NaN as NULL
        seal_row = record_seal._row_sealer(table, written.read_plan)
        assert [seal_row(p) for p in written.params] == [record_seal.canonical(r, table) for r in stored_rows[table.name]]
    contents = [record_seal.canonical(r, O)[0] for r in stored_rows["observation"]]
    assert '"derived":true' in contents[1] and '"derived"' not in contents[0]  # a default is left out, True is not
    assert '"entered_num":Infinity' in contents[1] and '"value_num"' not in contents[2]  # NaN is stored as NULL


def test_an_import_is_sealed_with_the_fast_sealer_and_check_finds_it_sound(db, admin, monkeypatch):
    from poems_monitor.services.integrity import check

    calls = []
    real = record_seal._row_sealer

    def spy(table, plan):
        calls.append(table.name)
        return real(table, plan)

    monkeypatch.setattr(record_seal, "_row_sealer", spy)
    import_patients(db, list(generate_patients(3, 2, TODAY)), admin, reason="import")
    assert {"patient", "visit", "observation"} <= set(calls)
    assert check(db) == []
    with db.read() as session:
        assert session.execute(select(record_seal.RS.c.scope).where(record_seal.RS.c.tbl == "observation")).first()
