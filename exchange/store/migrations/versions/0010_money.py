"""payments, contribution_rates: what persons paid, and rates the centre loads (issue 17)

Amounts due are computed from rules/rates.toml; the centre may load rates as master data
(`contribution_rates`, replacing the file's entry of the same key) and payments (`payments`:
person, month, insurance, amount), so arrears are computed as due less paid.

Revision ID: 0010_money
Revises: 0008_account_passwords
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_money'
down_revision = '0008_account_passwords'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'payments',
        sa.Column('id_number', sa.String(length=18), nullable=False),
        sa.Column('month', sa.String(length=6), nullable=False),
        sa.Column('insurance', sa.String(length=8), nullable=False),
        sa.Column('amount', sa.Numeric(14, 2), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=True),
        sa.Column('loaded_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id_number', 'month', 'insurance', name=op.f('pk_payments')),
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_unit_code'), ['unit_code'], unique=False)
    op.create_table(
        'contribution_rates',
        sa.Column('scheme', sa.String(length=16), nullable=False),
        sa.Column('code', sa.String(length=8), nullable=False),
        sa.Column('start', sa.String(length=6), nullable=False),
        sa.Column('unit_rate', sa.Numeric(9, 6), nullable=False),
        sa.Column('person_rate', sa.Numeric(9, 6), nullable=False),
        sa.Column('unit_amount', sa.Numeric(14, 2), nullable=False),
        sa.Column('person_amount', sa.Numeric(14, 2), nullable=False),
        sa.Column('amount', sa.Numeric(14, 2), nullable=False),
        sa.Column('loaded_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('scheme', 'code', 'start', name=op.f('pk_contribution_rates')),
    )


def downgrade() -> None:
    op.drop_table('contribution_rates')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_unit_code'))
    op.drop_table('payments')
