"""job_runs.finished_at indexed: every scheduler looks for unfinished runs each minute

The scan for runs to resume (finished_at IS NULL) read the whole table, which the rescan grows
by ~480 rows a day; `archive_retention` now also deletes finished runs older than
[archive].job_history_days, by the same column.

Revision ID: 0006_job_runs_finished_index
Revises: 0005_photo_reviews
"""
from alembic import op


revision = '0006_job_runs_finished_index'
down_revision = '0005_photo_reviews'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_runs_finished_at'), ['finished_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_runs_finished_at'))
