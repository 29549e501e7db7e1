"""admin confirmations: reserved for issue 16 and 21, confirmations and maker-checker

Revision ID: 0016
Revises: 0015

No schema change was needed, so this revision changes nothing (it keeps the chain whole): a
confirmation waiting for yes/no is conversation state (the ``approve_payouts`` and ``broadcast``
flows), maker-checker reads ``payout_batch.created_by``, and the float check reads
``float_balance_query``, all there before.
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
