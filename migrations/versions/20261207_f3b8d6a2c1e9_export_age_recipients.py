"""exports: the age public keys a filing's export is encrypted to

Revision ID: f3b8d6a2c1e9
Revises: e7a3c9d15b42
Create Date: 2026-12-07 13:10:00

One column; existing exports are plain zips ("[]").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'f3b8d6a2c1e9'
down_revision = 'e7a3c9d15b42'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('age_recipients', sa.Text(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_column('age_recipients')
