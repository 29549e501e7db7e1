"""payout batches remember who asked for them: payout_batch.created_by

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 11:30:00.000000

Null for the scheduler's weekly batches and for batches made before this revision (only the
PayoutBatchCreated event carried the admin then); the admin's person id otherwise.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payout_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_payout_batch_created_by_person"), "person", ["created_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payout_batch", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_payout_batch_created_by_person"), type_="foreignkey"
        )
        batch_op.drop_column("created_by")
