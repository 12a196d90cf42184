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


def upgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_evidence_content_id'), ['content_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_evidence_content_id_evidence'), 'evidence', ['content_id'], ['id']
        )


def downgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evidence_content_id_evidence'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_evidence_content_id'))
        batch_op.drop_column('content_id')
