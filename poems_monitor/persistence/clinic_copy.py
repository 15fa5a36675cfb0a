"""Copying a whole clinic record from one database into another, row for row (`migrate --to`).

Owns the table-level work: the schema made on the target by the shipped migrations on the copy's
own connection (so that it is part of the copy's one transaction), every table streamed from the
source in primary-key order in batches (memory stays bounded whatever the clinic's size; on a
server each batch goes in with one COPY, `persistence.bulk_insert`), ids
kept as they are, and the target's id sequences moved past the copied ids afterwards. The source
is read in one transaction: a consistent snapshot while others keep writing. Nothing here decides
who may copy or what counts as sound: `services.server_migration` does.

Values are copied as the source's column types read them; a naive date-time from SQLite was
stored as UTC and is handed on as UTC (never as the server session's local time), so the audit
chain's hashes and the record's seal, computed from UTC, hold on the target unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import DateTime, Table, bindparam, select, update
from sqlalchemy.engine import Connection

from poems_monitor.persistence import bulk_insert

BATCH_ROWS = 5000  # rows read and written per round (COPY on a server: few round trips)
DERIVED_TABLES = ("rules_cache",)  # rebuilt from the record when first needed: never copied
SCHEMA_TABLES = ("alembic_version",)  # made by the target's own migrations


def record_tables() -> list[Table]:
    """The tables to copy, parents before children."""
    from sqlmodel import SQLModel

    import poems_monitor.models  # noqa: F401  (registers every table)

    return [t for t in SQLModel.metadata.sorted_tables if t.name not in DERIVED_TABLES + SCHEMA_TABLES]


def create_schema(conn: Connection) -> None:
    """Run the shipped migrations to the newest schema on `conn`, inside its open transaction."""
    from alembic import command
    from alembic.config import Config

    from poems_monitor.persistence.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _as_utc(table: Table) -> Callable[[dict], dict]:
    stamped = [c.name for c in table.columns if isinstance(c.type, DateTime) and c.type.timezone]

    def fix(row: dict) -> dict:
        for name in stamped:
            value = row.get(name)
            if isinstance(value, datetime) and value.tzinfo is None:
                row[name] = value.replace(tzinfo=timezone.utc)
        return row

    return fix


def copy_table(source: Connection, target: Connection, table: Table, *, batch_rows: int = BATCH_ROWS,
               after_batch: Callable[[str, int], None] | None = None) -> int:
    """Copy every row of `table`, in batches of `batch_rows`; returns the number of rows. A column
    that refers to the same table (a corrected value naming its replacement) is filled in after
    all rows are there, as the row it names may come later."""
    self_refs = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    order = list(table.primary_key.columns) or list(table.columns)[:1]
    fix = _as_utc(table)
    result = source.execute(select(table).order_by(*order))
    copied, later = 0, []
    while True:
        rows = result.fetchmany(batch_rows)
        if not rows:
            break
        batch = [fix(dict(r._mapping)) for r in rows]
        for row in batch:
            if self_refs and any(row.get(c) is not None for c in self_refs):
                later.append({"key": row[order[0].name], **{c: row[c] for c in self_refs}})
                for c in self_refs:
                    row[c] = None
        bulk_insert.insert_rows(target, table, batch)
        copied += len(batch)
        if after_batch is not None:
            after_batch(table.name, copied)
    if later:  # one executemany per batch, not one statement per row
        relink = update(table).where(order[0] == bindparam("_key")).values({c: bindparam(f"new_{c}") for c in self_refs})
        for start in range(0, len(later), batch_rows):
            target.execute(relink, [{"_key": item["key"], **{f"new_{c}": item[c] for c in self_refs}}
                                    for item in later[start:start + batch_rows]])
    return copied


def count_rows(conn: Connection, table: Table) -> int:
    from sqlalchemy import func

    return conn.execute(select(func.count()).select_from(table)).scalar_one()
