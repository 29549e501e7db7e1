"""payee safety: mpesa_number_change (number changes), payee_check, float_balance_query

Revision ID: 0011
Revises: 0010

An artisan's new M-Pesa number waits in ``mpesa_number_change`` until someone else confirms
it; a payout whose receiver's name does not match the artisan's is a ``payee_check`` that holds
their next payouts until cleared; ``float_balance_query`` keeps each Account Balance query of
the B2C shortcode and its answer (issue 21).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _status(*values: str) -> sa.Enum:
    return sa.Enum(*values, native_enum=False, create_constraint=False, length=24)


def upgrade() -> None:
    op.create_table(
        "mpesa_number_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artisan_id", sa.Integer(), nullable=False),
        sa.Column("old_masked", sa.String(length=16), nullable=False),
        sa.Column("new_masked", sa.String(length=16), nullable=False),
        sa.Column("new_number", sa.String(length=16), nullable=False),
        sa.Column("status", _status("pending", "confirmed", "superseded"), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["artisan_id"], ["person.id"], name=op.f("fk_mpesa_number_change_artisan_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["person.id"], name=op.f("fk_mpesa_number_change_requested_by_person")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["person.id"], name=op.f("fk_mpesa_number_change_confirmed_by_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpesa_number_change")),
    )
    op.create_index(
        op.f("ix_mpesa_number_change_artisan_id"), "mpesa_number_change", ["artisan_id"]
    )
    op.create_index(op.f("ix_mpesa_number_change_status"), "mpesa_number_change", ["status"])
    op.create_table(
        "payee_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artisan_id", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("registered_name", sa.String(length=80), nullable=False),
        sa.Column("receiver_name", sa.String(length=120), nullable=False),
        sa.Column("status", _status("held", "cleared"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cleared_by", sa.Integer(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["artisan_id"], ["person.id"], name=op.f("fk_payee_check_artisan_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payout.id"], name=op.f("fk_payee_check_payout_id_payout")
        ),
        sa.ForeignKeyConstraint(
            ["cleared_by"], ["person.id"], name=op.f("fk_payee_check_cleared_by_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payee_check")),
        sa.UniqueConstraint("payout_id", name=op.f("uq_payee_check_payout_id")),
    )
    op.create_index(op.f("ix_payee_check_artisan_id"), "payee_check", ["artisan_id"])
    op.create_index(op.f("ix_payee_check_status"), "payee_check", ["status"])
    op.create_table(
        "float_balance_query",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", _status("asked", "answered", "failed"), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("available_cents", sa.BigInteger(), nullable=True),
        sa.Column("result_desc", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_float_balance_query")),
    )
    op.create_index(op.f("ix_float_balance_query_status"), "float_balance_query", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_float_balance_query_status"), table_name="float_balance_query")
    op.drop_table("float_balance_query")
    op.drop_index(op.f("ix_payee_check_status"), table_name="payee_check")
    op.drop_index(op.f("ix_payee_check_artisan_id"), table_name="payee_check")
    op.drop_table("payee_check")
    op.drop_index(op.f("ix_mpesa_number_change_status"), table_name="mpesa_number_change")
    op.drop_index(op.f("ix_mpesa_number_change_artisan_id"), table_name="mpesa_number_change")
    op.drop_table("mpesa_number_change")
