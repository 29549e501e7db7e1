"""questions to a person: an artisan's question to their area's field agent, and its answer

Revision ID: 0015
Revises: 0014

``question``: what an artisan asked ("Talk to a person"), the area they were in (whose field
agents answer it; the admins when nobody covers it), the answer with who gave it and when, and
when whoever answers was reminded that it still waits (once, after QUESTION_REMINDER_AFTER).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artisan_id", sa.Integer(), nullable=False),
        sa.Column("area", sa.String(length=60), nullable=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("answer", sa.String(length=500), nullable=True),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["person.id"], name=op.f("fk_question_answered_by_person")
        ),
        sa.ForeignKeyConstraint(
            ["artisan_id"], ["person.id"], name=op.f("fk_question_artisan_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question")),
    )
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_answered_at"), ["answered_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_artisan_id"), ["artisan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_asked_at"), ["asked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_asked_at"))
        batch_op.drop_index(batch_op.f("ix_question_artisan_id"))
        batch_op.drop_index(batch_op.f("ix_question_answered_at"))
    op.drop_table("question")
