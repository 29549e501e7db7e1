"""impact and statements: impact_answers, income_statement

Revision ID: 0018
Revises: 0017

Issue 19. ``impact_answers`` keeps the two optional, consented answers an artisan may give for the
impact reports (income per month before joining; whether the workshop is led by a woman).
``income_statement`` keeps each month's statement an artisan took as a PDF: the printed totals
and the sha256 of its verification code (never the code), until the artisan revokes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "impact_answers",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("consented_at", sa.DateTime(), nullable=False),
        sa.Column("prior_income_cents", sa.Integer(), nullable=True),
        sa.Column("women_led", sa.String(length=24), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "prior_income_cents >= 0 AND prior_income_cents <= 2000000000",
            name=op.f("ck_impact_answers_prior_income_cents_range"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_impact_answers_person_id_person")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_impact_answers")),
    )
    op.create_table(
        "income_statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("artisan_id", sa.Integer(), nullable=False),
        sa.Column("artisan_name", sa.String(length=80), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("pieces", sa.Integer(), nullable=False),
        sa.Column("earned_cents", sa.Integer(), nullable=False),
        sa.Column("deductions_cents", sa.Integer(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["artisan_id"], ["person.id"], name=op.f("fk_income_statement_artisan_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_income_statement")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_income_statement_code_hash")),
    )
    with op.batch_alter_table("income_statement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_income_statement_artisan_id"), ["artisan_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("income_statement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_income_statement_artisan_id"))
    op.drop_table("income_statement")
    op.drop_table("impact_answers")
