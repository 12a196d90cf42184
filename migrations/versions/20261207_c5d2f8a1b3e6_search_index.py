"""search index: documents (items, incidents), their encoded terms, restricted items' blind
terms, the text extracted from items at intake; SQLite's FTS5 table and its triggers,
PostgreSQL's generated tsvector column and its GIN index

Revision ID: c5d2f8a1b3e6
Revises: 5e1f7c2a9b30
Create Date: 2026-12-07 05:30:00

The engine-specific parts (the FTS5 virtual table and its triggers; the generated tsvector
column and its GIN index) are not in the models: migrations/env.py leaves them out of
`alembic check`. Existing items and incidents are indexed by `casefile reindex`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = 'c5d2f8a1b3e6'
down_revision = '5e1f7c2a9b30'
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

SQLITE_FTS = (
    # External content: the terms live once, in search_bodies.body; FTS5 holds the index,
    # its rowid the document's id.
    (
        "CREATE VIRTUAL TABLE search_fts USING fts5(body, content='search_bodies', "
        "content_rowid='document_id', tokenize='ascii')"
    ),
    (
        "CREATE TRIGGER search_bodies_ai AFTER INSERT ON search_bodies BEGIN "
        "INSERT INTO search_fts(rowid, body) VALUES (new.document_id, new.body); END"
    ),
    (
        "CREATE TRIGGER search_bodies_ad AFTER DELETE ON search_bodies BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, body) "
        "VALUES ('delete', old.document_id, old.body); END"
    ),
    (
        "CREATE TRIGGER search_bodies_au AFTER UPDATE ON search_bodies BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, body) "
        "VALUES ('delete', old.document_id, old.body); "
        "INSERT INTO search_fts(rowid, body) VALUES (new.document_id, new.body); END"
    ),
)
POSTGRES_INDEX = (
    # Stored, so that a match never recomputes a document's vector.
    (
        "ALTER TABLE search_bodies ADD COLUMN body_tsv tsvector GENERATED ALWAYS AS "
        "(to_tsvector('simple'::regconfig, body)) STORED"
    ),
    "CREATE INDEX ix_search_bodies_body_tsv ON search_bodies USING gin (body_tsv)",
)


def upgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extracted_text', sa.Text(), nullable=True))
    op.create_table(
        'search_documents',
        sa.Column('id', KEY, primary_key=True, autoincrement=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('doc_id', sa.Uuid(), nullable=False),
        sa.Column('case_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('restricted', sa.Boolean(), nullable=False),
        sa.Column('mime', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_search_documents_case_id_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_search_documents')),
        sa.UniqueConstraint('doc_id', name=op.f('uq_search_documents_doc_id')),
    )
    op.create_index('ix_search_documents_case_created', 'search_documents',
                    ['case_id', 'created_at', 'doc_id'], unique=False)
    op.create_table(
        'search_bodies',
        sa.Column('document_id', KEY, nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['document_id'], ['search_documents.id'],
                                name=op.f('fk_search_bodies_document_id_search_documents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('document_id', name=op.f('pk_search_bodies')),
    )
    op.create_table(
        'search_blind_terms',
        sa.Column('document_id', KEY, nullable=False),
        sa.Column('term_hash', sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(['document_id'], ['search_documents.id'],
                                name=op.f('fk_search_blind_terms_document_id_search_documents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('document_id', 'term_hash', name=op.f('pk_search_blind_terms')),
    )
    op.create_index('ix_search_blind_terms_hash', 'search_blind_terms', ['term_hash'],
                    unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        for statement in POSTGRES_INDEX:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ('search_bodies_au', 'search_bodies_ad', 'search_bodies_ai'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
        op.execute('DROP TABLE IF EXISTS search_fts')
    else:
        op.execute('DROP INDEX IF EXISTS ix_search_bodies_body_tsv')
        op.execute('ALTER TABLE search_bodies DROP COLUMN IF EXISTS body_tsv')
    op.drop_index('ix_search_blind_terms_hash', table_name='search_blind_terms')
    op.drop_table('search_blind_terms')
    op.drop_table('search_bodies')
    op.drop_index('ix_search_documents_case_created', table_name='search_documents')
    op.drop_table('search_documents')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_column('extracted_text')
