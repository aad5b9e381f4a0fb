"""job_runs.lease_until: a running job renews it, and a run whose node stopped is taken over

A node that died while running a job (the nightly batch submission, say) left its row
unfinished, and no other node ran that firing again: the work waited for the next firing.
The running node now renews `lease_until`; another node's scheduler resumes a scheduled run
whose node is gone (on its host: the process is dead; elsewhere: the lease ran out).

Revision ID: 0004_job_run_lease
Revises: 0003_declaration_indexes
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_job_run_lease'
down_revision = '0003_declaration_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
