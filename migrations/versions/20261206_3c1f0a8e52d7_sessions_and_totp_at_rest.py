"""server-side sign-in sessions, encrypted TOTP secrets, no more account lockout

Revision ID: 3c1f0a8e52d7
Revises: 3f67b9cbfd6f
Create Date: 2026-12-06 19:48:51.190555

users.totp_secret (plain base32) stays for now: a migration cannot reach the KEK, so
`casefile init`, `casefile keys rotate` and the next sign-in of each person encrypt what is
left into users.totp_secret_wrapped and empty the old column (logic/totp_secrets.py).
users.failed_logins and users.locked_until go: sign-in throttling replaced the lockout.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = '3c1f0a8e52d7'
down_revision = '3f67b9cbfd6f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_sessions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_login_sessions_token_hash'))
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)

    # Plain ALTER TABLE (SQLite 3.35+ drops columns natively): no batch copy of `users`,
    # which every other table references.
    op.add_column('users', sa.Column('totp_secret_wrapped', sa.LargeBinary(), nullable=True))
    op.drop_column('users', 'failed_logins')
    op.drop_column('users', 'locked_until')


def downgrade() -> None:
    op.add_column('users', sa.Column('locked_until', casefile.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
    op.drop_column('users', 'totp_secret_wrapped')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))
    op.drop_table('login_sessions')
