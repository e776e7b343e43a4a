"""Gateway: user passwords, signing keys, API keys, entitlements and the hash-chained audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = "role IN ('admin', 'analyst', 'viewer')"


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("password_hash", sa.String(length=300), nullable=True))
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=8), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        _utc("created_at"),
        _utc("retired_at", nullable=True),
        _utc("verify_until", nullable=True),
        sa.CheckConstraint("algorithm IN ('ES256', 'RS256')", name="ck_signing_keys_algorithm"),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _utc("created_at"),
        _utc("expires_at", nullable=True),
        _utc("last_used_at", nullable=True),
        _utc("revoked_at", nullable=True),
        sa.CheckConstraint(ROLES, name="ck_api_keys_role"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_keys_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "entitlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        _utc("granted_at"),
        sa.Column("granted_by", sa.String(length=320), nullable=True),
        sa.CheckConstraint(
            "product IN ('prices', 'curves', 'fundamentals', 'scenarios', 'downloads')",
            name="ck_entitlements_product",
        ),
        sa.CheckConstraint("channel IN ('hub', 'api', 'downloads')", name="ck_entitlements_channel"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_entitlements_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_entitlements"),
        sa.UniqueConstraint(
            "tenant_id",
            "market",
            "product",
            "channel",
            name="uq_entitlements_tenant_id_market_product_channel",
        ),
    )
    op.create_index("ix_entitlements_tenant_id", "entitlements", ["tenant_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        _utc("occurred_at"),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_occurred_at", "audit_log", ["occurred_at"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.create_table(
        "audit_archives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("first_prev_hash", sa.String(length=64), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("object_path", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_archives"),
    )


def downgrade() -> None:
    op.drop_table("audit_archives")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_occurred_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_entitlements_tenant_id", table_name="entitlements")
    op.drop_table("entitlements")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("signing_keys")
    with op.batch_alter_table("users") as users:
        users.drop_column("password_hash")
