"""rules cache: the follow-up plan of the last as-of asked for

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rules_cache', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_as_of', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('plan', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rules_cache', schema=None) as batch_op:
        batch_op.drop_column('plan')
        batch_op.drop_column('plan_as_of')
