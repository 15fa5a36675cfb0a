"""The record's seal: digests of every row of the record, chained into the audit trail.

Owns what "the record" is for tamper evidence (patients, visits, values, features, exams,
treatments, events, acknowledgements and waivers per patient; accounts; clinic settings such as
the protocol), the canonical form of a row, the digest of a scope (one patient, the accounts, the
settings), and the comparisons. At the end of every audited transaction (`services.audit`):
first the committed state of the scopes it touched is compared with the digests the chain holds
(`changed_since_sealed`: a change made outside the app is named in the new entry, never sealed
over silently); then the scopes are re-read with the transaction's changes, their digests go into
the transaction's entries (so the chain covers them), and the `record_seal` fingerprints of their
rows are brought up to date (3 hex digits per field, so that a difference can be named down to
the field; detection never rests on them, only naming). `verify` is what `check` runs. Derived
data (the rules cache) is not part of the record; `services.integrity` verifies it separately.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from zlib import crc32

from sqlalchemy import Boolean, Date, DateTime, String, Table, and_, bindparam, delete, func, inspect, select, type_coerce
from sqlmodel import Session

from poems_monitor.models import (
    ClinicSetting, Event, Exam, FeatureStatus, FlagReview, FollowupWaiver, Observation, Patient, RecordSeal,
    Treatment, User, Visit,
)
from poems_monitor.persistence import bulk_insert
from poems_monitor.persistence.repositories import audit as audit_trail

RS = RecordSeal.__table__
P, V = Patient.__table__, Visit.__table__
# Tables of one patient's record with the column that names the patient (None: via the visit).
PATIENT_TABLES: tuple[tuple[Table, str | None], ...] = (
    (P, "id"), (V, "patient_id"), (Observation.__table__, None), (FeatureStatus.__table__, None),
    (Exam.__table__, None), (Treatment.__table__, "patient_id"), (Event.__table__, "patient_id"),
    (FlagReview.__table__, "patient_id"), (FollowupWaiver.__table__, "patient_id"),
)
ACCOUNTS, SETTINGS = "accounts", "settings"
FOUND = "found"  # in an audit entry's seal: changes made outside the app, found when it was written
USERS, CS = User.__table__, ClinicSetting.__table__
# Settings that move with every write (the chain head itself) are guarded by the chain, not sealed.
UNSEALED_SETTINGS = ("audit.head",)
_CHUNK = 500


def patient_scope(patient_id: int) -> str:
    return f"patient:{patient_id}"


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # SQLite hands back naive datetimes: they were stored as UTC
            value = value.replace(tzinfo=timezone.utc)
        elif value.utcoffset():
            value = value.astimezone(timezone.utc)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


_HEX3 = tuple(f"{i:03x}" for i in range(4096))  # a field fingerprint's 3 hex digits, formatted once


def canonical(row: Any, table: Table) -> tuple[str, str]:
    """The row's columns as canonical JSON, without NULLs and defaults (a column added later as
    NULL or with a default changes nothing), and its field fingerprints. `row`: the table's
    columns in their declared order. (Run once per row of every sealed scope, and of every row a
    bulk import writes: kept tight. The JSON is what `_ENCODER.encode` writes for the dict of
    the kept columns, each scalar encoded as json encodes it, the keys in sorted order; a test
    compares both.)"""
    plan = _READ_ROWS.get(table.name)
    if plan is None:
        plan = _READ_ROWS[table.name] = tuple((i, None) for i in range(len(table.columns)))
    return _row_sealer(table, plan)(row)


_READ_ROWS: dict[str, tuple[tuple[int, None], ...]] = {}  # the sealer's plan of a row as read: every column in place


_encode_str = encode_basestring  # json's C string encoder (ensure_ascii=False)
_INFINITY = float("inf")


def _float_text(value: float) -> str:
    """A float as json writes it (NaN and infinities as JavaScript names them)."""
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _other_text(value: Any) -> tuple[str, str]:
    """`canonical`'s text of a value that is not str, int or a finite float, and its text fingerprinted."""
    if type(value) is bool:
        return ("true" if value else "false"), str(value)
    if type(value) is float:
        return _float_text(value), str(value)
    value = _norm(value)
    return _ENCODER.encode(value), str(value)


_MEMO_SIZE = 4096  # texts remembered per column (a batch repeats its time, user, codes and units)


def _text_memo(memo: dict[str, tuple[str, str]], value: str, key: str, code: str) -> tuple[str, str]:
    """The '"name":text' and field fingerprint of a str `value`, remembered in `memo`."""
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    found = memo[value] = (key + _encode_str(value), code + _HEX3[crc32(value.encode()) & 0xFFF])
    return found


def _float_memo(memo: dict[float, tuple[str, str]], value: float, key: str, code: str) -> tuple[str, str]:
    """As `_text_memo`, for a float (-0.0 and NaN never reach here: a read makes them 0.0 and NULL)."""
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    text, printed = (float.__repr__(value),) * 2 if -_INFINITY < value < _INFINITY else _other_text(value)
    found = memo[value] = (key + text, code + _HEX3[crc32(printed.encode()) & 0xFFF])
    return found


_SEALERS: dict[tuple, Any] = {}


def _row_sealer(table: Table, read_plan: tuple[tuple[int | None, str | None], ...],  # noqa: ANN202
                fingerprints: bool = True):
    """The function giving `canonical` of a row, from a row whose value of each column of the table
    sits where `read_plan` says (`bulk_insert.WrittenRows`: a parameter row as an insert bound it,
    converted as a read would), without building the row as read. Without `fingerprints`: the
    content and None (the lab import's sealing hashes most rows without writing their
    fingerprints). `canonical`'s steps are written out per column, once per table and plan, and
    a str's text and fingerprint are remembered (a bulk import runs this once per stored row: the
    generic loop over the columns, with the read-back tuple, was a quarter of the import's time).
    Tests compare it with json's output."""
    found = _SEALERS.get((table.name, read_plan, fingerprints))
    if found is not None:
        return found
    columns, in_key_order = _canonical_plan(table)
    key_of = dict(in_key_order)
    names: dict[str, Any] = {"frepr": float.__repr__, "irepr": int.__repr__, "other": _other_text, "crc": crc32,
                             "H": _HEX3, "memo": _text_memo, "fmemo": _float_memo, "inf": _INFINITY, "bool": bool,
                             "float": float}
    body = ["def seal_row(r):", "    f = []"]
    for j, ((code, default), (at, kind)) in enumerate(zip(columns, read_plan)):
        if at is None:
            continue  # left out of the insert: NULL, which the canonical form leaves out
        names[f"m{j}"], names[f"k{j}"], names[f"c{j}"] = {}, key_of[j], code
        body.append(f"    v = r[{at}]")
        if kind == bulk_insert.BOOL:
            body.append("    if v is not None: v = bool(v)")
        elif kind == bulk_insert.REAL:
            body.append("    if v is not None:\n        v = float(v) + 0.0\n        if v != v: v = None")  # as_read
        skip = "v is None"
        if default is not _NO_DEFAULT:  # a NOT NULL column's default is left out, as a NULL is
            names[f"d{j}"], names[f"dt{j}"] = default, type(default)
            skip += f" or (v == d{j} and type(v) is dt{j})"
        if kind == bulk_insert.REAL:  # a float here: lab values repeat, so their text is remembered too
            body += [f"    if {skip}: t{j} = None",
                     "    else:",
                     f"        x = m{j}.get(v)",
                     f"        if x is None: x = fmemo(m{j}, v, k{j}, c{j})",
                     f"        t{j} = x[0]; f.append(x[1])"]
            continue
        body += [f"    if {skip}: t{j} = None",
                 "    elif type(v) is str:",
                 f"        x = m{j}.get(v)",
                 f"        if x is None: x = memo(m{j}, v, k{j}, c{j})",
                 f"        t{j} = x[0]; f.append(x[1])",
                 "    else:",
                 "        k = type(v)",
                 "        if k is float and -inf < v < inf: s = t = frepr(v)",
                 "        elif k is int: s = t = irepr(v)",
                 "        else: t, s = other(v)",
                 f"        t{j} = k{j} + t" + (f"; f.append(c{j} + H[crc(s.encode()) & 0xFFF])" if fingerprints else "")]
    body.append("    p = []")
    for j, _ in in_key_order:
        if read_plan[j][0] is not None:
            body.append(f"    if t{j} is not None: p.append(t{j})")
    body.append('    return "{" + ",".join(p) + "}", ' + ('"".join(f)' if fingerprints else "None"))
    exec("\n".join(body), names)  # noqa: S102 - generated from the table's own column names and codes
    found = _SEALERS[(table.name, read_plan, fingerprints)] = names["seal_row"]
    return found


_CANONICAL_PLANS: dict[str, tuple[tuple[tuple[str, Any], ...], tuple[tuple[int, str], ...]]] = {}


def _canonical_plan(table: Table) -> tuple[tuple[tuple[str, Any], ...], tuple[tuple[int, str], ...]]:
    """(code, default) of each column in declared order, and (position, '"name":') in key order."""
    found = _CANONICAL_PLANS.get(table.name)
    if found is None:
        columns = _columns_of(table)
        order = sorted(range(len(columns)), key=lambda i: columns[i][0])
        found = _CANONICAL_PLANS[table.name] = (tuple((code, default) for _, code, default in columns),
                                                tuple((i, _encode_str(columns[i][0]) + ":") for i in order))
    return found


_COLUMNS: dict[str, tuple[tuple[str, str, Any], ...]] = {}


def _columns_of(table: Table) -> tuple[tuple[str, str, Any], ...]:
    """(name, code, default of a NOT NULL column or _NO_DEFAULT) of each column, in order."""
    found = _COLUMNS.get(table.name)
    if found is None:
        names, _, codes, defaults = _shape(table)
        found = _COLUMNS[table.name] = tuple((n, codes[n], defaults.get(n, _NO_DEFAULT)) for n in names)
    return found


_SHAPES: dict[str, tuple[tuple[str, ...], tuple[int, ...], dict[str, str], dict[str, Any]]] = {}
_NO_DEFAULT = object()


def _name_code(name: str) -> str:
    return f"{crc32(name.encode()) & 0xFFF:03x}"


def _shape(table: Table) -> tuple[tuple[str, ...], tuple[int, ...], dict[str, str], dict[str, Any]]:
    """The table's column names in order, the positions of its primary key, each column's code,
    and the defaults of its NOT NULL columns (left out of the canonical form: a NOT NULL value is
    never absent, so leaving out its default still tells every value apart)."""
    shape = _SHAPES.get(table.name)
    if shape is None:
        names = tuple(c.name for c in table.columns)
        defaults = {c.name: c.default.arg for c in table.columns
                    if not c.nullable and c.default is not None and c.default.is_scalar}
        shape = _SHAPES[table.name] = (names, tuple(names.index(c.name) for c in table.primary_key.columns),
                                       {n: _name_code(n) for n in names}, defaults)
    return shape


def _fields_of(fingerprint: str) -> dict[str, str]:
    return {fingerprint[i:i + 3]: fingerprint[i + 3:i + 6] for i in range(0, len(fingerprint), 6)}


def _row_key(table: Table, row: Any) -> str:
    keys = _shape(table)[1]
    return str(row[keys[0]]) if len(keys) == 1 else ",".join(str(row[i]) for i in keys)


def _line(tbl: str, row_id: str, content: str) -> bytes:
    return hashlib.sha256(f"{tbl}\x00{row_id}\x00{content}".encode()).digest()


def digest_of(rows: Iterable[tuple[str, str, str]]) -> str:
    """The digest of a scope: SHA-256 over its rows' hashes in (table, row) order."""
    h = hashlib.sha256()
    for tbl, row_id, content in sorted(rows, key=lambda r: (r[0], _sort_key(r[1]))):
        h.update(_line(tbl, row_id, content))
    return h.hexdigest()


def _sort_key(row_id: str) -> tuple:
    return (0, int(row_id), "") if row_id.isdigit() else (1, 0, row_id)


# ---------------------------------------------------------------------------------------------
# Reading the record, per scope
# ---------------------------------------------------------------------------------------------

def _in(column, ids: list[Any] | None):  # noqa: ANN001, ANN202 (ids, or scope names)
    return [None] if ids is None else [column.in_(ids[i:i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


def record_rows(session: Session, patient_ids: list[int] | None = None, *, global_scopes: bool = True
                ) -> Iterator[tuple[str, str, str, str, str]]:
    """(scope, table, row id, canonical content, field fingerprints) of the record: of these
    patients (None: all), and of the accounts and settings when `global_scopes`."""
    dialect = session.connection().dialect.name
    for table, via in PATIENT_TABLES:
        query, column = _base_query(table, via, dialect)
        name, width = str(table.name), len(table.columns)  # a plain str: see SealAsWritten.__call__
        for condition in _in(column, patient_ids):
            q = query if condition is None else query.where(condition)
            for row in session.execute(q):
                yield (f"patient:{row[width]}", name, _row_key(table, row), *canonical(row[:width], table))
    if global_scopes:
        yield from _global_rows(session)


_QUERIES: dict[tuple[str, bool], tuple] = {}


def _base_query(table: Table, via: str | None, dialect: str) -> tuple:
    """The select of a patient table's rows with their patient id, and the patient id column
    (built once: building a select of twenty columns costs more than running it for one patient)."""
    key = (table.name, dialect)
    found = _QUERIES.get(key)
    if found is None:
        columns = _stored_form(table, dialect)
        if via is None:
            found = (select(*columns, V.c.patient_id).join(V, V.c.id == table.c.visit_id), V.c.patient_id)
        else:
            found = (select(*columns, table.c[via]), table.c[via])
        _QUERIES[key] = found
    return found


def _stored_form(table: Table, dialect: str) -> list:
    """The table's columns, dates and times as SQLite stores them (text): parsing them into
    Python objects only to print them again is most of the sealing time of a bulk import. The
    canonical form is then SQLite's own, the same whenever the same database is sealed or checked;
    a server renders its dates and times (in UTC) in the same text, so that a record moved from a
    file to a server (`migrate --to`) keeps its seal."""
    if dialect == "sqlite":
        return [type_coerce(c, String) if isinstance(c.type, (Date, DateTime)) else c for c in table.columns]
    if dialect != "postgresql":
        return list(table.columns)
    columns = []
    for c in table.columns:
        if isinstance(c.type, DateTime):
            instant = func.timezone("UTC", c) if c.type.timezone else c
            columns.append(func.to_char(instant, "YYYY-MM-DD HH24:MI:SS.US").label(c.name))
        elif isinstance(c.type, Date):
            columns.append(func.to_char(c, "YYYY-MM-DD").label(c.name))
        else:
            columns.append(c)
    return columns


def has_seal_tables(session: Session) -> bool:
    """Whether the database's schema has the seal (revision 0007 or later)."""
    conn = session.connection()
    return inspect(conn).has_table(RS.name)


# ---------------------------------------------------------------------------------------------
# Sealing, at the end of an audited transaction
# ---------------------------------------------------------------------------------------------

# Patients sealed per round (read, compared, fingerprinted, then dropped): bounds the rows held in
# memory whatever the number of patients a transaction touched (a bulk import touches them all).
# 50 demo patients hold about 21,000 rows: a lab import touching 1,800 patients peaked at 109 MB
# with 50 per round, 182 MB with 200, and took no longer.
SEAL_BATCH = 50


class SealAsWritten:
    """The seal of the patients a bulk write creates, made from the rows as it writes them (the
    `stored` callable of `bulk_insert.insert_rows`) instead of reading them back at the
    commit: the same canonical form and digest (a test compares both after an import), the
    fingerprints written a batch at a time, the digests kept until `seal` puts them in the chain.

    Only for patients the transaction creates and writes whole between `__init__`/`close_batch`
    and the next `close_batch`, and changes no more afterwards (the import's new patients): a
    later change in the same transaction would make the digest wrong, and `check` would then
    report the record as changed (never the reverse: nothing tampered can pass for sealed). When
    an insert cannot tell its rows as stored (another database, a column filled by a default),
    the batch is left to `seal`, which reads it back as before."""

    def __init__(self, session: Session):
        self.session = session
        self.enabled = session.connection().dialect.name == "sqlite" and has_seal_tables(session)
        self._start()

    def _start(self) -> None:
        self.lines: dict[int, list[tuple[str, tuple, bytes]]] = {}  # per patient: (table, sort key, line hash)
        self.fingerprints: list[tuple[str, str, str, str]] = []
        self.visit_patient: dict[int, int] = {}
        self.scopes: dict[int, str] = {}
        self.complete = self.enabled

    def __call__(self, table: Table, written: bulk_insert.WrittenRows | None) -> None:
        if not self.complete:
            return
        if written is None:
            self.complete = False
            return
        # A plain str, not SQLAlchemy's quoted_name: the driver binds a str subclass through its
        # adaptation protocol (a failed __conform__ lookup per row), 4x the time of a str, and
        # this name goes into every fingerprint row of the import.
        name = str(table.name)
        via = _PATIENT_COLUMN.get(name)
        plan = written.read_plan
        at = plan[_position(table, via or "visit_id")][0]
        keys = _shape(table)[1]
        id_at = plan[keys[0]][0] if len(keys) == 1 else None
        if at is None or id_at is None:  # not the shape of a record table: read back at the commit
            self.complete = False
            return
        seal_row = _row_sealer(table, plan)
        is_visit = name == V.name
        visit_patient, lines, fingerprints, scopes = self.visit_patient, self.lines, self.fingerprints, self.scopes
        prefix, sha256 = f"{name}\x00", hashlib.sha256
        for row in written.params:
            content, fields = seal_row(row)
            key = row[id_at]
            row_id = str(key)
            pid = row[at] if via is not None else visit_patient[row[at]]
            if is_visit:
                visit_patient[key] = pid
            scope = scopes.get(pid)
            if scope is None:
                scope = scopes[pid] = patient_scope(pid)
                lines[pid] = []
            lines[pid].append((name, (0, key, "") if type(key) is int and key >= 0 else _sort_key(row_id),
                               sha256(f"{prefix}{row_id}\x00{content}".encode()).digest()))  # what digest_of hashes
            fingerprints.append((scope, name, row_id, fields))

    def close_batch(self, patient_ids: Iterable[int]) -> None:
        """These patients are written whole: write their fingerprints and keep their digests."""
        if self.complete:
            digests = {}
            for pid in patient_ids:
                h = hashlib.sha256()
                for _, _, line in sorted(self.lines.get(pid, ()), key=lambda t: (t[0], t[1])):
                    h.update(line)
                digests[patient_scope(pid)] = h.hexdigest()
            names = sorted(digests)
            for i in range(0, len(names), _CHUNK):
                self.session.execute(delete(RS).where(RS.c.scope.in_(names[i:i + _CHUNK])))
            self.fingerprints.sort()  # the seal table's own key order: a b-tree filled in order
            _insert_copies(self.session, self.fingerprints)
            self.session.info.setdefault(_AS_WRITTEN, {}).update(digests)
        self._start()


_AS_WRITTEN = "record_seal.as_written"  # session.info: digests of the scopes a SealAsWritten sealed
_PATIENT_COLUMN = {table.name: via for table, via in PATIENT_TABLES}


def _position(table: Table, column: str) -> int:
    return [c.name for c in table.columns].index(column)


def seal(session: Session, patient_ids: Iterable[int], *, everything: bool = False) -> dict[str, str]:
    """Bring the fingerprints of the touched scopes up to date and return their digests.

    `everything`: every patient (the first seal of a database, or of one written by an older version)."""
    ids = _patients_in_record(session) if everything else sorted({int(p) for p in patient_ids if p is not None})
    as_written = session.info.pop(_AS_WRITTEN, {})
    digests = {scope: as_written[scope] for scope in map(patient_scope, ids) if scope in as_written}
    ids = [p for p in ids if patient_scope(p) not in digests]  # the others are read back
    for i in range(0, len(ids), SEAL_BATCH):
        chunk = ids[i:i + SEAL_BATCH]
        digests.update(_seal_scopes(session, record_rows(session, chunk, global_scopes=False),
                                    {patient_scope(p) for p in chunk}))
    digests.update(_seal_scopes(session, _global_rows(session), {ACCOUNTS, SETTINGS}))
    return dict(sorted(digests.items()))


def _patients_in_record(session: Session) -> list[int]:
    """Every patient id the record's tables name (also one whose patient row is gone)."""
    ids: set[int] = set()
    for table, via in PATIENT_TABLES:
        if via is not None:
            ids.update(session.execute(select(table.c[via]).distinct()).scalars())
    return sorted(ids)


def _seal_scopes(session: Session, rows: Iterable[tuple[str, str, str, str, str]], scopes: set[str]) -> dict[str, str]:
    """Seal `scopes` from their current `rows`: replace the fingerprints that changed, return the digests."""
    current: dict[str, dict[tuple[str, str], tuple[str, str]]] = {}
    for scope, tbl, row_id, content, fields in rows:
        current.setdefault(scope, {})[(tbl, row_id)] = (content, fields)
    scope_list = sorted(scopes | set(current))
    sealed: dict[str, dict[tuple[str, str], str]] = {}
    for i in range(0, len(scope_list), _CHUNK):
        for scope, tbl, row_id, fields in session.execute(
                select(RS.c.scope, RS.c.tbl, RS.c.row_id, RS.c.fields).where(RS.c.scope.in_(scope_list[i:i + _CHUNK]))):
            sealed.setdefault(scope, {})[(tbl, row_id)] = fields
    gone, fresh = [], []
    for scope in scope_list:
        now, before = current.get(scope, {}), sealed.get(scope, {})
        for key, fields in before.items():
            if key not in now or now[key][1] != fields:
                gone.append({"s": scope, "t": key[0], "r": key[1]})
        for key, (_, fields) in now.items():
            if before.get(key) != fields:
                fresh.append((scope, key[0], key[1], fields))
    if gone:
        session.execute(delete(RS).where(and_(RS.c.scope == bindparam("s"), RS.c.tbl == bindparam("t"),
                                              RS.c.row_id == bindparam("r"))), gone)
    if fresh:
        _insert_copies(session, fresh)
    return {scope: digest_of((t, r, c) for (t, r), (c, _) in current.get(scope, {}).items()) for scope in scope_list}


def _insert_copies(session: Session, rows: list[tuple[str, str, str, str]]) -> None:
    """Insert fingerprints; on SQLite straight through the driver (a bulk import writes one per
    value, and SQLAlchemy's per-row parameter handling would double the import's time); on a
    server with COPY (one round trip instead of one per row: the largest part of an import there)."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO record_seal (scope, tbl, row_id, fields) VALUES (?, ?, ?, ?)", rows)
    else:
        bulk_insert.insert_rows(conn, RS, [dict(scope=s, tbl=t, row_id=r, fields=f) for s, t, r, f in rows])


def _global_rows(session: Session) -> Iterator[tuple[str, str, str, str, str]]:
    for row in session.execute(select(USERS)):
        yield (ACCOUNTS, str(USERS.name), _row_key(USERS, row), *canonical(row, USERS))
    for row in session.execute(select(CS).where(CS.c.key.not_in(UNSEALED_SETTINGS))):
        yield (SETTINGS, str(CS.name), _row_key(CS, row), *canonical(row, CS))


def _last_sealed(session: Session, scope: str) -> SealedScope | None:
    """The digest the chain holds for `scope`, and the entry that holds it."""
    if scope.startswith("patient:"):
        found = audit_trail.newest_sealed_entry(session, patient_id=int(scope[8:]))
        if found is None or scope not in json.loads(found.state):  # sealed whole at the first seal
            found = audit_trail.newest_sealed_entry(session, mentioning=f'"{scope}"')
    else:
        found = audit_trail.newest_sealed_entry(session)
    if found is None:
        return None
    digest = json.loads(found.state).get(scope)
    return SealedScope(digest, found.id) if digest is not None else None


def _last_sealed_of_patients(session: Session, patient_ids: list[int]) -> dict[int, SealedScope | None]:
    """`_last_sealed` of these patients' scopes, with one query for them all (then `_last_sealed`
    for one whose newest sealed entry does not hold its digest: sealed whole at a first seal)."""
    newest = audit_trail.newest_sealed_entries(session, patient_ids)
    out: dict[int, SealedScope | None] = {}
    for pid in patient_ids:
        scope, found = patient_scope(pid), newest.get(pid)
        state = json.loads(found.state) if found is not None else {}
        if scope not in state:
            out[pid] = _last_sealed(session, scope)
        else:
            digest = state[scope]
            out[pid] = SealedScope(digest, found.id) if digest is not None else None
    return out


def changed_since_sealed(session: Session, patient_ids: Iterable[int]) -> list[str]:
    """Sentences naming what changed outside the app in the committed record of these patients,
    the accounts and the settings since the chain sealed them. Reads the committed state on a
    connection of its own (the caller's transaction already holds its own changes), SEAL_BATCH
    patients at a time."""
    ids = sorted({int(p) for p in patient_ids})
    out: list[str] = []
    with session.get_bind().engine.connect() as conn, Session(bind=conn) as reader:
        global_rows = list(_global_rows(reader))
        out.extend(_changes(session, global_rows, [ACCOUNTS]))
        for i in range(0, len(ids), SEAL_BATCH):
            chunk = ids[i:i + SEAL_BATCH]
            out.extend(_changes(session, record_rows(reader, chunk, global_scopes=False), [patient_scope(p) for p in chunk]))
        out.extend(_changes(session, global_rows, [SETTINGS]))
    return out


def _changes(session: Session, rows: Iterable[tuple[str, str, str, str, str]], scopes: list[str]) -> list[str]:
    """`changed_since_sealed` for `scopes` (in this order), from their committed `rows`."""
    committed: dict[str, list[tuple[str, str, str, str]]] = {}
    wanted = set(scopes)
    for scope, tbl, row_id, content, fields in rows:
        if scope in wanted:
            committed.setdefault(scope, []).append((tbl, row_id, content, fields))
    out = []
    for scope in scopes:
        rows_of = committed.get(scope, [])
        if not rows_of:  # a patient this transaction creates
            continue
        seal_of = _last_sealed(session, scope)
        if seal_of is None or digest_of((t, r, c) for t, r, c, _ in rows_of) == seal_of.digest:
            continue
        copies = {(t, r): f for t, r, f in session.execute(
            select(RS.c.tbl, RS.c.row_id, RS.c.fields).where(RS.c.scope == scope))}
        out.extend(_name_differences(scope, rows_of, copies, seal_of.entry_id) or [
            f"the record of {_describe_scope(scope)} differed from what audit entry {seal_of.entry_id} sealed"])
    return out


# ---------------------------------------------------------------------------------------------
# Verifying, for `check`
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SealedScope:
    digest: str
    entry_id: int  # the audit entry that sealed it last


def _describe_scope(scope: str) -> str:
    return scope.replace("patient:", "patient ")


VERIFY_BATCH = 100  # patients read and compared at a time: memory stays bounded whatever the clinic's size


def verify(session: Session, sealed: dict[str, SealedScope], limit: int = 50,
           progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Sentences naming every row and field of the record that differs from its seal: edited,
    deleted or inserted outside poems-monitor after the audit entry that sealed it last.

    Read VERIFY_BATCH patients at a time (the whole record of a 10,000-patient clinic held at once
    took 4.6 GB); `progress(done, total)` after each batch, in patients."""
    found: list[tuple[tuple, list[str]]] = []  # (scope order, its sentences), for scopes that differ
    of_patients = {scope: pid for scope in sealed if (pid := _patient_of(scope)) is not None}
    patient_ids = sorted(set(_patients_in_record(session)) | set(of_patients.values()))
    for start in range(0, len(patient_ids), VERIFY_BATCH):
        batch = patient_ids[start:start + VERIFY_BATCH]
        in_batch = {patient_scope(pid) for pid in batch}
        found.extend(_verify_scopes(session, sealed, record_rows(session, batch, global_scopes=False),
                                    in_batch & set(sealed)))
        if progress is not None:
            progress(start + len(batch), len(patient_ids))
    others = set(sealed) - set(of_patients)
    found.extend(_verify_scopes(session, sealed, _global_rows(session), others))
    problems = [sentence for _, sentences in sorted(found, key=lambda f: f[0]) for sentence in sentences]
    if len(problems) > limit:
        problems = problems[:limit] + [f"... and {len(problems) - limit} more differences"]
    return problems


def _verify_scopes(session: Session, sealed: dict[str, SealedScope], rows: Iterable[tuple[str, str, str, str, str]],
                   sealed_here: set[str]) -> list[tuple[tuple, list[str]]]:
    """The differences of the scopes of `rows` and of `sealed_here` (sealed, maybe without rows)."""
    current: dict[str, list[tuple[str, str, str, str]]] = {}
    for scope, tbl, row_id, content, fields in rows:
        current.setdefault(scope, []).append((tbl, row_id, content, fields))
    scopes = set(current) | sealed_here
    copies: dict[str, dict[tuple[str, str], str]] = {}
    for condition in _in(RS.c.scope, sorted(scopes)):
        for scope, tbl, row_id, fields in session.execute(select(RS.c.scope, RS.c.tbl, RS.c.row_id, RS.c.fields)
                                                          .where(condition)):
            copies.setdefault(scope, {})[(tbl, row_id)] = fields
    found = []
    for scope in scopes:
        rows_of = current.get(scope, [])
        seal_of = sealed.get(scope)
        where = _describe_scope(scope)
        if seal_of is None:
            named = [f"table {t}, row {r} ({where}) was added outside poems-monitor: "
                     "no audit entry covers it" for t, r, _, _ in sorted(rows_of)[:5]]
        else:
            named = _name_differences(scope, rows_of, copies.get(scope, {}), seal_of.entry_id)
            if digest_of((t, r, c) for t, r, c, _ in rows_of) == seal_of.digest:
                named = [f"the seal copy of {where} was altered outside poems-monitor "
                         f"(the record itself matches audit entry {seal_of.entry_id})"] if named else []
            elif not named:
                named = [f"the record of {where} differs from what audit entry {seal_of.entry_id} sealed, and its "
                         "field fingerprints agree with the record: the audit entries of later changes were "
                         "removed, or the fingerprints were rewritten too"]
        if named:
            found.append((_scope_order(scope), named))
    return found


def _patient_of(scope: str) -> int | None:
    """The patient id of a `patient_scope`, None for the accounts, the settings or anything else."""
    kind, _, number = scope.partition(":")
    return int(number) if kind == "patient" and number.isdigit() else None


def _scope_order(scope: str) -> tuple:
    kind, _, number = scope.partition(":")
    return (kind, int(number) if number.isdigit() else 0)


def _name_differences(scope: str, rows: list[tuple[str, str, str, str]], copies: dict[tuple[str, str], str],
                      entry_id: int) -> list[str]:
    now = {(t, r): f for t, r, _, f in rows}
    where, since = _describe_scope(scope), f"since audit entry {entry_id}"
    out = []
    for key in sorted(set(now) | set(copies), key=lambda k: (k[0], _sort_key(k[1]))):
        tbl, row_id = key
        if key not in now:
            out.append(f"table {tbl}, row {row_id} ({where}) was deleted outside poems-monitor {since}")
        elif key not in copies:
            out.append(f"table {tbl}, row {row_id} ({where}) was added outside poems-monitor {since}")
        elif now[key] != copies[key]:
            a, b = _fields_of(copies[key]), _fields_of(now[key])
            names = {code: name for name, code in _codes_of(tbl).items()}
            fields = sorted(names.get(code, f"a column coded {code}") for code in set(a) | set(b) if a.get(code) != b.get(code))
            out.append(f"table {tbl}, row {row_id} ({where}): {', '.join(fields)} changed outside poems-monitor {since}")
    return out


def _codes_of(tbl: str) -> dict[str, str]:
    tables = {t.name: t for t, _ in PATIENT_TABLES} | {USERS.name: USERS, CS.name: CS}
    return _shape(tables[tbl])[2] if tbl in tables else {}


# ---------------------------------------------------------------------------------------------
# Checking and sealing from one read, for a transaction that adds rows to stored records
# ---------------------------------------------------------------------------------------------

_CHECKED = "record_seal.checked"  # session.info: (patient ids checked by SealAdded, sentences it found)


class SealAdded:
    """The check and the seal of the patients a transaction adds rows to (the lab import), from
    one read of each record instead of two (the committed record on a connection of its own,
    then the record with the transaction's changes, as `changed_since_sealed` and `seal` do).

    The transaction only inserts rows (in the tables of `first_ids`, every id from that table's
    first id on is its own: it holds the write lock, SQLite's BEGIN IMMEDIATE, from before it
    took them) and updates rows it has shown to `before_update` first. The committed record is
    then exactly the record read in the transaction without those inserts and with the updated
    rows as they were: its digest is compared with the chain's and its differences named as
    `changed_since_sealed` does; the record as read is sealed as `seal` does (the digests wait in
    the session for the commit's `seal`, the sentences for the commit's check, which then reads
    only the other patients). Only on SQLite with the seal tables and after a first seal; anywhere
    else nothing is done here and the commit checks and seals as before."""

    def __init__(self, session: Session, first_ids: dict[str, int]):
        from poems_monitor.models import AuditEntry

        self.session = session
        self.first_ids = dict(first_ids)
        A = AuditEntry.__table__
        self.enabled = (session.connection().dialect.name == "sqlite" and has_seal_tables(session)
                        and session.execute(select(A.c.id).where(A.c.state.is_not(None)).limit(1)).first() is not None)
        self.before: dict[tuple[str, str], tuple[str, str]] = {}  # (table, row id): committed (content, fields)

    def before_update(self, table: Table, ids: Iterable[int]) -> None:
        """Keep the committed form of these rows of `table` (a patient table) before the
        transaction updates them; rows it inserted itself, or kept already, are left alone."""
        if not self.enabled:
            return
        first = self.first_ids.get(table.name)
        wanted = sorted({i for i in ids if (first is None or i < first) and (table.name, str(i)) not in self.before})
        query, _ = _base_query(table, _PATIENT_COLUMN[table.name], "sqlite")
        width = len(table.columns)
        key = list(table.primary_key.columns)[0]
        for condition in _in(key, wanted) if wanted else ():
            for row in self.session.execute(query.where(condition)):
                self.before[(table.name, _row_key(table, row))] = canonical(row[:width], table)

    def seal(self, patient_ids: Iterable[int], progress: Callable[[int, int], None] | None = None) -> None:
        """Check and seal these patients now: the transaction changes their records no more.

        Each row is read and hashed once, into both digests (the committed record's, the new
        one's). When the committed record matches the chain, only the fingerprints of the rows
        this transaction wrote are written (the others are those the chain's seal wrote; a copy
        altered meanwhile stays altered, for `check` to name); otherwise the patient is checked
        and sealed as `changed_since_sealed` and `seal` do, naming what changed. `progress` is
        told (patients sealed, patients) before each round: what it raises stops the work, and
        the caller's transaction then rolls back."""
        if not self.enabled:
            return
        ids = sorted({int(p) for p in patient_ids})
        session = self.session
        checked, found = session.info.setdefault(_CHECKED, (set(), []))
        digests = session.info.setdefault(_AS_WRITTEN, {})
        # The line each updated row had in the committed record (None for every other row: the
        # rows this transaction inserted have none, the others the line they have now).
        committed_line = {(tbl, int(row_id)): _line(tbl, row_id, content)
                          for (tbl, row_id), (content, _) in self.before.items()}
        sha256 = hashlib.sha256
        for i in range(0, len(ids), SEAL_BATCH):
            if progress is not None:
                progress(i, len(ids))
            chunk = ids[i:i + SEAL_BATCH]
            lines: dict[int, list[tuple[str, int, bytes, bytes | None, str | None]]] = {pid: [] for pid in chunk}
            odd: set[int] = set()  # a negative row id: digest_of orders it apart, left to the slow path
            for pid, tbl, key, content, fields in _rows_for_sealing(session, chunk, self.first_ids, committed_line):
                line = sha256(f"{tbl}\x00{key}\x00{content}".encode()).digest()  # what digest_of hashes
                if key < 0:
                    odd.add(pid)
                # (table, id) is digest_of's order for ids >= 0; no two rows share it
                lines[pid].append((tbl, key, line, line if fields is None else committed_line.get((tbl, key)), fields))
            sealed_of = _last_sealed_of_patients(session, chunk)
            written: list[tuple[str, str, str, str]] = []
            slow: list[str] = []
            for pid in chunk:
                scope = patient_scope(pid)
                rows_of = lines[pid]
                rows_of.sort()
                committed = [r[3] for r in rows_of if r[3] is not None]
                sealed = sealed_of[pid] if committed else None
                if pid in odd or sealed is None or sha256(b"".join(committed)).hexdigest() != sealed.digest:
                    slow.append(scope)
                    continue
                digests[scope] = sha256(b"".join([r[2] for r in rows_of])).hexdigest()
                written.extend((scope, tbl, str(key), fields) for tbl, key, _, _, fields in rows_of if fields is not None)
            if written:
                written.sort()
                session.connection().exec_driver_sql(
                    "INSERT OR REPLACE INTO record_seal (scope, tbl, row_id, fields) VALUES (?, ?, ?, ?)", written)
            if slow:  # a record changed outside the app (or never sealed): read again whole, named, sealed
                rows = list(record_rows(session, [int(scope[8:]) for scope in slow], global_scopes=False))
                found.extend(_changes(session, self._committed(rows), slow))
                digests.update(_seal_scopes(session, rows, set(slow)))
            checked.update(chunk)
        if progress is not None:
            progress(len(ids), len(ids))

    def _committed(self, rows: list[tuple[str, str, str, str, str]]) -> Iterator[tuple[str, str, str, str, str]]:
        first_ids, before = self.first_ids, self.before
        for scope, tbl, row_id, content, fields in rows:
            first = first_ids.get(tbl)
            if first is not None and int(row_id) >= first:
                continue  # inserted by this transaction
            kept = before.get((tbl, row_id))
            yield (scope, tbl, row_id, *kept) if kept is not None else (scope, tbl, row_id, content, fields)


def checked_in_transaction(session: Session) -> tuple[set[int], list[str]]:
    """The patients `SealAdded` has checked and sealed in this transaction (the commit's check
    leaves them out) and the sentences it found; taken once."""
    return session.info.pop(_CHECKED, (set(), []))


def canonical_content(row: Any, table: Table) -> str:
    """`canonical(row, table)[0]` without the field fingerprints: what `SealAdded` hashes for
    the rows it does not write fingerprints for (most of a touched record; a test compares both)."""
    columns, in_key_order = _canonical_plan(table)
    texts: list[str | None] = [None] * len(columns)
    for i, ((_code, default), value) in enumerate(zip(columns, row)):
        if value is None:
            continue
        if default is not _NO_DEFAULT and value == default and type(value) is type(default):
            continue
        kind = type(value)
        if kind is str:
            texts[i] = _encode_str(value)
        elif kind is int:
            texts[i] = int.__repr__(value)
        elif kind is float:
            texts[i] = _float_text(value)
        elif kind is bool:
            texts[i] = "true" if value else "false"
        else:
            texts[i] = _ENCODER.encode(_norm(value))
    return "{" + ",".join([key + text for i, key in in_key_order if (text := texts[i]) is not None]) + "}"


def _rows_for_sealing(session: Session, patient_ids: list[int], fingerprinted_from: Mapping[str, int],
                      fingerprinted: Container[tuple[str, int]] = ()) -> Iterator[tuple[int, str, int, str, str | None]]:
    """(patient id, table, row id, canonical content, field fingerprints) of every row of these
    patients' records: `record_rows` with the ids as integers (every patient table has an
    integer id), the fingerprints computed only for the rows of a table from its
    `fingerprinted_from` id on and the (table, id) in `fingerprinted` (None for the others). On
    SQLite the rows come straight from the driver's cursor, converted as a read through
    SQLAlchemy converts them (its per-row result handling was a fifth of a lab import's
    sealing), into `_row_sealer`."""
    connection = session.connection()
    dialect = connection.dialect
    raw = connection.connection.driver_connection if dialect.name == "sqlite" else None
    for table, via in PATIENT_TABLES:
        query, column = _base_query(table, via, dialect.name)
        name, width = str(table.name), len(table.columns)  # a plain str: see SealAsWritten.__call__
        (key_at,) = _shape(table)[1]
        plan = _as_read_plan(table, dialect)
        with_fields, content_only = _row_sealer(table, plan), _row_sealer(table, plan, fingerprints=False)
        first = fingerprinted_from.get(name, 1 << 63)  # no row id reaches 2**63
        also = {key for tbl, key in fingerprinted if tbl == name}
        for condition in _in(column, patient_ids):
            rows: Iterable[Any] = session.execute(query.where(condition)) if raw is None else \
                raw.execute(*_driver_select(table, query, column, condition, dialect))
            for row in rows:
                key = row[key_at]
                if key >= first or key in also:
                    yield (row[width], name, key, *with_fields(row))
                else:
                    yield (row[width], name, key, content_only(row)[0], None)


_DRIVER_SELECTS: dict[tuple[str, int], tuple[str, bool]] = {}


def _driver_select(table: Table, query: Any, column: Any, condition: Any, dialect: Any) -> tuple[str, list]:
    """The SQL and parameters of `query.where(condition)` (`column` IN a list of ids) for the
    driver's cursor; the SQL is compiled once per table and number of ids (a lab import reads
    thousands of patients, SEAL_BATCH at a time: compiling each read cost more than running it)."""
    ids = list(condition.right.value)
    key = (table.name, len(ids))
    found = _DRIVER_SELECTS.get(key)
    if found is None:
        placeholders = list(range(-len(ids), 0))  # no real id: tells the ids' parameters apart
        compiled = query.where(column.in_(placeholders)).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        found = _DRIVER_SELECTS[key] = (str(compiled), [params[k] for k in compiled.positiontup or ()] == placeholders)
    sql, only_ids = found
    if only_ids:
        return sql, ids
    compiled = query.where(condition).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    return str(compiled), [params[k] for k in compiled.positiontup or ()]


_AS_READ_PLANS: dict[tuple[str, str], tuple[tuple[int, str | None], ...]] = {}


def _as_read_plan(table: Table, dialect: Any) -> tuple[tuple[int, str | None], ...]:
    """The `_row_sealer` plan of a row as the driver returns `_stored_form`'s columns: each column in
    place, BOOL where SQLAlchemy's read converts the value (booleans on SQLite; a test checks that
    no other column of a record table has a result conversion there)."""
    key = (table.name, dialect.name)
    found = _AS_READ_PLANS.get(key)
    if found is None:
        columns = _stored_form(table, dialect.name)
        found = _AS_READ_PLANS[key] = tuple(
            (i, bulk_insert.BOOL if isinstance(c.type, Boolean) else None) for i, c in enumerate(columns))
    return found
