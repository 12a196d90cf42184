"""exports: a new status, purged (a stored bundle destroyed because an item it holds was deleted)

Revision ID: a9d4e2c7b1f5
Revises: f3b8d6a2c1e9
Create Date: 2026-12-07 15:40:00

The status column is a string with a CHECK constraint listing the statuses; the new status
needs a new constraint. PostgreSQL replaces it in place; SQLite cannot alter a constraint, so
the table is copied (every row kept).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = 'a9d4e2c7b1f5'
down_revision = 'f3b8d6a2c1e9'
branch_labels = None
depends_on = None

OLD_STATUSES = ('queued', 'running', 'done', 'failed')
NEW_STATUSES = (*OLD_STATUSES, 'purged')
CHECK = 'ck_exports_export_status'


def _exports_table(statuses: tuple[str, ...]) -> sa.Table:
    """exports as the revisions before made it, with `statuses` allowed."""
    return sa.Table(
        'exports',
        sa.MetaData(naming_convention=casefile.db.NAMING_CONVENTION),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('filing_id', sa.Uuid(), nullable=False),
        sa.Column('case_id', sa.Uuid(), nullable=False),
        sa.Column('requested_by_id', sa.Uuid(), nullable=True),
        sa.Column('status', sa.Enum(*statuses, name='export_status', native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column('progress_done', sa.Integer(), nullable=False),
        sa.Column('progress_total', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=200), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('warnings', sa.Text(), nullable=False),
        sa.Column('exhibits', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('started_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('heartbeat_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', casefile.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('bundle_name', sa.String(length=200), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('tagmanifest_sha256', sa.String(length=64), nullable=True),
        sa.Column('blob_id', sa.String(length=64), nullable=True),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
        sa.Column('age_recipients', sa.Text(), server_default='[]', nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_exports_case_id_cases'),
        sa.ForeignKeyConstraint(['filing_id'], ['filings.id'], name='fk_exports_filing_id_filings'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name='fk_exports_requested_by_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_exports'),
        sa.Index('ix_exports_case_id', 'case_id'),
        sa.Index('ix_exports_filing_id', 'filing_id'),
    )


def _allow_statuses(statuses: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f(CHECK), 'exports', type_='check')
        quoted = ', '.join(f"'{name}'" for name in statuses)
        op.create_check_constraint(op.f(CHECK), 'exports', sa.text(f'status IN ({quoted})'))
        return
    with op.batch_alter_table('exports', recreate='always', copy_from=_exports_table(statuses)):
        pass


def upgrade() -> None:
    _allow_statuses(NEW_STATUSES)


def downgrade() -> None:
    purged = op.get_bind().execute(
        sa.text("SELECT COUNT(*) FROM exports WHERE status = 'purged'")
    ).scalar_one()
    if purged:  # refused before the table is touched (SQLite would leave its copy behind)
        raise RuntimeError(
            f"{purged} exports are purged (their bundles destroyed): this revision cannot be "
            "undone while they are; nothing was changed"
        )
    _allow_statuses(OLD_STATUSES)
