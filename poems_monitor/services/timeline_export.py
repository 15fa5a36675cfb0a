"""Export of the patient-timeline JSON file (INTERFACES.md section 2), streamed from the database.

Owns `export_timeline_file`: each table is read once, in MRN order, as the driver's rows (one
ordered scan per table, FETCH_ROWS rows at a time: the clinic is never held in memory) and the
JSON text is written straight from those rows, without building timeline records or
dictionaries first. The text is byte for byte what `timeline_json.patient_to_json` formatted by
json (`json.dump(document, ensure_ascii=False, indent=1)` and a newline) writes for the same
patients; tests compare both on every field of the format. `write_timeline_document` writes
the same document around patients given as dictionaries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from itertools import groupby
from json.encoder import encode_basestring  # json's C string encoder
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table
from sqlmodel import Session

from poems_monitor.domain.timeline_json import timeline_to_json
from poems_monitor.files import atomic_text_file
from poems_monitor.i18n import tr
from poems_monitor.models import Event, Exam, FeatureStatus, Observation, Patient, Treatment, Visit
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.services.progress import Progress

# Rows fetched from each table's cursor at a time (seven cursors are open together).
FETCH_ROWS = 2000
# Patients between two progress reports.
PROGRESS_EVERY = 100

_PATIENTS_PLACEHOLDER = "\u2063patients\u2063"


def export_timeline_file(db: Database, path: Path, mrn: str | None = None, progress: Progress | None = None) -> int:
    """Write the timeline file atomically (a half-written file never replaces a good one) from
    one snapshot, streamed. Returns the number of patients written; KeyError if `mrn` is unknown
    (nothing written)."""
    with db.read() as session:
        only: list[int] | None = None
        if mrn:
            only = repo.patient_ids_in_mrn_order(session, mrns=[mrn])
            if not only:
                raise KeyError(tr("No patient with MRN {mrn}").format(mrn=mrn))
        with atomic_text_file(Path(path)) as fh:
            return write_timeline_stream(session, fh, only, progress)


def document_ends() -> tuple[str, str]:
    """The text before and after the patients' list items, as json writes the whole document:
    the header and closing come from json itself."""
    document = timeline_to_json([])
    document["patients"] = _PATIENTS_PLACEHOLDER
    head, tail = json.dumps(document, ensure_ascii=False, indent=1).split(
        json.dumps(_PATIENTS_PLACEHOLDER, ensure_ascii=False))
    return head, tail + "\n"


def write_timeline_document(fh: IO[str], patients: Iterable[dict[str, Any]]) -> None:
    """Write the document `timeline_to_json` would build around `patients` (dictionaries), one
    patient at a time, byte for byte what `write_json_atomically` writes for the whole document."""
    _write_items(fh, ("\n  " + json_indented(patient, "  ") for patient in patients))


def _write_items(fh: IO[str], patients: Iterable[str]) -> int:
    head, tail = document_ends()
    fh.write(head)
    separator, count = "[", 0
    for text in patients:
        fh.write(separator + text)
        separator = ","
        count += 1
    fh.write("[]" if separator == "[" else "\n ]")
    fh.write(tail)
    return count


def json_indented(value: Any, pad: str = "") -> str:
    """`json.dumps(value, ensure_ascii=False, indent=1)` for a value nested at `pad`, three to
    four times faster: with an indent, json runs its pure-Python encoder, one generator per
    level. Scalars use json's own C string encoder and float repr; anything unusual (a non-string
    key, another type) goes to json itself."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int or type(value) is float and math.isfinite(value):
        return repr(value)
    inner = pad + " "
    if type(value) is dict and all(type(k) is str for k in value):
        if not value:
            return "{}"
        return "{\n" + ",\n".join(f"{inner}{encode_basestring(k)}: {json_indented(v, inner)}" for k, v in value.items()) \
            + "\n" + pad + "}"
    if type(value) is list or type(value) is tuple:
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + json_indented(v, inner) for v in value) + "\n" + pad + "]"
    # JSON strings hold no raw newline, so re-indenting json's own lines is exact.
    return json.dumps(value, ensure_ascii=False, indent=1).replace("\n", "\n" + pad)


# --- the rows ------------------------------------------------------------------------------------

P, V, O, F, X, T, E = (m.__table__ for m in (Patient, Visit, Observation, FeatureStatus, Exam, Treatment, Event))


def _live(table: Table, alias: str) -> str:
    """The condition for a table's current rows (as `timelines.load_timelines` reads them)."""
    for column in ("superseded_at", "deleted_at"):
        if column in table.c:
            return f" AND {alias}.{column} IS NULL"
    return ""


def _queries(only: list[int] | None) -> dict[str, str]:
    """One query per table, each in the patients' MRN order and then the order `load_timelines`
    gives the patient's rows. `p CROSS JOIN child WHERE ...` is an inner join in SQL; SQLite
    also takes it as the order of the loops: the patients by the MRN index, their rows by their
    foreign-key indexes, so nothing is sorted whole (a plain JOIN made SQLite sort every value)."""
    who = f" AND p.id IN ({', '.join(str(int(i)) for i in only)})" if only is not None else ""
    visits = "patient p CROSS JOIN visit v"
    on_visit = f"v.patient_id = p.id{who}"
    return {
        "patients": f"SELECT p.id, p.mrn, p.name, p.sex, p.birth_date, p.diagnosis_date FROM patient p"
                    f" WHERE 1 = 1{who} ORDER BY p.mrn",
        "visits": f"SELECT v.patient_id, v.id, v.date, v.note FROM {visits} WHERE {on_visit} ORDER BY p.mrn, v.date",
        "observations": "SELECT o.visit_id, o.code, o.value_num, o.value_text, o.entered_num, o.entered_unit,"
                        " o.specimen, o.lab, o.method, o.qualifier, o.derived"
                        f" FROM {visits} CROSS JOIN observation o WHERE {on_visit} AND o.visit_id = v.id{_live(O, 'o')}"
                        " ORDER BY p.mrn, v.date, o.id",
        "features": f"SELECT f.visit_id, f.code, f.status FROM {visits} CROSS JOIN feature_status f"
                    f" WHERE {on_visit} AND f.visit_id = v.id{_live(F, 'f')} ORDER BY p.mrn, v.date, f.code",
        "exams": f"SELECT x.visit_id, x.kind, x.result, x.note FROM {visits} CROSS JOIN exam x"
                 f" WHERE {on_visit} AND x.visit_id = v.id{_live(X, 'x')} ORDER BY p.mrn, v.date, x.id",
        "treatments": "SELECT t.patient_id, t.regimen, t.start, t.stop, t.thromboprophylaxis, t.name,"
                      " t.engraftment_date, t.melphalan_mg, t.note FROM patient p CROSS JOIN treatment t"
                      f" WHERE t.patient_id = p.id{who}{_live(T, 't')} ORDER BY p.mrn, t.start, t.id",
        "events": "SELECT e.patient_id, e.type, e.date, e.note FROM patient p CROSS JOIN event e"
                  f" WHERE e.patient_id = p.id{who}{_live(E, 'e')} ORDER BY p.mrn, e.date, e.id",
    }


def _driver_rows(session: Session, sql: str) -> Iterator[tuple]:
    """The rows of `sql` as the driver gives them, FETCH_ROWS at a time (a server-side cursor on
    PostgreSQL, so that the server does not send the whole table at once)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        cursor = connection.exec_driver_sql(sql).cursor  # SQLAlchemy has buffered none of its rows
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows
        return
    # A server-side cursor's first rows are already in SQLAlchemy's buffer: read through the result.
    result = connection.execution_options(stream_results=True, yield_per=FETCH_ROWS).exec_driver_sql(sql)
    for rows in result.partitions():
        yield from rows


class _Groups:
    """The rows of an ordered stream, handed out a key (a patient or a visit) at a time, in the
    order of the stream: every stream is in MRN order, so the groups line up."""

    def __init__(self, rows: Iterator[tuple]):
        self._groups = groupby(rows, itemgetter(0))
        self._advance()

    def _advance(self) -> None:
        self.key, self._rows = next(self._groups, (None, ()))

    def take(self, key: int) -> list[tuple]:
        if self.key != key:
            return []
        rows = list(self._rows)
        self._advance()
        return rows

    def exhausted(self) -> bool:
        return self.key is None


def write_timeline_stream(session: Session, fh: IO[str], only: list[int] | None = None,
                          progress: Progress | None = None) -> int:
    """Write the timeline document of every patient (or of the ids in `only`) to `fh`; returns
    the number of patients written."""
    queries = _queries(only)
    total = len(only) if only is not None else session.connection().exec_driver_sql(
        "SELECT count(*) FROM patient").scalar_one()
    patients = _driver_rows(session, queries["patients"])
    streams = {name: _Groups(_driver_rows(session, sql)) for name, sql in queries.items() if name != "patients"}
    visits, treatments, events = streams["visits"], streams["treatments"], streams["events"]
    observations, features, exams = streams["observations"], streams["features"], streams["exams"]

    def texts() -> Iterator[str]:
        done = 0
        for patient_id, mrn, name, sex, birth, diagnosis in patients:
            visit_texts = [
                _visit(day, note, observations.take(visit_id), features.take(visit_id), exams.take(visit_id))
                for _, visit_id, day, note in visits.take(patient_id)
            ]
            yield _patient(mrn, name, sex, birth, diagnosis, visit_texts,
                           [_treatment(row) for row in treatments.take(patient_id)],
                           [_event(row) for row in events.take(patient_id)])
            done += 1
            if progress and (done % PROGRESS_EVERY == 0 or done == total):
                progress(tr("Exporting"), done, total)
        unread = [name for name, stream in streams.items() if not stream.exhausted()]
        if unread:  # a row whose patient or visit came out of order would otherwise be left out
            raise RuntimeError(f"timeline export: rows of {', '.join(unread)} were not in the patients' order")

    return _write_items(fh, texts())


# --- the text of each part, at its depth in the document (json's indent of 1 per level) ------------

def _text(value: Any) -> str:
    return encode_basestring(value) if type(value) is str else json_indented(value)


def _day(value: Any) -> str:
    """A date column: SQLite's rows hold its ISO text, other drivers a date."""
    if value is None:
        return "null"
    return encode_basestring(value if type(value) is str else value.isoformat())


def _number(value: Any) -> str:
    """What `timeline_json._number` then json make of a stored number: whole floats as integers."""
    if type(value) is float:
        if value.is_integer():
            return repr(int(value))
        if math.isfinite(value):
            return repr(value)
    return json_indented(value)


def _items(texts: list[str], pad: str) -> str:
    """A list of already written items nested at `pad`."""
    if not texts:
        return "[]"
    inner = ",\n" + pad + " "
    return "[\n" + pad + " " + inner.join(texts) + "\n" + pad + "]"


def _patient(mrn: Any, name: Any, sex: Any, birth: Any, diagnosis: Any, visits: list[str], treatments: list[str],
             events: list[str]) -> str:
    text = (f'\n  {{\n   "mrn": {_text(mrn)},\n   "name": {_text(name)},\n   "sex": {_text(sex)},'
            f'\n   "birth_date": {_day(birth) if birth else "null"}')
    if diagnosis:
        text += f',\n   "diagnosis_date": {_day(diagnosis)}'
    return (text + f',\n   "visits": {_items(visits, "   ")},\n   "treatments": {_items(treatments, "   ")}'
            f',\n   "events": {_items(events, "   ")}\n  }}')


def _visit(day: Any, note: Any, observations: list[tuple], features: list[tuple], exams: list[tuple]) -> str:
    text = '{\n     "date": ' + _day(day)
    values = [_observation(row) for row in observations if row[10] != 1]  # derived values are not exported
    if values:
        text += ',\n     "observations": ' + _items(values, "     ")
    if features:
        statuses = {code: status for _, code, status in features}
        text += ',\n     "features": {\n' + ",\n".join(
            f"      {_text(code)}: {_text(status)}" for code, status in statuses.items()) + "\n     }"
    if exams:
        text += ',\n     "exams": ' + _items([_exam(row) for row in exams], "     ")
    if note:
        text += ',\n     "note": ' + _text(note)
    return text + "\n    }"


def _observation(row: tuple) -> str:
    """A value as it was entered (`timeline_json.observation_to_json`): the original value and unit."""
    _, code, value_num, value_text, entered_num, entered_unit, specimen, lab, method, qualifier, _derived = row
    if value_text is not None:
        value = _text(value_text)
    else:
        value = _number(entered_num if entered_num is not None else value_num)
    text = '{\n       "code": ' + _text(code) + ',\n       "value": ' + value
    if entered_unit is not None:
        text += ',\n       "unit": ' + _text(entered_unit)
    if specimen:
        text += ',\n       "specimen": ' + _text(specimen)
    if lab:
        text += ',\n       "lab": ' + _text(lab)
    if method:
        text += ',\n       "method": ' + _text(method)
    if qualifier:
        text += ',\n       "qualifier": ' + _text(qualifier)
    return text + "\n      }"


def _exam(row: tuple) -> str:
    _, kind, result, note = row
    text = '{\n       "kind": ' + _text(kind) + ',\n       "result": ' + _text(result)
    if note:
        text += ',\n       "note": ' + _text(note)
    return text + "\n      }"


def _treatment(row: tuple) -> str:
    _, regimen, start, stop, prophylaxis, name, engraftment, melphalan, note = row
    text = '{\n     "regimen": ' + _text(regimen) + ',\n     "start": ' + _day(start)
    if stop:
        text += ',\n     "stop": ' + _day(stop)
    if prophylaxis:
        text += ',\n     "thromboprophylaxis": ' + _text(prophylaxis)
    if name:
        text += ',\n     "name": ' + _text(name)
    if engraftment:
        text += ',\n     "engraftment_date": ' + _day(engraftment)
    if melphalan is not None:
        text += ',\n     "melphalan_mg": ' + _number(melphalan)
    if note:
        text += ',\n     "note": ' + _text(note)
    return text + "\n    }"


def _event(row: tuple) -> str:
    _, kind, day, note = row
    return '{\n     "type": ' + _text(kind) + ',\n     "date": ' + _day(day) + ',\n     "note": ' + _text(note) + "\n    }"


__all__ = ["FETCH_ROWS", "document_ends", "export_timeline_file", "json_indented", "write_timeline_document",
           "write_timeline_stream"]
