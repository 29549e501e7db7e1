"""names per language: catalogue_name, what skills, components, materials and areas are called

Revision ID: 0014
Revises: 0013

One row per (kind, code, language): ``horn_carving`` is "horn carving" in English and "uchongaji
wa pembe" in Kiswahili. Rows of kind ``area`` are also the known areas typed names are matched to
(issue 16). Existing areas (field agents' and people's) are copied in under their own name, so a
database upgraded in place keeps knowing them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(*values: str) -> sa.Enum:
    return sa.Enum(*values, native_enum=False, create_constraint=False, length=24)


def upgrade() -> None:
    op.create_table(
        "catalogue_name",
        sa.Column("kind", _enum("skill", "component", "material", "area"), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("language", _enum("en", "sw"), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("kind", "code", "language", name=op.f("pk_catalogue_name")),
    )
    # The areas already in use become known areas, named as they are filed.
    op.execute(
        "INSERT INTO catalogue_name (kind, code, language, name) "
        "SELECT DISTINCT 'area', area, 'en', area FROM ("
        " SELECT area FROM agent_area"
        " UNION SELECT area FROM person WHERE area IS NOT NULL"
        ") AS areas"
    )


def downgrade() -> None:
    op.drop_table("catalogue_name")
