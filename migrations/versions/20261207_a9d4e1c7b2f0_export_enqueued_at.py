"""exports: when `recover` last enqueued a queued export again

Revision ID: a9d4e1c7b2f0
Revises: a9d4e2c7b1f5
Create Date: 2026-12-07 15:40:00

One nullable column; existing exports have none (their created_at stands for it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = 'a9d4e1c7b2f0'
down_revision = 'a9d4e2c7b1f5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('enqueued_at', casefile.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_column('enqueued_at')
