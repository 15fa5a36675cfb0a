"""identity and inputs: failed sign-ins and lock-out on accounts; MRNs compared without case

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import unicodedata

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _mrn_key(mrn: str) -> str:
    # the same rule as domain.input_rules.mrn_key, frozen here as migrations must be
    return unicodedata.normalize("NFC", mrn.strip()).casefold()


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mrn_key', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    patient = sa.table('patient', sa.column('id', sa.Integer), sa.column('mrn', sa.String), sa.column('mrn_key', sa.String))
    seen: set[str] = set()
    for row in conn.execute(sa.select(patient.c.id, patient.c.mrn).order_by(patient.c.id)).all():
        key = _mrn_key(row.mrn)
        if key in seen:
            # two patients stored under MRNs that differ only by case (possible before this
            # revision): both are kept, the later one under a key that names its row, so nothing is
            # merged silently; the first keeps the plain key that new imports and entries meet
            key = f"{key}#{row.id}"[-64:]
        seen.add(key)
        conn.execute(sa.update(patient).where(patient.c.id == row.id).values(mrn_key=key))
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.alter_column('mrn_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f('ix_patient_mrn_key'), ['mrn_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_mrn_key'))
        batch_op.drop_column('mrn_key')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_sign_ins')
