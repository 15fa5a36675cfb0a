"""observation.confirmed_at_entry: a person saw (and, if critical, confirmed) the value at entry

Values saved through the visit form were checked in front of a person, who confirmed every
critical one; values that came by timeline import or lab file were not. The `critical_value`
flag reads the difference. Existing rows are backfilled from the audit trail: the observations
of visits created by the visit form ("create visit") and those written by a correction
("correct observation") were entered by a person; everything else came by import.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at_entry', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE observation SET confirmed_at_entry = TRUE WHERE "
        "visit_id IN (SELECT entity_id FROM audit_entry WHERE action = 'create' AND entity = 'visit') "
        "OR id IN (SELECT entity_id FROM audit_entry WHERE action = 'correct' AND entity = 'observation')"
    )


def downgrade() -> None:
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.drop_column('confirmed_at_entry')
