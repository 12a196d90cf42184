"""frameworks: legal frameworks loaded by administrators, the crimes charged in a case, and the
proof links from their elements to evidence items or incidents (issue 12)

Revision ID: 5e1f7c2a9b30
Revises: c4a8e2f61d3b
Create Date: 2026-12-07 05:19:36

New tables only; frameworks shipped in the package are files, not rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casefile.db

revision = "5e1f7c2a9b30"
down_revision = "c4a8e2f61d3b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legal_frameworks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("framework_id", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("loaded_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loaded_by_id"], ["users.id"], name=op.f("fk_legal_frameworks_loaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_frameworks")),
        sa.UniqueConstraint("framework_id", "version", name="uq_legal_frameworks_id_version"),
    )
    op.create_table(
        "charges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("framework_id", sa.String(length=60), nullable=False),
        sa.Column("framework_version", sa.Integer(), nullable=False),
        sa.Column("crime_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_charges_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_charges_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
        sa.UniqueConstraint("case_id", "framework_id", "crime_id", name="uq_charges_case_crime"),
    )
    op.create_table(
        "proof_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=False),
        sa.Column("element_id", sa.String(length=40), nullable=False),
        sa.Column("evidence_id", sa.Uuid(), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column(
            "strength",
            sa.Enum(
                "lead",
                "supports",
                "establishes",
                "contests",
                name="proof_strength",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", casefile.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "(evidence_id IS NULL) <> (incident_id IS NULL)",
            name=op.f("ck_proof_links_one_target"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_proof_links_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charges.id"], name=op.f("fk_proof_links_charge_id_charges")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_proof_links_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_proof_links_evidence_id_evidence")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_proof_links_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_proof_links_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proof_links")),
        sa.UniqueConstraint(
            "charge_id", "element_id", "evidence_id", name="uq_proof_links_element_item"
        ),
        sa.UniqueConstraint(
            "charge_id", "element_id", "incident_id", name="uq_proof_links_element_incident"
        ),
    )
    with op.batch_alter_table("proof_links", schema=None) as batch_op:
        batch_op.create_index("ix_proof_links_case_charge", ["case_id", "charge_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_proof_links_evidence_id"), ["evidence_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_proof_links_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("proof_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proof_links_incident_id"))
        batch_op.drop_index(batch_op.f("ix_proof_links_evidence_id"))
        batch_op.drop_index("ix_proof_links_case_charge")

    op.drop_table("proof_links")
    op.drop_table("charges")
    op.drop_table("legal_frameworks")
