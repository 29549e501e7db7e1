"""names per language: reserved for issue 16, catalogue and area names per language

Revision ID: 0014
Revises: 0013

Empty until the work it is reserved for needs a schema change; kept so that parallel work keeps
one alembic head.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
