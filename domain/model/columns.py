"""Column types shared by every table: aware UTC timestamps and enums stored as plain text."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

# Named constraints, so a later migration can drop or alter one by name on every backend (SQLite's
# batch mode cannot address an unnamed constraint). Set here because every table module imports
# this one before declaring its tables.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite has none) and always hands back an aware UTC datetime."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous here: pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def enum_type(enum: type[StrEnum]) -> sa.Enum:
    """A portable enum column: VARCHAR of the values, no native PostgreSQL type to migrate."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
    )


def within(column: str, low: object, high: object, *, above: bool = False) -> sa.CheckConstraint:
    """A CHECK that ``column`` lies from ``low`` (or ``above`` it) to ``high`` (``domain.limits``),
    named ``ck_<table>_<column>_range``: the database refuses what the domain refuses. NULL
    passes, as a nullable column must."""
    floor = f"{column} > {low}" if above else f"{column} >= {low}"
    return sa.CheckConstraint(f"{floor} AND {column} <= {high}", name=f"{column}_range")


def pay_within(most: int) -> sa.CheckConstraint:
    """A CHECK that ``quantity`` pieces at ``piece_rate_cents`` pay at most ``most`` cents; the
    product is taken in 64 bits, as PostgreSQL would overflow an INTEGER before comparing."""
    return sa.CheckConstraint(
        f"CAST(quantity AS BIGINT) * piece_rate_cents <= {most}", name="pay_range"
    )
