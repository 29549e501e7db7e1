"""sms channel: a person's preferred channel, SMS segments and cost, SMS budget alerts

Revision ID: 0012
Revises: 0011

Issue 18 (SMS through Africa's Talking): ``person.preferred_channel`` is where business messages
go when a person has several identities; ``outbox_message`` learns when the provider accepted a
message (``sent_at``, which SMS budgets count by day), the SMS segments and reported cost, and
``fallback_of`` (an SMS sent instead of a WhatsApp message that could not go);
``sms_budget_alert`` remembers that admins were told a budget bit, once a day per scope.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNELS = ("whatsapp", "telegram", "console", "web", "sms", "shopify", "retailer_callback")


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(
            sa.Column(
                "preferred_channel",
                sa.Enum(*_CHANNELS, native_enum=False, create_constraint=False, length=24),
                nullable=True,
            )
        )
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("segments", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cost_e4", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cost_currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("fallback_of", sa.Integer(), nullable=True))
    op.create_index("ix_outbox_sent", "outbox_message", ["channel", "sent_at"])
    op.create_index(op.f("ix_outbox_message_fallback_of"), "outbox_message", ["fallback_of"])
    op.create_table(
        "sms_budget_alert",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("told_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", "scope", name=op.f("pk_sms_budget_alert")),
    )


def downgrade() -> None:
    op.drop_table("sms_budget_alert")
    op.drop_index(op.f("ix_outbox_message_fallback_of"), table_name="outbox_message")
    op.drop_index("ix_outbox_sent", table_name="outbox_message")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("fallback_of")
        batch.drop_column("cost_currency")
        batch.drop_column("cost_e4")
        batch.drop_column("segments")
        batch.drop_column("sent_at")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("preferred_channel")
