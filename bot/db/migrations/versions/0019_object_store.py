"""object store: reserved for issue 20, object store

Revision ID: 0019
Revises: 0018

Empty until the work it is reserved for needs a schema change; kept so that parallel work keeps
one alembic head.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
