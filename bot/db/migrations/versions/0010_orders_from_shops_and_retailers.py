"""Orders from shops and retailers: API keys, Shopify's orders and webhook deliveries, and each
customer's callback URL and signing secret (issue 15, helper: orders in).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=24), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_api_key_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_key_key_id")),
    )
    op.create_index(op.f("ix_api_key_customer_id"), "api_key", ["customer_id"], unique=False)
    op.create_table(
        "external_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["customer_order.id"],
            name=op.f("fk_external_order_order_id_customer_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_order")),
        sa.UniqueConstraint("order_id", name=op.f("uq_external_order_order_id")),
        sa.UniqueConstraint("source", "external_id", name="uq_external_order_source"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint("source", "delivery_id", name="uq_webhook_delivery_source"),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("callback_secret", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("callback_secret")
        batch_op.drop_column("callback_url")
    op.drop_table("webhook_delivery")
    op.drop_table("external_order")
    op.drop_index(op.f("ix_api_key_customer_id"), table_name="api_key")
    op.drop_table("api_key")
