"""impact and statements: reserved for issue 19, impact and statements

Revision ID: 0018
Revises: 0017

Empty until the work it is reserved for needs a schema change; kept so that parallel work keeps
one alembic head.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
