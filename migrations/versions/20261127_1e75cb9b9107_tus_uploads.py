"""tus uploads

Revision ID: 1e75cb9b9107
Revises: 5228342c5cf9
Create Date: 2026-11-27 21:53:09.061307
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = '1e75cb9b9107'
down_revision = '5228342c5cf9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tus_uploads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.Enum('receiving', 'completing', 'completed', name='tus_upload_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('evidence_id', sa.Uuid(), nullable=True),
    sa.Column('duplicate', sa.Boolean(), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_tus_uploads_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_tus_uploads_created_by_id_users')),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_tus_uploads_evidence_id_evidence')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tus_uploads'))
    )
    with op.batch_alter_table('tus_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tus_uploads_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tus_uploads_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tus_uploads_expires_at'), ['expires_at'], unique=False)

    op.create_table('tus_upload_chunks',
    sa.Column('upload_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('blob_id', sa.String(length=32), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['tus_uploads.id'], name=op.f('fk_tus_upload_chunks_upload_id_tus_uploads')),
    sa.PrimaryKeyConstraint('upload_id', 'seq', name=op.f('pk_tus_upload_chunks')),
    sa.UniqueConstraint('blob_id', name=op.f('uq_tus_upload_chunks_blob_id'))
    )


def downgrade() -> None:
    op.drop_table('tus_upload_chunks')
    with op.batch_alter_table('tus_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tus_uploads_expires_at'))
        batch_op.drop_index(batch_op.f('ix_tus_uploads_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_tus_uploads_case_id'))

    op.drop_table('tus_uploads')
