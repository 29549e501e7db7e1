"""ussd sessions: reserved for issue 18, USSD menu

Revision ID: 0013
Revises: 0012

Empty until the work it is reserved for needs a schema change; kept so that parallel work keeps
one alembic head.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
