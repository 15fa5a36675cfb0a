"""Bulk INSERTs that store exactly what Core's `execute(insert(table), rows)` stores, faster.

Owns the two driver-level fast paths for many rows at once: on SQLite the rows go to the driver
as ready tuples (Core's per-row parameter handling took twice the driver's own time in the import
profile); on PostgreSQL through psycopg they go in with one `COPY ... FROM STDIN` (an executemany
sends one Bind/Execute per row and waits on the server for each batch: a 10,000-patient import or
`migrate --to` spent most of its time there). Both apply the columns' own bind conversions, so a
value is stored the same way whichever path wrote it (tests compare them). COPY fires the
table's row triggers like INSERT does (the server's guards still run), and belongs to the
caller's transaction. Anything else (another driver, a column default Core fills in) takes
Core's path. On SQLite an insert can also give the new rows explicit ids (`assign_ids`) and
tell a `stored` callable the rows exactly as written (`WrittenRows`: what the record seal of a
bulk import fingerprints, instead of reading them back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Boolean, Float, Table, insert
from sqlalchemy.engine import Connection

# Switches for the tests that compare each fast path with Core's.
DRIVER_EXECUTEMANY = True  # SQLite: ready tuples to the driver
POSTGRES_COPY = True  # PostgreSQL (psycopg): COPY FROM STDIN

BOOL, REAL = "bool", "real"  # what a read makes of a bound value (see WrittenRows.read_plan)


@dataclass(frozen=True)
class WrittenRows:
    """The rows an insert handed to SQLite's driver: `params` as bound (dates and times already in
    SQLite's text, booleans 0/1, ids explicit). `read_plan` has, per column of the table in its
    order, the position of its value in a parameter row (None: left out, so NULL) and what a read
    of it returns (BOOL: a bool; REAL: a float, NaN stored as NULL, -0.0 read as 0.0; None: the
    value as bound)."""

    table: Table
    read_plan: tuple[tuple[int | None, str | None], ...]
    params: list[tuple]

    def rows(self) -> Iterator[tuple]:
        """The rows as a read of them returns them: every column, in the table's order."""
        plan = self.read_plan
        for values in self.params:
            yield tuple(as_read(None if i is None else values[i], kind) for i, kind in plan)


def as_read(value: Any, kind: str | None) -> Any:
    """What a read returns of `value` bound to a column of this `kind` (see WrittenRows)."""
    if value is None or kind is None:
        return value
    if kind == BOOL:
        return bool(value)
    value = float(value) + 0.0  # SQLite reads -0.0 back as 0.0
    return None if value != value else value  # and stores NaN as NULL


StoredRows = Callable[[Table, "WrittenRows | None"], None]
"""Told the rows an insert wrote (`WrittenRows`), or None when it cannot tell (another database, a
column filled by a default): the record seal then reads them back at the commit."""


def insert_rows(connection: Connection, table: Table, rows: Sequence[dict] | Sequence[tuple], *,
                keys: Sequence[str] | None = None, assign_ids: bool = False, stored: StoredRows | None = None
                ) -> list[int]:
    """INSERT `rows` (dicts with the same keys, or with `keys` tuples of values in that order: no
    dict per row) into `table` on `connection`, in its transaction.

    `assign_ids`: return the new rows' ids in order (on SQLite given explicitly: the next free
    ones, which SQLite itself would pick for a table without AUTOINCREMENT; the write transaction
    holds the lock). `stored`: see StoredRows (it implies explicit ids: the rows must be whole)."""
    if not rows:
        return []
    dialect = connection.dialect
    explicit = assign_ids or stored is not None
    plan = None
    if DRIVER_EXECUTEMANY and dialect.name == "sqlite" and dialect.paramstyle == "qmark":
        plan = _sqlite_plan(table, dialect, tuple(keys) if keys is not None else tuple(rows[0]), explicit, keys is not None)
    if plan is None:
        as_dicts = [dict(zip(keys, row)) for row in rows] if keys is not None else cast("list[dict]", list(rows))
        if stored is not None:
            stored(table, None)
        if assign_ids:
            result = connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), as_dicts)
            return [r[0] for r in result]
        _insert_without_ids(connection, table, as_dicts)
        return []
    sql, in_order, converters, id_at, read_plan = plan
    first = 0
    if id_at is not None:
        first = (connection.exec_driver_sql(f"SELECT max(id) FROM {table.name}").scalar() or 0) + 1
    params = []
    for row_id, row in enumerate(rows, first):
        values = list(in_order(row))
        if id_at is not None:
            values.insert(id_at, row_id)
        for i, convert in converters:
            if values[i] is not None:
                values[i] = convert(values[i])
        params.append(tuple(values))
    connection.exec_driver_sql(sql, params)
    if stored is not None:
        stored(table, None if read_plan is None else WrittenRows(table, read_plan, params))
    return list(range(first, first + len(rows))) if id_at is not None else []


def _insert_without_ids(connection: Connection, table: Table, rows: Sequence[dict]) -> None:
    """Core's executemany, or one COPY on PostgreSQL through psycopg."""
    dialect = connection.dialect
    if not (POSTGRES_COPY and dialect.name == "postgresql" and dialect.driver == "psycopg"):
        connection.execute(insert(table), list(rows))
        return
    keys = list(rows[0])
    names = list(insert(table).compile(dialect=dialect, column_keys=keys).binds)
    if sorted(names) != sorted(keys):  # a column default Core would fill in: let Core do it
        connection.execute(insert(table), list(rows))
        return
    in_order = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    converters = _converters(table, dialect, names)
    columns = ", ".join(dialect.identifier_preparer.quote(table.c[n].name) for n in names)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN"
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as pipe:  # type: ignore[union-attr]
        for row in rows:
            values = list(in_order(row))
            for i, convert in converters:
                if values[i] is not None:
                    values[i] = convert(values[i])
            pipe.write_row(values)


def _converters(table: Table, dialect: Any, names: list[str]) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, bind conversion) of each column of `names` that has one."""
    return [(i, once_per_value(convert)) for i, name in enumerate(names)
            if (convert := table.c[name].type._cached_bind_processor(dialect)) is not None]


_PLANS: dict[tuple, Any] = {}


def _sqlite_plan(table: Table, dialect: Any, keys: tuple[str, ...], assign_ids: bool, tuples: bool):  # noqa: ANN202
    """How to hand rows with these keys (dicts, or `tuples` in their order) to SQLite's driver
    (built once per table and keys): the
    INSERT, the getter of the values in its order, the bind conversions, the position of the id
    (with `assign_ids`) and the WrittenRows read plan (None when a column left out would not read
    back as NULL). None: Core must do it (a column default Core would fill in)."""
    cache_key = (table.name, keys, assign_ids, tuples)
    found = _PLANS.get(cache_key, False)
    if found is not False:
        return found
    compiled = insert(table).compile(dialect=dialect, column_keys=(["id"] if assign_ids else []) + list(keys))
    names = list(compiled.positiontup or ())
    plan = None
    if sorted(names) == sorted(set(keys) | ({"id"} if assign_ids else set())):
        given = [keys.index(n) if tuples else n for n in names if not (assign_ids and n == "id")]
        in_order = itemgetter(*given) if len(given) > 1 else (lambda row: (row[given[0]],))
        plan = (str(compiled), in_order, _converters(table, dialect, names), names.index("id") if assign_ids else None,
                _read_plan(table, names) if assign_ids else None)
    _PLANS[cache_key] = plan
    return plan


def _read_plan(table: Table, names: list[str]) -> tuple[tuple[int | None, str | None], ...] | None:
    """WrittenRows.read_plan of parameter rows in the order of `names`, or None when a column left
    out would not be NULL (a default the database fills in)."""
    position = {n: i for i, n in enumerate(names)}
    plan: list[tuple[int | None, str | None]] = []
    for column in table.columns:
        i = position.get(column.name)
        if i is None and (not column.nullable or column.server_default is not None or column.default is not None):
            return None
        kind = column.type  # text, integers, and dates and times already SQLite's text after the bind conversion
        plan.append((i, BOOL if isinstance(kind, Boolean) else REAL if isinstance(kind, Float) else None))
    return tuple(plan)


def once_per_value(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, remembering its last result: a batch stamps every row with the same time and
    user, so the date-time conversion runs once a batch instead of once a row."""
    last: list = [object(), None]

    def converted(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return converted
