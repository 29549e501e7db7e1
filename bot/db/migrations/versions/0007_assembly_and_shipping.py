"""assembly and shipping: lines assembled a few units at a time, staff at the workshop, carriers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 01:30:00.000000

Components arrive at the central workshop in lots, so an order line is now assembled a few units
at a time: ``assembly`` keeps one row per assembly recorded, with its ``units`` (no longer one
row per line), and ``order_line.assembled_quantity`` their sum, which the database keeps between
0 and the line's quantity. ``person.at_workshop`` marks the field agents who work at the central
workshop and may record assemblies. ``customer_order.carrier`` and ``tracking_reference`` are
what /ship records.

A line assembled before this revision was assembled whole: its row gets the line's quantity as
its units, and the line that quantity as assembled.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PIECES = 100_000
CARRIER_LENGTH = 60
TRACKING_LENGTH = 80

ASSEMBLED = "assembled_quantity >= 0 AND assembled_quantity <= quantity"
UNITS = f"units >= 1 AND units <= {PIECES}"


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("at_workshop", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column("at_workshop", server_default=None)

    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("carrier", sa.String(length=CARRIER_LENGTH), nullable=True))
        batch_op.add_column(
            sa.Column("tracking_reference", sa.String(length=TRACKING_LENGTH), nullable=True)
        )

    with op.batch_alter_table("assembly", schema=None) as batch_op:
        batch_op.add_column(sa.Column("units", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE assembly SET units = "
        "(SELECT quantity FROM order_line WHERE order_line.id = assembly.order_line_id)"
    )
    with op.batch_alter_table("assembly", schema=None) as batch_op:
        batch_op.alter_column("units", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(op.f("uq_assembly_order_line_id"), type_="unique")
        batch_op.create_index(op.f("ix_assembly_order_line_id"), ["order_line_id"], unique=False)
        batch_op.create_check_constraint(op.f("ck_assembly_units_range"), UNITS)

    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assembled_quantity", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE order_line SET assembled_quantity = quantity "
        "WHERE id IN (SELECT order_line_id FROM assembly)"
    )
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.alter_column("assembled_quantity", existing_type=sa.Integer(), server_default=None)
        batch_op.create_check_constraint(op.f("ck_order_line_assembled_quantity_range"), ASSEMBLED)


def _refuse_partly_assembled_lines() -> None:
    """Before this revision a line was assembled whole or not at all; a line assembled in part
    cannot be written back that way, so the downgrade stops and names how many there are."""
    count = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT COUNT(*) FROM order_line "
                "WHERE assembled_quantity > 0 AND assembled_quantity < quantity"
            )
        )
        .scalar_one()
    )
    if count:
        raise RuntimeError(
            f"{count} order line(s) are partly assembled, which the schema before revision 0007 "
            "cannot hold; finish assembling them (or remove their assemblies) before downgrading"
        )


def downgrade() -> None:
    _refuse_partly_assembled_lines()
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_line_assembled_quantity_range"), type_="check")
        batch_op.drop_column("assembled_quantity")

    # One row per line again: the earliest assembly of each line stands for the whole line.
    op.execute(
        "DELETE FROM assembly WHERE id NOT IN (SELECT MIN(id) FROM assembly GROUP BY order_line_id)"
    )
    with op.batch_alter_table("assembly", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_assembly_units_range"), type_="check")
        batch_op.drop_index(op.f("ix_assembly_order_line_id"))
        batch_op.create_unique_constraint(op.f("uq_assembly_order_line_id"), ["order_line_id"])
        batch_op.drop_column("units")

    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.drop_column("tracking_reference")
        batch_op.drop_column("carrier")

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("at_workshop")
