"""ussd sessions: where each USSD session stands (issue 18, USSD menu)

Revision ID: 0013
Revises: 0012

``ussd_session``: one row per Africa's Talking ``sessionId``: the screen shown, its state, and the
last step's path and response, so a replayed request gets the same answer and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ussd_session",
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("screen", sa.String(length=40), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_ussd_session")),
    )
    op.create_index(op.f("ix_ussd_session_updated_at"), "ussd_session", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ussd_session_updated_at"), table_name="ussd_session")
    op.drop_table("ussd_session")
