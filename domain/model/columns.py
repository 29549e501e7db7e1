"""Column types shared by every table: aware UTC timestamps and enums stored as plain text."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


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


def utc_column(*, nullable: bool = False, **kwargs: Any) -> sa.Column[datetime]:
    return sa.Column(UTCDateTime(), nullable=nullable, **kwargs)
