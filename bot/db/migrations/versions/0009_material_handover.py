"""material requests remember who closed them and why one was declined

Revision ID: 0009
Revises: 0008

``material_request.closed_by``: the field agent or admin who handed the material over or could
not supply it (or whoever cancelled it); null while open and for rows closed before this revision.
``material_request.decline_reason``: the short reason given with "Can't". The new status
``declined`` needs no change: statuses are stored as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("material_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decline_reason", sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_material_request_closed_by_person"), "person", ["closed_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("material_request", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_material_request_closed_by_person"), type_="foreignkey"
        )
        batch_op.drop_column("decline_reason")
        batch_op.drop_column("closed_by")
