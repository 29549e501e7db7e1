"""What each artisan has in stock, and what they asked us for to finish a job."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.limits import MAX_MATERIAL_AMOUNT
from domain.model.columns import UTCDateTime, enum_type, within
from domain.statemachine import Transitions


class MaterialRequestStatus(StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"  # handed over by a field agent or admin (``closed_by``)
    CANCELLED = "cancelled"
    DECLINED = "declined"  # a field agent or admin could not supply it (``decline_reason``)


MATERIAL_REQUEST_TRANSITIONS = Transitions[MaterialRequestStatus](
    "material request",
    {
        MaterialRequestStatus.OPEN: frozenset(
            {
                MaterialRequestStatus.FULFILLED,
                MaterialRequestStatus.CANCELLED,
                MaterialRequestStatus.DECLINED,
            }
        ),
        MaterialRequestStatus.FULFILLED: frozenset(),
        MaterialRequestStatus.CANCELLED: frozenset(),
        MaterialRequestStatus.DECLINED: frozenset(),
    },
)


MAX_DECLINE_REASON = 200


class MaterialStock(SQLModel, table=True):
    __tablename__ = "material_stock"
    __table_args__ = (within("quantity", 0, MAX_MATERIAL_AMOUNT),)

    artisan_id: int = Field(foreign_key="person.id", primary_key=True)
    material: str = Field(max_length=40, primary_key=True)
    quantity: Decimal = Field(sa_type=sa.Numeric(12, 3), ge=0)
    unit: str = Field(max_length=12)
    updated_at: datetime = Field(sa_type=UTCDateTime())


class MaterialRequest(SQLModel, table=True):
    __tablename__ = "material_request"
    __table_args__ = (within("quantity", 0, MAX_MATERIAL_AMOUNT, above=True),)

    id: int | None = Field(default=None, primary_key=True)
    artisan_id: int = Field(foreign_key="person.id", index=True)
    allocation_id: int | None = Field(default=None, foreign_key="allocation.id")
    material: str = Field(max_length=40)
    quantity: Decimal = Field(sa_type=sa.Numeric(12, 3), gt=0)
    unit: str = Field(max_length=12)
    status: MaterialRequestStatus = Field(
        default=MaterialRequestStatus.OPEN, sa_type=enum_type(MaterialRequestStatus), index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # Who handed it over, declined or cancelled it (null while open, and for rows closed before
    # migration 0009).
    closed_by: int | None = Field(default=None, foreign_key="person.id")
    decline_reason: str | None = Field(default=None, max_length=MAX_DECLINE_REASON)
