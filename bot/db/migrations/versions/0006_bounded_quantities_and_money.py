"""bounded quantities, prices and pay: CHECK constraints on every count and amount column

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00.000000

The database now refuses what the domain refuses (domain/limits.py): no count of pieces above
100,000, no price above KES 1,000,000, no piece rate above KES 100,000, no offer or allocation
paying more than KES 20,000,000 in all, no lead or assembly time beyond a year, no weekly capacity
above 10,000, and nothing negative. Before them an orders file of 10^12 pieces went in on SQLite
and then fell over on PostgreSQL's INTEGER columns.

The limits are written out here, as a revision never imports application code; the models declare
the same constraints (``domain.model.columns.within``) and tests/integration/test_migrations.py
compares the two. Alembic's autogenerate does not compare CHECK constraints, so a later change to a
limit needs a hand-written revision like this one.

A database holding a row beyond a limit cannot take its constraint; the upgrade stops and names
the rows rather than change anybody's numbers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PIECES = 100_000
PIECES_PER_UNIT = 1_000
WEEKLY_CAPACITY = 10_000
PRICE_CENTS = 100_000_000
PIECE_RATE_CENTS = 10_000_000
PAY_CENTS = 2_000_000_000
DAYS = 365
MATERIAL_PER_PIECE = "99999999.9999"
MATERIAL_AMOUNT = "999999999.999"


def _range(column: str, low: object, high: object, *, above: bool = False) -> tuple[str, str]:
    floor = f"{column} > {low}" if above else f"{column} >= {low}"
    return f"{column}_range", f"{floor} AND {column} <= {high}"


PAY = ("pay_range", f"CAST(quantity AS BIGINT) * piece_rate_cents <= {PAY_CENTS}")

CONSTRAINTS: dict[str, list[tuple[str, str]]] = {
    "component": [
        _range("piece_rate_cents", 1, PIECE_RATE_CENTS),
        _range("lead_time_days", 1, DAYS),
    ],
    "component_material": [
        _range("quantity_per_piece", 0, MATERIAL_PER_PIECE, above=True),
    ],
    "product": [
        _range("wholesale_price_cents", 1, PRICE_CENTS),
        _range("retail_price_cents", 1, PRICE_CENTS),
        _range("assembly_days", 0, DAYS),
        _range("assembly_cost_cents", 0, PRICE_CENTS),
    ],
    "bom_line": [_range("quantity_per_unit", 1, PIECES_PER_UNIT)],
    "artisan_skill": [_range("weekly_capacity", 0, WEEKLY_CAPACITY)],
    "material_stock": [_range("quantity", 0, MATERIAL_AMOUNT)],
    "material_request": [_range("quantity", 0, MATERIAL_AMOUNT, above=True)],
    "order_line": [
        _range("quantity", 1, PIECES),
        _range("unit_price_cents", 1, PRICE_CENTS),
    ],
    "job": [_range("quantity", 1, PIECES)],
    "offer": [
        _range("quantity", 1, PIECES),
        _range("piece_rate_cents", 1, PIECE_RATE_CENTS),
        PAY,
        _range("accepted_quantity", 0, "quantity"),
    ],
    "allocation": [
        _range("quantity", 1, PIECES),
        _range("piece_rate_cents", 1, PIECE_RATE_CENTS),
        PAY,
    ],
    "submission": [_range("count", 1, PIECES)],
    "qc_review": [_range("passed", 0, PIECES), _range("rejected", 0, PIECES)],
    "delivery": [
        _range("declared_quantity", 1, PIECES),
        _range("received_quantity", 0, PIECES),
    ],
    "workshop_visit": [_range("pieces_done", 0, PIECES)],
}


def _refuse_rows_beyond_the_limits() -> None:
    connection = op.get_bind()
    problems = []
    for table, checks in CONSTRAINTS.items():
        for _, condition in checks:
            # NOT (...) is NULL, so not selected, for a NULL the constraint lets through. The
            # statement is built from this file's own constants only.
            count = connection.execute(
                sa.text(f"SELECT COUNT(*) FROM {table} WHERE NOT ({condition})")  # noqa: S608
            ).scalar_one()
            if count:
                problems.append(f"{count} row(s) of {table} break {condition}")
    if problems:
        raise RuntimeError(
            "these rows are beyond the limits this revision adds; correct or remove them before "
            "upgrading: " + "; ".join(problems)
        )


def upgrade() -> None:
    _refuse_rows_beyond_the_limits()
    for table, checks in CONSTRAINTS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, condition in checks:
                batch_op.create_check_constraint(op.f(f"ck_{table}_{name}"), condition)


def downgrade() -> None:
    for table, checks in CONSTRAINTS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in reversed(checks):
                batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
