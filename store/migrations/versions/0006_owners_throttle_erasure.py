"""owners of contacts and negative lists, PIN throttle, erasure, evidence of feature matches

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_constraint("uq_contacts_domain", type_="unique")
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("verified_by", sa.String(length=64), nullable=True))
        batch.create_index("ix_contacts_domain", ["domain"])
    op.execute(
        "UPDATE contacts SET verified_at = created_at, verified_by = 'operator' "
        "WHERE created_by IS NULL"
    )
    with op.batch_alter_table("negative_list") as batch:
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("verified_by", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE negative_list SET verified_at = created_at, verified_by = actor "
        "WHERE organisation_id IS NULL"
    )
    with op.batch_alter_table("hashes") as batch:
        batch.alter_column("value", existing_type=sa.LargeBinary(length=64), nullable=True)
        batch.add_column(sa.Column("inactive_since", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE hashes SET inactive_since = CURRENT_TIMESTAMP WHERE active = false")
    with op.batch_alter_table("match_events") as batch:
        batch.alter_column("distance", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("inliers", sa.Integer(), nullable=True))
    op.execute("UPDATE match_events SET inliers = distance, distance = NULL WHERE signal = 'orb'")
    with op.batch_alter_table("sightings") as batch:
        batch.alter_column("distance", existing_type=sa.Integer(), nullable=True)
    op.execute("UPDATE sightings SET distance = NULL WHERE signal = 'orb'")
    op.create_table(
        "throttle_buckets",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle_buckets")),
    )


def downgrade() -> None:
    op.drop_table("throttle_buckets")
    op.execute("UPDATE sightings SET distance = 0 WHERE distance IS NULL")
    with op.batch_alter_table("sightings") as batch:
        batch.alter_column("distance", existing_type=sa.Integer(), nullable=False)
    op.execute("UPDATE match_events SET distance = inliers WHERE signal = 'orb'")
    with op.batch_alter_table("match_events") as batch:
        batch.drop_column("inliers")
        batch.alter_column("distance", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("hashes") as batch:
        batch.drop_column("inactive_since")
        batch.alter_column("value", existing_type=sa.LargeBinary(length=64), nullable=False)
    with op.batch_alter_table("negative_list") as batch:
        batch.drop_column("verified_by")
        batch.drop_column("verified_at")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_domain")
        batch.drop_column("verified_by")
        batch.drop_column("verified_at")
        batch.create_unique_constraint("uq_contacts_domain", ["domain", "role"])
