"""Hostile lab CSV files (issue 5, item 7): generated rows that mix good and malformed cells,
extreme numbers, odd separators and Unicode. Reading never raises; an import either stores every
row or none, and refuses only with LabImportRefused."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from poems_monitor.domain.lab_csv import RowStatus, parse_lab_csv
from poems_monitor.models import Observation
from poems_monitor.persistence.db import open_database
from poems_monitor.services.access import Actor, Role
from poems_monitor.services.lab_import import LabImportRefused, import_lab_csv
from poems_monitor.services.patients import PatientInput, create_patient
from tests.conftest import TODAY

NURSE = Actor("nurse-prop", Role.NURSE)
MRNS = ("P-1", "P-2")

cells = {
    "mrn": st.sampled_from([*MRNS, "", "P-999", "ü-1", "P-1;"]),
    "date": st.sampled_from(["2024-01-05", "2025-06-30", "05/01/2024", "2024-13-01", "", "2999-01-01", "1850-01-01"]),
    "code": st.sampled_from(["platelets", "vegf_plasma", "hemoglobin", "777-3", "75628-8", "ife", "onls", "nope", ""]),
    "value": st.one_of(
        st.sampled_from(["300", "13,5", "<31", ">1000", "1e308", "-5", "NaN", "inf", "lambda", "", "4500", "≤3"]),
        st.text(max_size=8)),
    "unit": st.sampled_from(["10*9/L", "10*3/uL", "g/L", "g/dL", "pg/mL", "PG/ML", "", "furlongs"]),
    "specimen": st.sampled_from(["", "plasma", "serum", "urine", "blood?"]),
}
row = st.fixed_dictionaries(cells)


def render(rows: list[dict], sep: str) -> str:
    def quote(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in (sep, '"', "\n", "\r")) else text

    lines = [sep.join(cells)] + [sep.join(quote(r[k]) for k in cells) for r in rows]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory):
    db = open_database(tmp_path_factory.mktemp("labprop") / "clinic.sqlite")
    for mrn in MRNS:
        create_patient(db, Actor("setup", Role.ADMIN), PatientInput(mrn, "Prop Test", "female", date(1960, 1, 1)),
                       today=TODAY)
    yield db
    db.dispose()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400), st.sampled_from(["iso", "dmy"]))
def test_any_text_is_read_into_rows_or_problems(text, fmt):
    parsed = parse_lab_csv(text, fmt, TODAY)
    for r in parsed.rows:
        assert r.status in set(RowStatus)
        if r.status is RowStatus.INVALID:
            assert r.problems, "an invalid row must say why"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(row, min_size=1, max_size=6), st.sampled_from([",", ";", "\t"]))
def test_an_import_stores_every_row_or_none(shared_db, rows, sep):
    text = render(rows, sep)
    with shared_db.read() as session:
        before = session.execute(select(func.count()).select_from(Observation.__table__)).scalar_one()
    try:
        summary = import_lab_csv(shared_db, NURSE, text, "iso", today=TODAY)
    except LabImportRefused as refused:
        assert not refused.preview.importable
        with shared_db.read() as session:
            after = session.execute(select(func.count()).select_from(Observation.__table__)).scalar_one()
        assert after == before, "a refused file wrote values"
        return
    with shared_db.read() as session:
        after = session.execute(select(func.count()).select_from(Observation.__table__)).scalar_one()
    assert after - before == summary.values_added
