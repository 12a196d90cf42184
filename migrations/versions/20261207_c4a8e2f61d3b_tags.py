"""tags: a case's controlled vocabulary and free tags, tags on items and incidents, and the custody actions
for untagging, defining tags and changing an item's sensitivity

Revision ID: c4a8e2f61d3b
Revises: 483c8dfff623
Create Date: 2026-12-07 05:30:00

The custody log's action column is a string with a CHECK constraint listing the actions; the
new actions need a new constraint. PostgreSQL replaces it in place; SQLite cannot alter a
constraint, so the table is copied (its append-only triggers dropped and made again around
the copy; the copy keeps every row as it was, byte for byte, so every leaf hash still holds).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db
from casefile.db_triggers import append_only, drop_append_only

revision = 'c4a8e2f61d3b'
down_revision = '483c8dfff623'
branch_labels = None
depends_on = None

OLD_ACTIONS = (
    'case_created', 'case_updated', 'member_added', 'member_removed', 'member_role_changed',
    'custody_transferred', 'intake', 'submitted_again', 'viewed', 'downloaded',
    'metadata_edited', 'tagged', 'linked', 'exported', 'integrity_checked',
    'integrity_failure', 'key_rotated', 'deleted', 'legal_hold_changed', 'access_granted',
    'access_revoked',
    # the incidents revision's (483c8dfff623)
    'incident_created', 'incident_updated', 'unlinked', 'perpetrator_created',
)
NEW_ACTIONS = (*OLD_ACTIONS, 'untagged', 'tag_defined', 'sensitivity_changed')
CHECK = 'ck_custody_entries_custody_action'


def _entries_table(actions: tuple[str, ...]) -> sa.Table:
    """custody_entries as the custody log revision made it, with `actions` allowed."""
    return sa.Table(
        'custody_entries',
        sa.MetaData(naming_convention=casefile.db.NAMING_CONVENTION),
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
        sa.Column('time', casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.Uuid(), nullable=True),
        sa.Column('actor_label', sa.String(length=400), nullable=False),
        sa.Column('action', sa.Enum(*actions, name='custody_action', native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column('case_id', sa.Uuid(), nullable=True),
        sa.Column('item_id', sa.Uuid(), nullable=True),
        sa.Column('details', sa.Text(), nullable=False),
        sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name='fk_custody_entries_actor_id_users'),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_custody_entries_case_id_cases'),
        sa.PrimaryKeyConstraint('seq', name='pk_custody_entries'),
        sa.Index('ix_custody_entries_case_seq', 'case_id', 'seq'),
        sa.Index('ix_custody_entries_item_seq', 'item_id', 'seq'),
    )


def _allow_actions(actions: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.drop_constraint(op.f(CHECK), 'custody_entries', type_='check')
        quoted = ', '.join(f"'{name}'" for name in actions)
        op.create_check_constraint(op.f(CHECK), 'custody_entries', sa.text(f'action IN ({quoted})'))
        return
    for statement in drop_append_only('custody_entries', dialect):
        op.execute(statement)
    with op.batch_alter_table(
        'custody_entries', recreate='always', copy_from=_entries_table(actions)
    ):
        pass
    for statement in append_only('custody_entries', dialect):
        op.execute(statement)


def upgrade() -> None:
    op.create_table('tags',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=256), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('controlled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('retired_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_tags_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_tags_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('case_id', 'key', name='uq_tags_case_key')
    )
    op.create_table('evidence_tags',
    sa.Column('evidence_id', sa.Uuid(), nullable=False),
    sa.Column('tag_id', sa.Uuid(), nullable=False),
    sa.Column('tagged_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tagged_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_tags_evidence_id_evidence')),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_evidence_tags_tag_id_tags')),
    sa.ForeignKeyConstraint(['tagged_by_id'], ['users.id'], name=op.f('fk_evidence_tags_tagged_by_id_users')),
    sa.PrimaryKeyConstraint('evidence_id', 'tag_id', name=op.f('pk_evidence_tags'))
    )
    with op.batch_alter_table('evidence_tags', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_tags_tag_id', ['tag_id'], unique=False)
    op.create_table('incident_tags',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('tag_id', sa.Uuid(), nullable=False),
    sa.Column('tagged_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tagged_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_tags_incident_id_incidents')),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_incident_tags_tag_id_tags')),
    sa.ForeignKeyConstraint(['tagged_by_id'], ['users.id'], name=op.f('fk_incident_tags_tagged_by_id_users')),
    sa.PrimaryKeyConstraint('incident_id', 'tag_id', name=op.f('pk_incident_tags'))
    )
    with op.batch_alter_table('incident_tags', schema=None) as batch_op:
        batch_op.create_index('ix_incident_tags_tag_id', ['tag_id'], unique=False)
    _allow_actions(NEW_ACTIONS)


def downgrade() -> None:
    _allow_actions(OLD_ACTIONS)  # fails if the log already holds one of the new actions: kept
    with op.batch_alter_table('incident_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_tags_tag_id')
    op.drop_table('incident_tags')
    with op.batch_alter_table('evidence_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_tags_tag_id')
    op.drop_table('evidence_tags')
    op.drop_table('tags')
