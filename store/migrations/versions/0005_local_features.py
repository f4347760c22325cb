"""local features

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:23:14.659846
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "local_features",
        sa.Column("hash_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hash_id"], ["hashes.id"], name=op.f("fk_local_features_hash_id_hashes")
        ),
        sa.PrimaryKeyConstraint("hash_id", name=op.f("pk_local_features")),
    )


def downgrade() -> None:
    op.drop_table("local_features")
