"""console speed: covering indexes for the statistics and the DSA yearly report

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:55:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (
    (
        "ix_notices_organisation_report",
        "notices",
        ["organisation_id", "id", "sighting_id", "status", "category", "round"],
    ),
    ("ix_sightings_counts", "sightings", ["id", "host", "signal", "first_seen"]),
    ("ix_notice_transitions_sent", "notice_transitions", ["to_status", "notice_id", "at"]),
    (
        "ix_notice_transitions_moves",
        "notice_transitions",
        ["notice_id", "at", "id", "to_status", "from_status"],
    ),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
