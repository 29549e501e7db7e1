"""admin confirmations: reserved for issue 16 and 21, confirmations and maker-checker

Revision ID: 0016
Revises: 0015

Empty until the work it is reserved for needs a schema change; kept so that parallel work keeps
one alembic head.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
