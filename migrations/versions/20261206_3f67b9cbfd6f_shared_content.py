"""shared content: an item resubmitted by someone who may not see the item holding its bytes

Revision ID: 3f67b9cbfd6f
Revises: 1e75cb9b9107
Create Date: 2026-12-06 19:46:28.359742
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '3f67b9cbfd6f'
down_revision = '1e75cb9b9107'
branch_labels = None
depends_on = None

FK = 'fk_evidence_content_id_evidence'


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch copy of `evidence` on SQLite would drop the
    # table that grants, tus uploads and custody entries reference (refused with their rows in
    # it). SQLite takes the foreign key inline in ADD COLUMN.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            f'ALTER TABLE evidence ADD COLUMN content_id CHAR(32) CONSTRAINT {FK} '
            'REFERENCES evidence (id)'
        )
    else:
        op.add_column('evidence', sa.Column('content_id', sa.Uuid(), nullable=True))
        op.create_foreign_key(op.f(FK), 'evidence', 'evidence', ['content_id'], ['id'])
    op.create_index(op.f('ix_evidence_content_id'), 'evidence', ['content_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_evidence_content_id'), table_name='evidence')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops no column that a foreign key uses, and a batch copy of `evidence` is
        # refused while other tables reference its rows: only an empty instance goes back.
        with op.batch_alter_table('evidence', schema=None) as batch_op:
            batch_op.drop_column('content_id')  # and its inline foreign key with it
    else:
        op.drop_constraint(op.f(FK), 'evidence', type_='foreignkey')
        op.drop_column('evidence', 'content_id')
