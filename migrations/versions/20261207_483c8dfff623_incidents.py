"""incidents: incidents of a case with their categories, alleged perpetrators (reusable per
case), links between incidents and items; new custody actions for them

Revision ID: 483c8dfff623
Revises: b7c3e1a9d2f4
Create Date: 2026-12-07 05:30:00

The custody log's action column is a string with a CHECK constraint listing the actions; the
new actions need a new constraint. PostgreSQL replaces it in place; SQLite cannot alter a
constraint, so the table is copied (its append-only triggers dropped and made again around
the copy; the copy keeps every row, and so every leaf hash).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db
from casefile.db_triggers import append_only, drop_append_only

revision = '483c8dfff623'
down_revision = 'b7c3e1a9d2f4'
branch_labels = None
depends_on = None

OLD_ACTIONS = (
    'case_created', 'case_updated', 'member_added', 'member_removed', 'member_role_changed',
    'custody_transferred', 'intake', 'submitted_again', 'viewed', 'downloaded',
    'metadata_edited', 'tagged', 'linked', 'exported', 'integrity_checked',
    'integrity_failure', 'key_rotated', 'deleted', 'legal_hold_changed', 'access_granted',
    'access_revoked',
)
NEW_ACTIONS = (
    *OLD_ACTIONS,
    'incident_created', 'incident_updated', 'unlinked', 'perpetrator_created',
)
CHECK = 'ck_custody_entries_custody_action'

CATEGORIES = (
    'killing', 'torture', 'sgbv', 'arson_destruction', 'forced_displacement',
    'arbitrary_detention', 'enforced_disappearance', 'airstrike_shelling',
    'attack_protected_site', 'child_recruitment', 'persecution', 'other',
)


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
    op.create_table('perpetrators',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.Enum('unit', 'person', name='perpetrator_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('affiliation', sa.String(length=300), nullable=True),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_perpetrators_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_perpetrators_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_perpetrators')),
    sa.UniqueConstraint('case_id', 'kind', 'name', name='uq_perpetrators_case_kind_name')
    )
    op.create_table('incidents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('date_precision', sa.Enum('day', 'month', 'year', 'approximate', name='date_precision', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('place', sa.String(length=300), nullable=True),
    sa.Column('village_ward', sa.String(length=300), nullable=True),
    sa.Column('township', sa.String(length=300), nullable=True),
    sa.Column('district', sa.String(length=300), nullable=True),
    sa.Column('state_region', sa.String(length=300), nullable=True),
    sa.Column('country', sa.String(length=300), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('victims_count', sa.Integer(), nullable=True),
    sa.Column('victims_group', sa.String(length=2000), nullable=True),
    sa.Column('status', sa.Enum('reported', 'under_investigation', 'corroborated', name='incident_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('updated_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_incidents_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_incidents_created_by_id_users')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_incidents_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_case_created', ['case_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_incidents_case_start', ['case_id', 'start_date'], unique=False)

    op.create_table('incident_categories',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('category', sa.Enum(*CATEGORIES, name='incident_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_categories_incident_id_incidents')),
    sa.PrimaryKeyConstraint('incident_id', 'category', name=op.f('pk_incident_categories'))
    )
    with op.batch_alter_table('incident_categories', schema=None) as batch_op:
        batch_op.create_index('ix_incident_categories_category', ['category', 'incident_id'], unique=False)

    op.create_table('incident_perpetrators',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('perpetrator_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_perpetrators_incident_id_incidents')),
    sa.ForeignKeyConstraint(['perpetrator_id'], ['perpetrators.id'], name=op.f('fk_incident_perpetrators_perpetrator_id_perpetrators')),
    sa.PrimaryKeyConstraint('incident_id', 'perpetrator_id', name=op.f('pk_incident_perpetrators'))
    )
    with op.batch_alter_table('incident_perpetrators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_perpetrators_perpetrator_id'), ['perpetrator_id'], unique=False)

    op.create_table('incident_evidence',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('evidence_id', sa.Uuid(), nullable=False),
    sa.Column('relation', sa.Enum('depicts', 'corroborates', 'contradicts', 'context', name='evidence_relation', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_incident_evidence_created_by_id_users')),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_incident_evidence_evidence_id_evidence')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_evidence_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_evidence')),
    sa.UniqueConstraint('incident_id', 'evidence_id', 'relation', name='uq_incident_evidence_link')
    )
    with op.batch_alter_table('incident_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_evidence_evidence_id'), ['evidence_id'], unique=False)

    _allow_actions(NEW_ACTIONS)


def downgrade() -> None:
    _allow_actions(OLD_ACTIONS)  # fails if the log already holds one of the new actions: kept
    with op.batch_alter_table('incident_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_evidence_evidence_id'))
    op.drop_table('incident_evidence')
    with op.batch_alter_table('incident_perpetrators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_perpetrators_perpetrator_id'))
    op.drop_table('incident_perpetrators')
    with op.batch_alter_table('incident_categories', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_categories_category')
    op.drop_table('incident_categories')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_case_start')
        batch_op.drop_index('ix_incidents_case_created')
    op.drop_table('incidents')
    op.drop_table('perpetrators')
