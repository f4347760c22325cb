"""videos: the time ranges of registered frame hashes, and both shares of a video match

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "video_frames",
        sa.Column("fingerprint_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("crop", sa.Integer(), nullable=False),
        sa.Column("hash_id", _BIG_ID, nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fingerprint_id"],
            ["fingerprints.id"],
            name=op.f("fk_video_frames_fingerprint_id_fingerprints"),
        ),
        sa.ForeignKeyConstraint(
            ["hash_id"], ["hashes.id"], name=op.f("fk_video_frames_hash_id_hashes")
        ),
        sa.PrimaryKeyConstraint("fingerprint_id", "position", "crop", name=op.f("pk_video_frames")),
    )
    op.create_index("ix_video_frames_hash_id", "video_frames", ["hash_id"])
    with op.batch_alter_table("match_events") as batch:
        batch.add_column(sa.Column("query_share", sa.Float(), nullable=True))
        batch.add_column(sa.Column("registered_share", sa.Float(), nullable=True))
        batch.add_column(sa.Column("query_range", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("registered_range", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_events") as batch:
        batch.drop_column("registered_range")
        batch.drop_column("query_range")
        batch.drop_column("registered_share")
        batch.drop_column("query_share")
    op.drop_index("ix_video_frames_hash_id", table_name="video_frames")
    op.drop_table("video_frames")
