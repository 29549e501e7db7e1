"""staff console login: console_login_attempt, console_login_code, console_session

Revision ID: 0017
Revises: 0016

The staff web console (issue 19) logs staff in with a one-time code sent over their own chat:
``console_login_code`` keeps each code's keyed digest (never the code), its expiry and use;
``console_login_attempt`` counts requests and wrong codes per number digest and client address
for the rate limits; ``console_session`` keeps each signed-in browser's token digest until it
expires or ``/logout_all`` ends it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("number_digest", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_login_attempt")),
    )
    with op.batch_alter_table("console_login_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_login_attempt_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_console_login_attempt_client"), ["client"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_console_login_attempt_number_digest"), ["number_digest"], unique=False
        )
    op.create_table(
        "console_login_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("wrong_tries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_console_login_code_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_login_code")),
    )
    with op.batch_alter_table("console_login_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_login_code_person_id"), ["person_id"], unique=False
        )
    op.create_table(
        "console_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_console_session_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_session")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_console_session_token_digest")),
    )
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_session_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_session_person_id"))
    op.drop_table("console_session")
    with op.batch_alter_table("console_login_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_login_code_person_id"))
    op.drop_table("console_login_code")
    with op.batch_alter_table("console_login_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_login_attempt_number_digest"))
        batch_op.drop_index(batch_op.f("ix_console_login_attempt_client"))
        batch_op.drop_index(batch_op.f("ix_console_login_attempt_at"))
    op.drop_table("console_login_attempt")
