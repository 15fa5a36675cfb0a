"""CSV export of the whole clinic (INTERFACES.md section 1, `export-csv DIR`).

Owns the files an analyst opens in R, pandas or a spreadsheet without extra steps: one CSV per
table of the database (same name as the table), `values_long.csv` (every current value with its
patient and date, one row each: the shape statistics packages want), and `data_dictionary.csv`
(every catalogue code: what it is, its LOINC, units and limits with their sources).

Format: UTF-8 without byte-order mark, a header line, comma separators, '.' decimals, dates and
times in ISO 8601 (times in UTC with a trailing Z), true/false for booleans, an empty field for
a missing value. Password hashes never leave the database. Everything is read in one snapshot.
A text cell that a spreadsheet would run as a formula (beginning with =, +, @, a tab or a carriage
return, or with - when it is not a number) is written with a leading apostrophe, as spreadsheets
expect (OWASP "CSV injection"): a name "=HYPERLINK(...)" is shown, never run.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, String, TypeDecorator, select
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import poems_monitor.models  # noqa: F401  (registers every table on the metadata)
from poems_monitor.domain.catalogue import (
    CRITERIA, EVENT_TYPES, EXAM_KINDS, FEATURES, MEASURE_GROUPS, MEASURES, REGIMENS, Range,
)
from poems_monitor.files import atomic_text_file
from poems_monitor.i18n import ntr, tr
from poems_monitor.models import Observation, Patient, Visit
from poems_monitor.persistence.db import Database
from poems_monitor.services.progress import Progress

DICTIONARY_FILE = "data_dictionary.csv"
VALUES_FILE = "values_long.csv"
# Never exported: secrets.
EXCLUDED_COLUMNS = {"app_user": {"password_hash"}}
# Not clinic data: the schema version, the rules cache (derived from the record, rebuilt at will)
# and the record's seal (a copy of every row for tamper evidence, password hashes included).
SKIPPED_TABLES = {"alembic_version", "rules_cache", "record_seal"}

DICTIONARY_COLUMNS = (
    "code", "kind", "name", "group", "loinc", "loinc_note", "unit", "unit_label", "accepted_units", "specimen",
    "categories", "absolute_low", "absolute_high", "absolute_source", "critical_low", "critical_high",
    "critical_source", "reference_low", "reference_high", "reference_source", "reference_female_low",
    "reference_female_high", "reference_female_source", "reference_male_low", "reference_male_high",
    "reference_male_source", "description",
)
VALUES_COLUMNS = (
    "mrn", "date", "code", "name", "value", "value_text", "qualifier", "unit", "entered_value", "entered_unit",
    "specimen", "lab", "method", "derived",
)


@dataclass
class CsvExportSummary:
    directory: Path
    files: dict[str, int]  # file name -> data rows written

    def sentence(self) -> str:
        return ntr("{n} file written to {dir}", "{n} files written to {dir}", len(self.files)).format(
            n=len(self.files), dir=self.directory)


def cell(value: Any) -> str:
    """One value as CSV text that R, pandas and spreadsheets read without options."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:  # SQLite hands back naive datetimes: they were stored as UTC
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _range_cells(r: Range | None) -> list[str]:
    if r is None:
        return ["", "", ""]
    return [cell(r.low), cell(r.high), r.source]


def dictionary_rows() -> list[dict[str, str]]:
    """Every catalogue code: measures, features, criteria, regimens, event types, exam kinds."""
    rows: list[dict[str, str]] = []
    for m in MEASURES.values():
        values = [
            m.code, f"measure_{m.kind.value}", m.name, MEASURE_GROUPS.get(m.group, m.group), m.loinc or "",
            m.loinc_note, m.unit, m.unit_label, " | ".join(u for u in m.accepted_units if u), m.specimen or "",
            " | ".join(m.categories), *_range_cells(m.absolute), *_range_cells(m.critical),
            *_range_cells(m.reference), *_range_cells(m.reference_female), *_range_cells(m.reference_male),
            " ".join(filter(None, [m.description, f"Computed from {' + '.join(m.derived_from)}." if m.derived_from else ""])),
        ]
        rows.append(dict(zip(DICTIONARY_COLUMNS, values)))

    def plain(code: str, kind: str, name: str, group: str = "", description: str = "") -> dict[str, str]:
        row = dict.fromkeys(DICTIONARY_COLUMNS, "")
        row.update(code=code, kind=kind, name=name, group=group, description=description,
                   categories="present | absent | unknown" if kind == "feature" else "")
        return row

    for f in FEATURES.values():
        desc = "Derived from measurements (may also be entered)." if f.derived else ""
        if not f.counts_alone:
            desc = (desc + " Does not fulfil its criterion on its own.").strip()
        rows.append(plain(f.code, "feature", f.name, CRITERIA[f.criterion].name, desc))
    for c in CRITERIA.values():
        number = f"Criterion {c.number}, " if c.number else ""
        rows.append(plain(c.code, "criterion", c.name, c.klass.value, f"{number}{c.klass.value}. {c.note}".strip()))
    for r in REGIMENS.values():
        rows.append(plain(r.code, "regimen", r.name, " | ".join(sorted(r.drug_classes)),
                          " ".join(filter(None, [r.note, "Neuropathy risk." if r.neuropathy_risk else ""]))))
    for e in EVENT_TYPES.values():
        rows.append(plain(e.code, "event_type", e.name, "thrombotic" if e.thrombotic else ""))
    for x in EXAM_KINDS.values():
        rows.append(plain(x.code, "exam_kind", x.name, "", "Result: normal | abnormal | pending."))
    return rows


_FORMULA_STARTS = ("=", "+", "@", "\t", "\r")
_NUMBER = re.compile(r"-(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def spreadsheet_safe(text: str) -> str:
    """`text` as a spreadsheet shows it instead of running it: a leading apostrophe before a
    formula's first character; negative numbers (-5, -0.25) stay numbers."""
    if text.startswith(_FORMULA_STARTS) or (text.startswith("-") and not _NUMBER.fullmatch(text)):
        return "'" + text
    return text


# Rows fetched from the database at a time: a table is streamed to its file, never held whole.
FETCH_ROWS = 5000


def _write_csv(path: Path, header: list[str] | tuple[str, ...], rows: Iterable[list[str]], *, safe: bool = False) -> int:
    """Write `rows` as they come (atomically), each cell spreadsheet-safe (`safe`: the rows are
    made so already); returns how many were written."""
    counted = _Counted(rows if safe else ([spreadsheet_safe(c) for c in row] for row in rows))
    with atomic_text_file(path, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(counted)
    return counted.count


class _Counted:
    """An iterable that counts what it hands out (so that `writerows` can run in C)."""

    def __init__(self, rows: Iterable):
        self.rows, self.count = rows, 0

    def __iter__(self):  # noqa: ANN204
        for row in self.rows:
            self.count += 1
            yield row


def _table_rows(session, table, columns: list) -> Iterable[list[str]]:  # noqa: ANN001
    """The rows of `table` as spreadsheet-safe cells, in primary key order, FETCH_ROWS at a time.
    On SQLite straight from the driver, each column turned into its cell from what SQLite stores
    (what `cell` writes for the value SQLAlchemy would have made of it: a test compares both);
    elsewhere, or for a column of another type, through SQLAlchemy."""
    order = list(table.primary_key.columns) or columns[:1]
    query = select(*columns).order_by(*order)
    connection = session.connection()
    converters = [_stored_cell(c.type) for c in columns] if connection.dialect.name == "sqlite" else [None]
    if None in converters:
        for row in session.execute(query.execution_options(yield_per=FETCH_ROWS)):
            yield [spreadsheet_safe(cell(v)) for v in row]
        return
    yield from _driver_rows(connection, query, converters)


def _driver_rows(connection, query, converters: list) -> Iterable[list[str]]:  # noqa: ANN001
    """The rows of `query` (or of its SQL text) from the driver, each cell made by its converter."""
    sql = query if isinstance(query, str) else str(query.compile(dialect=connection.dialect))
    cursor = connection.exec_driver_sql(sql).cursor
    make = _row_maker(tuple(converters))
    while rows := cursor.fetchmany(FETCH_ROWS):
        yield from map(make, rows)


_ROW_MAKERS: dict[tuple, Any] = {}


def _row_maker(converters: tuple):  # noqa: ANN202
    """The function turning a driver row into its cells, each column's converter written out
    inline for its common cases (what the converter returns, without a call per cell: the
    calls were a third of the export's time; the test of the driver path compares the files)."""
    found = _ROW_MAKERS.get(converters)
    if found is not None:
        return found
    names: dict[str, Any] = {"R": _RISKY_FIRST, "safe": spreadsheet_safe, "text": _text_cell, "irepr": int.__repr__,
                             "frepr": float.__repr__}
    body = ["def make(r):"]
    for i, convert in enumerate(converters):
        names[f"f{i}"] = convert
        body += [f"    v = r[{i}]", f"    if v is None: c{i} = ''"]
        if convert is _text_cell:
            body += [f"    elif type(v) is str: c{i} = v if v[:1] not in R else safe(v)",
                     f"    elif type(v) is int and v >= 0: c{i} = irepr(v)",
                     f"    elif type(v) is float and 0 <= v < 1e15: c{i} = irepr(int(v)) if v.is_integer() else frepr(v)"]
        elif convert is _datetime_cell:
            body += [f"    elif type(v) is str and len(v) >= 19 and v[10] == ' ': c{i} = v[:10] + 'T' + v[11:19] + 'Z'"]
        elif convert is _bool_cell:
            body += [f"    elif type(v) is int: c{i} = 'true' if v else 'false'"]
        body.append(f"    else: c{i} = f{i}(v)")
    body.append(f"    return [{', '.join(f'c{i}' for i in range(len(converters)))}]")
    exec("\n".join(body), names)  # noqa: S102 - generated from this module's own converters
    found = _ROW_MAKERS[converters] = names["make"]
    return found


_RISKY_FIRST = frozenset("=+@\t\r-")


def _text_cell(value: Any) -> str:
    """`spreadsheet_safe(cell(value))`, the common cases first."""
    if value is None:
        return ""
    text = value if type(value) is str else cell(value)
    return spreadsheet_safe(text) if text[:1] in _RISKY_FIRST else text


def _bool_cell(value: Any) -> str:
    return "" if value is None else ("true" if value else "false") if type(value) is int else _text_cell(value)


def _datetime_cell(value: Any) -> str:
    """SQLite's stored time text (YYYY-MM-DD HH:MM:SS.ffffff, UTC) as `cell` writes the time."""
    if value is None:
        return ""
    if type(value) is str and len(value) >= 19 and value[10] == " ":
        return f"{value[:10]}T{value[11:19]}Z"
    return _text_cell(cell(datetime.fromisoformat(value)) if type(value) is str else value)


def _stored_cell(kind: Any):  # noqa: ANN202
    """The converter from what SQLite stores for a column of this type to its cell; None when
    only SQLAlchemy's own processing of the type is right."""
    if isinstance(kind, AutoString):  # sqlmodel's text type: only its column type differs per database
        return _text_cell
    if isinstance(kind, TypeDecorator):
        return None
    if isinstance(kind, Boolean):
        return _bool_cell
    if isinstance(kind, DateTime):
        return _datetime_cell
    if isinstance(kind, (Date, Float, Integer, String)):  # a stored date's text is its ISO form already
        return _text_cell
    return None


def export_clinic_csv(db: Database, directory: Path, progress: Progress | None = None) -> CsvExportSummary:
    """Write every table, values_long.csv and data_dictionary.csv into `directory`, table by table
    and FETCH_ROWS rows at a time, all from one read snapshot."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(tr("{path} is a file, not a folder").format(path=directory))
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIPPED_TABLES]
    steps = len(tables) + 2
    with db.read() as session:
        for done, table in enumerate(tables):
            columns = [c for c in table.columns if c.name not in EXCLUDED_COLUMNS.get(table.name, set())]
            files[f"{table.name}.csv"] = _write_csv(directory / f"{table.name}.csv", [c.name for c in columns],
                                                    _table_rows(session, table, columns), safe=True)
            if progress:
                progress(tr("Exporting"), done + 1, steps)
        files[VALUES_FILE] = _write_csv(directory / VALUES_FILE, VALUES_COLUMNS, _values_rows(session), safe=True)
        if progress:
            progress(tr("Exporting"), steps - 1, steps)
    dictionary = dictionary_rows()
    files[DICTIONARY_FILE] = _write_csv(directory / DICTIONARY_FILE, DICTIONARY_COLUMNS,
                                        ([r[c] for c in DICTIONARY_COLUMNS] for r in dictionary))
    if progress:
        progress(tr("Exporting"), steps, steps)
    return CsvExportSummary(directory, files)


def _values_rows(session) -> Iterable[list[str]]:  # noqa: ANN001
    """values_long.csv's rows: every current value with its patient's MRN, its visit's date and
    the measure's name after its code."""
    P, V, O = Patient.__table__, Visit.__table__, Observation.__table__
    columns = (P.c.mrn, V.c.date, O.c.code, O.c.value_num, O.c.value_text, O.c.qualifier, O.c.unit,
               O.c.entered_num, O.c.entered_unit, O.c.specimen, O.c.lab, O.c.method, O.c.derived)
    query = (select(*columns).join(V, V.c.patient_id == P.c.id).join(O, O.c.visit_id == V.c.id)
             .where(O.c.superseded_at.is_(None)).order_by(P.c.mrn, V.c.date, O.c.code))
    connection = session.connection()
    converters = [_stored_cell(c.type) for c in columns]
    if connection.dialect.name == "sqlite" and None not in converters:
        # `patient CROSS JOIN visit CROSS JOIN observation` is the inner join whose loops SQLite
        # runs in that order: patients by the MRN index, their visits by (patient, date), values
        # by (visit, code), so the rows come in the file's order without sorting every value first.
        sql = (f"SELECT {', '.join(f'{c.table.name}.{c.name}' for c in columns)}"
               " FROM patient CROSS JOIN visit CROSS JOIN observation"
               " WHERE visit.patient_id = patient.id AND observation.visit_id = visit.id"
               " AND observation.superseded_at IS NULL ORDER BY patient.mrn, visit.date, observation.code")
        rows: Iterable = _driver_rows(connection, sql, converters)
    else:
        rows = ([spreadsheet_safe(cell(v)) for v in row]
                for row in session.execute(query.execution_options(yield_per=FETCH_ROWS)))
    names = {code: _text_cell(m.name) for code, m in MEASURES.items()}
    for row in rows:
        code = row[2]
        row.insert(3, names.get(code, code))  # an unknown code is its own name
        yield row
