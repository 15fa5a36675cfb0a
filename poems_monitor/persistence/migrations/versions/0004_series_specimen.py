"""observations: the specimen of plasma and serum VEGF is the series' own

Values imported or generated without a specimen were stored with none, values typed in the
visit form with "plasma" or "serum"; charts then broke the line between them as if the specimen
had changed. The series decides the specimen, so every such row gets it, and one audit entry
(chained like every other) lists the rows that changed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from poems_monitor.persistence.audit_chain import insert_entry, last_hash, record_head


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Frozen here (not read from the catalogue) so this migration does the same thing forever.
SERIES_SPECIMEN = {"vegf_plasma": "plasma", "vegf_serum": "serum"}
MIGRATION_USER = "poems-monitor (migration 0004)"

observation = sa.table("observation", sa.column("id", sa.Integer), sa.column("code", sa.String),
                       sa.column("specimen", sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    changed = {}
    for code, specimen in SERIES_SPECIMEN.items():
        ids = [r[0] for r in conn.execute(sa.select(observation.c.id).where(
            observation.c.code == code, observation.c.specimen.is_(None)).order_by(observation.c.id))]
        if ids:
            conn.execute(sa.update(observation).where(observation.c.code == code, observation.c.specimen.is_(None))
                         .values(specimen=specimen))
            changed[code] = {"specimen": specimen, "count": len(ids), "observation_ids": ids}
    if changed:  # a new or already consistent database gets no entry
        insert_entry(conn, last_hash(conn), user=MIGRATION_USER, action="migrate", entity="observation",
                     old={code: {"specimen": None} for code in changed}, new=changed,
                     reason="schema migration 0004: the specimen of a VEGF value is the one its series is measured in")
        record_head(conn, MIGRATION_USER)


def downgrade() -> None:
    pass  # the filled-in specimen is true of every such value; nothing to undo
