"""initial registry

Revision ID: 0001
Revises:
Create Date: 2026-11-27 07:29:47.418945
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fingerprints")),
    )
    op.create_table(
        "hashes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("signal", sa.String(length=16), nullable=False),
        sa.Column("value", sa.LargeBinary(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hashes")),
        sa.UniqueConstraint("signal", "value", name=op.f("uq_hashes_signal")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("pdq_threshold", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_api_keys_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_number", sa.String(length=32), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_cases_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("case_number", name=op.f("uq_cases_case_number")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cases_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("hash_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("signal", sa.String(length=16), nullable=False),
        sa.Column("value", sa.LargeBinary(length=64), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hash_id"], ["hashes.id"], name=op.f("fk_changes_hash_id_hashes")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changes")),
    )
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.create_index("ix_changes_hash_id", ["hash_id"], unique=False)

    op.create_table(
        "fingerprint_hashes",
        sa.Column("fingerprint_id", sa.String(length=36), nullable=False),
        sa.Column("hash_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fingerprint_id"],
            ["fingerprints.id"],
            name=op.f("fk_fingerprint_hashes_fingerprint_id_fingerprints"),
        ),
        sa.ForeignKeyConstraint(
            ["hash_id"], ["hashes.id"], name=op.f("fk_fingerprint_hashes_hash_id_hashes")
        ),
        sa.PrimaryKeyConstraint("fingerprint_id", "hash_id", name=op.f("pk_fingerprint_hashes")),
    )
    with op.batch_alter_table("fingerprint_hashes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fingerprint_hashes_hash_id"), ["hash_id"], unique=False
        )

    op.create_table(
        "case_fingerprints",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("fingerprint_id", sa.String(length=36), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_fingerprints_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["fingerprint_id"],
            ["fingerprints.id"],
            name=op.f("fk_case_fingerprints_fingerprint_id_fingerprints"),
        ),
        sa.PrimaryKeyConstraint("case_id", "fingerprint_id", name=op.f("pk_case_fingerprints")),
    )
    with op.batch_alter_table("case_fingerprints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_fingerprints_fingerprint_id"), ["fingerprint_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("case_fingerprints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_fingerprints_fingerprint_id"))

    op.drop_table("case_fingerprints")
    with op.batch_alter_table("fingerprint_hashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fingerprint_hashes_hash_id"))

    op.drop_table("fingerprint_hashes")
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index("ix_changes_hash_id")

    op.drop_table("changes")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_organisation_id"))

    op.drop_table("cases")
    op.drop_table("api_keys")
    op.drop_table("organisations")
    op.drop_table("hashes")
    op.drop_table("fingerprints")
