"""exports: a filing's court bundle made by a background job, its progress and its stored
(encrypted) result

Revision ID: e7a3c9d15b42
Revises: c4f1d2e8a9b3
Create Date: 2026-12-07 12:30:00

A new table only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = 'e7a3c9d15b42'
down_revision = 'c4f1d2e8a9b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('filing_id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('requested_by_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='export_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=200), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('warnings', sa.Text(), nullable=False),
    sa.Column('exhibits', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('bundle_name', sa.String(length=200), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('tagmanifest_sha256', sa.String(length=64), nullable=True),
    sa.Column('blob_id', sa.String(length=64), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_exports_case_id_cases')),
    sa.ForeignKeyConstraint(['filing_id'], ['filings.id'], name=op.f('fk_exports_filing_id_filings')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_exports_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exports'))
    )
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exports_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exports_filing_id'), ['filing_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exports_filing_id'))
        batch_op.drop_index(batch_op.f('ix_exports_case_id'))
    op.drop_table('exports')
