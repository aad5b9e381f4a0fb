"""declarations: fingerprints indexed only where there is no ID, IDs only where there is one, no index on kind alone

Measured on a 100,000-row import (issue 8): every index of `declarations` costs 10-30% of the
insert. Fingerprints are looked up only for rows without an ID (a row with one is matched
through the person's declarations), so their index need not hold the rows with IDs; `kind` is
only ever filtered together with the unit or the status, which are indexed. With the ID index
partial too, SQLite cannot answer "id_number IS NULL" from it and takes the fingerprint index.

Revision ID: 0003_declaration_indexes
Revises: 0002_households_photos
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_declaration_indexes'
down_revision = '0002_households_photos'
branch_labels = None
depends_on = None

NO_ID, HAS_ID = "id_number IS NULL", "id_number IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_declarations_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_declarations_kind'))
        batch_op.drop_index(batch_op.f('ix_declarations_id_number'))
        batch_op.create_index('ix_declarations_fingerprint_no_id', ['fingerprint'], unique=False,
                              sqlite_where=sa.text(NO_ID), postgresql_where=sa.text(NO_ID))
        batch_op.create_index('ix_declarations_id_number', ['id_number'], unique=False,
                              sqlite_where=sa.text(HAS_ID), postgresql_where=sa.text(HAS_ID))


def downgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_id_number')
        batch_op.drop_index('ix_declarations_fingerprint_no_id')
        batch_op.create_index(batch_op.f('ix_declarations_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_declarations_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_declarations_fingerprint'), ['fingerprint'], unique=False)
