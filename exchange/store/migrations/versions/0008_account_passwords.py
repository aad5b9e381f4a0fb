"""accounts.must_change and accounts.password_set_at: passwords a unit sets itself (issue 18.1)

A new login given the initial password, or one the operator reset, must choose its own password
at its next login (SSH keyboard-interactive) before it can touch a file; [accounts]
password_expiry_days counts from password_set_at. Existing accounts keep their passwords and
count from the upgrade.

Revision ID: 0008_account_passwords
Revises: 0007_file_attempts
"""
import sqlalchemy as sa
from alembic import op


revision = '0008_account_passwords'
down_revision = '0007_file_attempts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('password_set_at', sa.DateTime(), nullable=True))
    op.execute(sa.text("UPDATE accounts SET password_set_at = CURRENT_TIMESTAMP "
                       "WHERE password_hash IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('password_set_at')
        batch_op.drop_column('must_change')
