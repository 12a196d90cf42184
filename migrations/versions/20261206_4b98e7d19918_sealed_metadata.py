"""sealed metadata: restricted items' descriptive fields encrypted under their data key,
and the blind index over them

Existing restricted rows are sealed by `casefile init` (or `casefile keys seal-restricted`),
which hold the key-encryption key that a migration cannot reach. Downgrading drops the
sealed column: restricted items' metadata is then lost (their placeholders stay).

Revision ID: 4b98e7d19918
Revises: 3c1f0a8e52d7
Create Date: 2026-12-06 19:51:39.024607
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = '4b98e7d19918'
down_revision = '3c1f0a8e52d7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blind_index_keys',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blind_index_keys'))
    )
    op.create_table('evidence_index_tokens',
    sa.Column('evidence_id', sa.Uuid(), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_index_tokens_evidence_id_evidence')),
    sa.PrimaryKeyConstraint('evidence_id', 'field', 'token_hash', name=op.f('pk_evidence_index_tokens'))
    )
    with op.batch_alter_table('evidence_index_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_index_tokens_field_hash', ['field', 'token_hash'], unique=False)

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_metadata', sa.LargeBinary(), nullable=True))

    with op.batch_alter_table('tus_uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_fields', sa.LargeBinary(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('tus_uploads', schema=None) as batch_op:
        batch_op.drop_column('sealed_fields')

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_column('sealed_metadata')

    with op.batch_alter_table('evidence_index_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_index_tokens_field_hash')

    op.drop_table('evidence_index_tokens')
    op.drop_table('blind_index_keys')
