"""self-service cases: where a case comes from, and the page's proof-of-work challenges

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="ngo")
        )
    op.create_table(
        "self_service_challenges",
        sa.Column("challenge", sa.String(length=64), nullable=False),
        sa.Column("bits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("challenge", name=op.f("pk_self_service_challenges")),
    )
    op.create_index(
        op.f("ix_self_service_challenges_expires_at"),
        "self_service_challenges",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_self_service_challenges_expires_at"), table_name="self_service_challenges"
    )
    op.drop_table("self_service_challenges")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("source")
