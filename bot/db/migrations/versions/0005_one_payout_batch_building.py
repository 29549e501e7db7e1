"""at most one payout batch is building: a partial unique index on payout_batch.status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 14:15:00.000000

Two builders starting at the same moment on PostgreSQL (the weekly job and an admin's
/make_payouts) could each begin a batch; with this index the second insert is refused and that
builder falls back to the first one's batch. The index covers only building rows, all with the same
status, so it holds at most one of them.

Racing builders each finished their own batch, so only a crash mid-race leaves two building;
such a database cannot take the index, and the upgrade stops naming them rather than choose.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_payout_batch_one_building"
BUILDING = "status = 'building'"


def upgrade() -> None:
    building = (
        op.get_bind()
        .execute(sa.text("SELECT id FROM payout_batch WHERE status = 'building' ORDER BY id"))
        .scalars()
        .all()
    )
    if len(building) > 1:
        ids = ", ".join(f"#{batch_id}" for batch_id in building)
        raise RuntimeError(
            f"payout batches {ids} are all still being built: finish or cancel all but one "
            "before upgrading"
        )
    op.create_index(
        INDEX,
        "payout_batch",
        ["status"],
        unique=True,
        postgresql_where=sa.text(BUILDING),
        sqlite_where=sa.text(BUILDING),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="payout_batch")
