"""record seal: each audit entry may carry the digests of the record after its change, and a short
fingerprint of every field of the record, so that `check` can name what changed outside the app

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table('record_seal',
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('tbl', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('row_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('fields', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'tbl', 'row_id'),
    sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table('record_seal')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('state')
