"""evidence listing index: (case_id, created_at, id), the order a case's items are listed
and paged in, so a page is read from the index in order instead of sorting the case's items

Revision ID: 9d2e41c7a0b5
Revises: 4b98e7d19918
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

from alembic import op

revision = '9d2e41c7a0b5'
down_revision = '4b98e7d19918'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_case_created', ['case_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_case_created')
