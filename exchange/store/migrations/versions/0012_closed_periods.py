"""closed_periods: a person's insured periods at the units he left (参保历史)

An approved 职工增加 (or 城乡居民参保) for a person on file replaced the record's unit and 参保年月,
and the unit he left lost the months he was insured there and not paid from its amounts due.
The period it replaces is now kept, with the base, insurances and paid-to months it had.

Revision ID: 0012_closed_periods
Revises: 0011_school_accounts_classes
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_closed_periods'
down_revision = '0011_school_accounts_classes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'closed_periods',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('id_number', sa.String(length=18), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('insured_from', sa.String(length=6), nullable=True),
        sa.Column('stopped_after', sa.String(length=6), nullable=False),
        sa.Column('wage_base', sa.Integer(), nullable=True),
        sa.Column('insurances', sa.String(length=100), nullable=True),
        sa.Column('last_paid_month', sa.String(length=6), nullable=True),
        sa.Column('paid_months', sa.JSON(), nullable=True),
        sa.Column('serial', sa.Integer(), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_closed_periods')),
    )
    with op.batch_alter_table('closed_periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closed_periods_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_closed_periods_unit_code'), ['unit_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('closed_periods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closed_periods_unit_code'))
        batch_op.drop_index(batch_op.f('ix_closed_periods_id_number'))
    op.drop_table('closed_periods')
