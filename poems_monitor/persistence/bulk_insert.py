"""Bulk INSERTs that store exactly what Core's `execute(insert(table), rows)` stores, faster.

Owns the two driver-level fast paths for many rows at once: on SQLite the rows go to the driver
as ready tuples (Core's per-row parameter handling took twice the driver's own time in the import
profile); on PostgreSQL through psycopg they go in with one `COPY ... FROM STDIN` (an executemany
sends one Bind/Execute per row and waits on the server for each batch: a 10,000-patient import or
`migrate --to` spent most of its time there). Both apply the columns' own bind conversions, so a
value is stored the same way whichever path wrote it (tests compare them). COPY fires the
table's row triggers like INSERT does (the server's guards still run), and belongs to the
caller's transaction. Anything else (another driver, a column default Core fills in) takes
Core's path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection

# Switches for the tests that compare each fast path with Core's.
DRIVER_EXECUTEMANY = True  # SQLite: ready tuples to the driver
POSTGRES_COPY = True  # PostgreSQL (psycopg): COPY FROM STDIN


def insert_rows(connection: Connection, table: Table, rows: Sequence[dict]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table` on `connection`, in its transaction."""
    if not rows:
        return
    dialect = connection.dialect
    sqlite = DRIVER_EXECUTEMANY and dialect.name == "sqlite" and dialect.paramstyle == "qmark"
    copy = POSTGRES_COPY and dialect.name == "postgresql" and dialect.driver == "psycopg"
    if not (sqlite or copy):
        connection.execute(insert(table), list(rows))
        return
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or ()) if sqlite else list(compiled.binds)
    if sorted(names) != sorted(keys):  # a column default Core would fill in: let Core do it
        connection.execute(insert(table), list(rows))
        return
    params = _driver_rows(connection, table, names, rows)
    if sqlite:
        connection.exec_driver_sql(str(compiled), params)
        return
    columns = ", ".join(dialect.identifier_preparer.quote(table.c[n].name) for n in names)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN"
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as pipe:  # type: ignore[union-attr]
        for row in params:
            pipe.write_row(row)


def _driver_rows(connection: Connection, table: Table, names: list[str], rows: Sequence[dict]) -> list[tuple]:
    dialect = connection.dialect
    converters: list[tuple[int, Callable[[Any], Any]]] = [(i, once_per_value(convert)) for i, name in enumerate(names)
                  if (convert := table.c[name].type._cached_bind_processor(dialect)) is not None]
    in_order = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    if not converters:
        return [tuple(in_order(row)) for row in rows]
    params = []
    for row in rows:
        values = list(in_order(row))
        for i, converted in converters:
            if values[i] is not None:
                values[i] = converted(values[i])
        params.append(tuple(values))
    return params


def once_per_value(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, remembering its last result: a batch stamps every row with the same time and
    user, so the date-time conversion runs once a batch instead of once a row."""
    last: list = [object(), None]

    def converted(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return converted
