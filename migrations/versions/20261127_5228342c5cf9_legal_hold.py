"""legal hold

Revision ID: 5228342c5cf9
Revises: 65455b987410
Create Date: 2026-11-27 21:42:40.944547
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '5228342c5cf9'
down_revision = '65455b987410'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_hold', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('legal_hold')

