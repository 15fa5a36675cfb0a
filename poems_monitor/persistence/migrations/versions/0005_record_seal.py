"""record seal: each audit entry may carry the digests of the record after its change, and the
sealed content of every row of the record, so that `check` can name what changed outside the app

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table('record_seal',
    sa.Column('tbl', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('row_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('content', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('tbl', 'row_id')
    )
    with op.batch_alter_table('record_seal', schema=None) as batch_op:
        batch_op.create_index('ix_record_seal_scope', ['scope'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('record_seal', schema=None) as batch_op:
        batch_op.drop_index('ix_record_seal_scope')
    op.drop_table('record_seal')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('state')
