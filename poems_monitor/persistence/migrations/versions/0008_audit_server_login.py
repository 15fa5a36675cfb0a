"""audit server login: each audit entry records the database login that wrote it (PostgreSQL's
session_user, filled by the server; empty on SQLite, which has no logins)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    on_server = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        # The server fills it (a trigger installed by `server init/upgrade` also overrides any
        # value a client sends); the default covers a server whose triggers are not installed yet.
        batch_op.add_column(sa.Column('db_user', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True,
                                      server_default=sa.text("SESSION_USER") if on_server else None))


def downgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('db_user')
