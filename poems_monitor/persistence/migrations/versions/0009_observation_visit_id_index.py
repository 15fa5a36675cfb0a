"""observation (visit_id, id) index: the order in which timelines read a patient's, a batch's or
the clinic's values, so that they are read in that order rather than sorted (issue 13)

An index only: no row changes, so the record seal and `check` read the same record before and
after the upgrade.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.create_index('ix_observation_visit_id', ['visit_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.drop_index('ix_observation_visit_id')
