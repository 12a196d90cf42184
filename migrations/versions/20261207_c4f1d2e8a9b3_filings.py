"""filings and exhibits; on evidence: language, derived_from_id + derivation (translations and
redacted versions name their original), page_count

Revision ID: c4f1d2e8a9b3
Revises: c5d2f8a1b3e6
Create Date: 2026-12-07 06:30:00

New nullable columns only on evidence (SQLite copies the table in batch mode to add the
foreign key and the derivation's CHECK constraint; every row and id is kept).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = 'c4f1d2e8a9b3'
down_revision = 'c5d2f8a1b3e6'
branch_labels = None
depends_on = None

FILING_TYPES = (
    'application_instituting_proceedings', 'request_provisional_measures', 'memorial',
    'counter_memorial', 'reply', 'rejoinder', 'written_observations',
    'article_15_communication', 'request_or_submission', 'list_of_evidence',
    'disclosure_package', 'criminal_complaint', 'supplementary_submission',
)
CLASSIFICATIONS = ('public', 'confidential', 'under_seal', 'ex_parte')


def _classification() -> sa.Enum:
    return sa.Enum(*CLASSIFICATIONS, name='classification', native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table('filings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.Enum(*FILING_TYPES, name='filing_type', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=False),
    sa.Column('court_document_number', sa.String(length=100), nullable=True),
    sa.Column('filing_date', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'final', 'filed', name='filing_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('classification', _classification(), nullable=False),
    sa.Column('classification_basis', sa.Text(), nullable=True),
    sa.Column('exhibit_prefix', sa.String(length=40), nullable=True),
    sa.Column('exhibit_start', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('supersedes_id', sa.Uuid(), nullable=True),
    sa.Column('exhibits_version', sa.Integer(), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_filings_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_filings_created_by_id_users')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['filings.id'], name=op.f('fk_filings_supersedes_id_filings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filings')),
    sa.UniqueConstraint('supersedes_id', name=op.f('uq_filings_supersedes_id'))
    )
    with op.batch_alter_table('filings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_filings_case_id'), ['case_id'], unique=False)

    op.create_table('exhibits',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('filing_id', sa.Uuid(), nullable=False),
    sa.Column('evidence_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('classification', _classification(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('sealed_description', sa.LargeBinary(), nullable=True),
    sa.Column('added_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_exhibits_added_by_id_users')),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_exhibits_evidence_id_evidence')),
    sa.ForeignKeyConstraint(['filing_id'], ['filings.id'], name=op.f('fk_exhibits_filing_id_filings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exhibits')),
    sa.UniqueConstraint('filing_id', 'evidence_id', name='uq_exhibits_filing_item')
    )
    with op.batch_alter_table('exhibits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exhibits_evidence_id'), ['evidence_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exhibits_filing_id'), ['filing_id'], unique=False)

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column('derived_from_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('derivation', sa.Enum('translation', 'redaction', name='derivation', native_enum=False, create_constraint=True, length=32), nullable=True))
        batch_op.add_column(sa.Column('page_count', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_evidence_derived_from_id'), ['derived_from_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_evidence_derived_from_id_evidence'), 'evidence', ['derived_from_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evidence_derived_from_id_evidence'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_evidence_derived_from_id'))
        batch_op.drop_constraint(batch_op.f('ck_evidence_derivation'), type_='check')
        batch_op.drop_column('page_count')
        batch_op.drop_column('derivation')
        batch_op.drop_column('derived_from_id')
        batch_op.drop_column('language')
    with op.batch_alter_table('exhibits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exhibits_filing_id'))
        batch_op.drop_index(batch_op.f('ix_exhibits_evidence_id'))
    op.drop_table('exhibits')
    with op.batch_alter_table('filings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_filings_case_id'))
    op.drop_table('filings')
