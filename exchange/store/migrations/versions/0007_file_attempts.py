"""files.attempts: how many times a claim was taken, so a file that kills its node ends

Set to 1 when a file is claimed and raised by one each time recovery takes the claim over from
a holder that is gone; at the third take recovery quarantines the file with a receipt
(file.unreadable, reason "crashed") instead of judging it again (issue 15 item 2).

Revision ID: 0007_file_attempts
Revises: 0006_job_runs_finished_index
"""
import sqlalchemy as sa
from alembic import op


revision = '0007_file_attempts'
down_revision = '0006_job_runs_finished_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False,
                                      server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_column('attempts')
