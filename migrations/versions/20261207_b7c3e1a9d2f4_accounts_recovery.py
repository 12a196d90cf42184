"""accounts: recovery codes, forced password change after an administrator's reset, the
pending two-factor secret kept (sealed) in the login session, new security event types

Revision ID: b7c3e1a9d2f4
Revises: 9d2e41c7a0b5
Create Date: 2026-12-07 02:20:00

The security log's event column is a string with a CHECK constraint listing the event
names; the new names need a new constraint. PostgreSQL replaces it in place; SQLite cannot
alter a constraint, so the table is copied (its append-only triggers dropped and made again
around the copy; the copy keeps every row and id).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db
from casefile.db_triggers import append_only, drop_append_only

revision = 'b7c3e1a9d2f4'
down_revision = '9d2e41c7a0b5'
branch_labels = None
depends_on = None

OLD_EVENTS = (
    'login_succeeded', 'login_failed', 'locked_out', 'logout', 'totp_failed',
    'password_changed', 'totp_enabled', 'totp_disabled', 'totp_reset', 'token_created',
    'token_revoked', 'token_refused', 'account_created', 'account_disabled', 'account_enabled',
)
NEW_EVENTS = (
    *OLD_EVENTS,
    'account_unlocked', 'password_reset', 'recovery_codes_generated', 'recovery_code_used',
)
CHECK = 'ck_security_events_security_event_type'


def _events_table(events: tuple[str, ...]) -> sa.Table:
    """security_events as the foundation revision made it, with `events` allowed."""
    return sa.Table(
        'security_events',
        sa.MetaData(naming_convention=casefile.db.NAMING_CONVENTION),
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('time', casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('event', sa.Enum(*events, name='security_event_type', native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=True),
        sa.Column('actor_id', sa.Uuid(), nullable=True),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('client_address', sa.String(length=64), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name='fk_security_events_actor_id_users'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_security_events_user_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_security_events'),
        sa.Index('ix_security_events_user_id', 'user_id'),
    )


def _allow_events(events: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.drop_constraint(op.f(CHECK), 'security_events', type_='check')
        quoted = ', '.join(f"'{name}'" for name in events)
        op.create_check_constraint(op.f(CHECK), 'security_events', sa.text(f'event IN ({quoted})'))
        return
    for statement in drop_append_only('security_events', dialect):
        op.execute(statement)
    with op.batch_alter_table(
        'security_events', recreate='always', copy_from=_events_table(events)
    ):
        pass
    for statement in append_only('security_events', dialect):
        op.execute(statement)


def upgrade() -> None:
    op.create_table('recovery_codes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)

    op.add_column('users', sa.Column('password_must_change', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('login_sessions', sa.Column('totp_pending_wrapped', sa.LargeBinary(), nullable=True))
    _allow_events(NEW_EVENTS)


def downgrade() -> None:
    _allow_events(OLD_EVENTS)  # fails if the log already holds one of the new events: kept
    op.drop_column('login_sessions', 'totp_pending_wrapped')
    op.drop_column('users', 'password_must_change')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
