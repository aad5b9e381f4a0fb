"""photo_reviews, photos.review_id: the centre reviews photos on a workbook, as it does batches

Photos were stored pending the centre's review, but nothing put them in front of the centre.
The nightly photo review now writes each unit's pending photos on a numbered review workbook
(照片审核单, `photo_reviews`); the filled workbook dropped into inbox/_centre/ decides them.

Revision ID: 0005_photo_reviews
Revises: 0004_job_run_lease
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_photo_reviews'
down_revision = '0004_job_run_lease'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'photo_reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('review_no', sa.String(length=64), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('reviewed_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_photo_reviews')),
        sa.UniqueConstraint('review_no', name=op.f('uq_photo_reviews_review_no')),
    )
    with op.batch_alter_table('photo_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photo_reviews_unit_code'), ['unit_code'], unique=False)
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_photos_review_id'), ['review_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_photos_review_id_photo_reviews'), 'photo_reviews',
                                    ['review_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_photos_review_id_photo_reviews'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_photos_review_id'))
        batch_op.drop_column('review_id')
    with op.batch_alter_table('photo_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photo_reviews_unit_code'))
    op.drop_table('photo_reviews')
