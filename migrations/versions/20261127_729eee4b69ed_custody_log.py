"""custody log

Revision ID: 729eee4b69ed
Revises: 6a8d6395385b
Create Date: 2026-11-27 21:17:54.574728
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db
from casefile.db_triggers import append_only, drop_append_only

APPEND_ONLY = ("custody_entries", "custody_nodes", "custody_checkpoints")


revision = '729eee4b69ed'
down_revision = '6a8d6395385b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('custody_checkpoints',
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('time', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_custody_checkpoints'))
    )
    op.create_table('custody_nodes',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_custody_nodes'))
    )
    op.create_table('custody_entries',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('time', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_label', sa.String(length=400), nullable=False),
    sa.Column('action', sa.Enum('case_created', 'case_updated', 'member_added', 'member_removed', 'member_role_changed', 'custody_transferred', 'intake', 'submitted_again', 'viewed', 'downloaded', 'metadata_edited', 'tagged', 'linked', 'exported', 'integrity_checked', 'integrity_failure', 'key_rotated', 'deleted', 'legal_hold_changed', 'access_granted', 'access_revoked', name='custody_action', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.Column('item_id', sa.Uuid(), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_custody_entries_actor_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_custody_entries_case_id_cases')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_custody_entries'))
    )
    with op.batch_alter_table('custody_entries', schema=None) as batch_op:
        batch_op.create_index('ix_custody_entries_case_seq', ['case_id', 'seq'], unique=False)
        batch_op.create_index('ix_custody_entries_item_seq', ['item_id', 'seq'], unique=False)

    # Nobody rewrites the custody log, not even with database access: the database refuses.
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in append_only(table, dialect):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in drop_append_only(table, dialect):
            op.execute(statement)
    with op.batch_alter_table('custody_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_custody_entries_item_seq')
        batch_op.drop_index('ix_custody_entries_case_seq')

    op.drop_table('custody_entries')
    op.drop_table('custody_nodes')
    op.drop_table('custody_checkpoints')
