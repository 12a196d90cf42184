"""foundation: accounts, cases, members, security log

Revision ID: 6a8d6395385b
Revises: (none)
Create Date: 2026-11-27 21:08:42.456814
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db
from casefile.db_triggers import append_only, drop_append_only

revision = '6a8d6395385b'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('disabled_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('totp_enabled_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('forum', sa.Enum('icj', 'icc', 'uj', name='forum', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('court', sa.String(length=300), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('ern_pattern', sa.String(length=100), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_cases_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    op.create_table('security_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('time', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event', sa.Enum('login_succeeded', 'login_failed', 'locked_out', 'logout', 'totp_failed', 'password_changed', 'totp_enabled', 'totp_disabled', 'totp_reset', 'token_created', 'token_revoked', 'token_refused', 'account_created', 'account_disabled', 'account_enabled', name='security_event_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_security_events_actor_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_security_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_events'))
    )
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_events_user_id'), ['user_id'], unique=False)

    op.create_table('case_members',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.Enum('lead', 'lawyer', 'investigator', 'viewer', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('added_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_case_members_added_by_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_members_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_members_user_id_users')),
    sa.PrimaryKeyConstraint('case_id', 'user_id', name=op.f('pk_case_members'))
    )
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_members_user_id'), ['user_id'], unique=False)

    # The security log is evidence of who tried what: the database refuses to rewrite it.
    for statement in append_only("security_events", op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only("security_events", op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_members_user_id'))

    op.drop_table('case_members')
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_events_user_id'))

    op.drop_table('security_events')
    op.drop_table('cases')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
