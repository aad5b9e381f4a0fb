"""classes, accounts.status/deleted_at/label, units.email: accounts a school runs, classes as data

A school's admin now keeps its own sub-accounts (用户维护: 注销 leaves a tombstone so a login name
is never given again) and its classes (班级编号, 班级名称, 年级, 院系) as a table instead of
inferring them from persons and sub-accounts; 单位信息变更 carries an e-mail address (Nanping).

Revision ID: 0011_school_accounts_classes
Revises: 0010_money
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_school_accounts_classes'
down_revision = '0010_money'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'classes',
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('class_code', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('grade', sa.String(length=50), nullable=True),
        sa.Column('department', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('unit_code', 'class_code', name=op.f('pk_classes')),
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False,
                                      server_default='active'))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('label', sa.String(length=100), nullable=True))
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_column('email')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('label')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('status')
    op.drop_table('classes')
