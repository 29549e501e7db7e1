"""cancellation settlement: a cancelled allocation's grace and the write-offs of passed pieces

Revision ID: 0008
Revises: 0007

When a job is cancelled its active allocations are cancelled with ``cancelled_at`` and
``submit_by`` (the last factory-local day made pieces are still accepted for QC; the rule is in
domain/services/jobs.py). ``write_off`` records passed pieces of a cancelled job an admin paid
without a delivery (``/writeoff``), with who, when and why; the ledger holds the money.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PIECES = 100_000
PAY_CENTS = 2_000_000_000


def upgrade() -> None:
    with op.batch_alter_table("allocation") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("submit_by", sa.Date(), nullable=True))
    op.create_table(
        "write_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("pieces", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("written_off_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            f"pieces >= 1 AND pieces <= {PIECES}", name=op.f("ck_write_off_pieces_range")
        ),
        sa.CheckConstraint(
            f"amount_cents >= 1 AND amount_cents <= {PAY_CENTS}",
            name=op.f("ck_write_off_amount_cents_range"),
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("fk_write_off_allocation_id_allocation")
        ),
        sa.ForeignKeyConstraint(
            ["written_off_by"], ["person.id"], name=op.f("fk_write_off_written_off_by_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_off")),
    )
    op.create_index(op.f("ix_write_off_allocation_id"), "write_off", ["allocation_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_write_off_allocation_id"), table_name="write_off")
    op.drop_table("write_off")
    with op.batch_alter_table("allocation") as batch:
        batch.drop_column("submit_by")
        batch.drop_column("cancelled_at")
