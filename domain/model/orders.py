"""Customers, their orders, and the component jobs an order is exploded into."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.limits import (
    MAX_CARRIER_LENGTH,
    MAX_PIECES,
    MAX_PRICE_CENTS,
    MAX_TRACKING_LENGTH,
)
from domain.model.columns import UTCDateTime, enum_type, within
from domain.statemachine import Transitions


class CustomerKind(StrEnum):
    RETAILER = "retailer"
    WEB_SHOP = "web_shop"


class OrderStatus(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    IN_PRODUCTION = "in_production"
    READY = "ready"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


ORDER_TRANSITIONS = Transitions[OrderStatus](
    "order",
    {
        OrderStatus.DRAFT: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
        OrderStatus.CONFIRMED: frozenset({OrderStatus.IN_PRODUCTION, OrderStatus.CANCELLED}),
        OrderStatus.IN_PRODUCTION: frozenset({OrderStatus.READY, OrderStatus.CANCELLED}),
        OrderStatus.READY: frozenset({OrderStatus.SHIPPED}),
        OrderStatus.SHIPPED: frozenset(),
        OrderStatus.CANCELLED: frozenset(),
    },
)


class JobStatus(StrEnum):
    OPEN = "open"
    IN_PRODUCTION = "in_production"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


JOB_TRANSITIONS = Transitions[JobStatus](
    "job",
    {
        JobStatus.OPEN: frozenset({JobStatus.IN_PRODUCTION, JobStatus.CANCELLED}),
        JobStatus.IN_PRODUCTION: frozenset(
            {JobStatus.OPEN, JobStatus.COMPLETED, JobStatus.CANCELLED}
        ),
        JobStatus.COMPLETED: frozenset(),
        JobStatus.CANCELLED: frozenset(),
    },
)

OPEN_JOB_STATUSES = frozenset({JobStatus.OPEN, JobStatus.IN_PRODUCTION})


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    kind: CustomerKind = Field(sa_type=enum_type(CustomerKind))
    contact: str | None = Field(default=None, max_length=120)
    # Where a retailer wants to hear about its orders (confirmed, ready, shipped), and the key
    # that signs what we POST there (HMAC-SHA256); without a URL it asks GET /api/orders/{ref}.
    callback_url: str | None = Field(default=None, max_length=500)
    callback_secret: str | None = Field(default=None, max_length=128)


class Order(SQLModel, table=True):
    __tablename__ = "customer_order"  # "order" is an SQL keyword
    __table_args__ = (sa.UniqueConstraint("customer_id", "reference", name="uq_order_reference"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    reference: str = Field(max_length=60)
    status: OrderStatus = Field(
        default=OrderStatus.DRAFT, sa_type=enum_type(OrderStatus), index=True
    )
    due_date: date
    created_at: datetime = Field(sa_type=UTCDateTime())
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    cancel_reason: str | None = Field(default=None, max_length=200)
    # Recorded by /ship; both optional (a customer collecting needs neither).
    carrier: str | None = Field(default=None, max_length=MAX_CARRIER_LENGTH)
    tracking_reference: str | None = Field(default=None, max_length=MAX_TRACKING_LENGTH)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "product_id", name="uq_line_product"),
        within("quantity", 1, MAX_PIECES),
        within("unit_price_cents", 1, MAX_PRICE_CENTS),
        within("assembled_quantity", 0, "quantity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="customer_order.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    quantity: int = Field(gt=0)
    unit_price_cents: int = Field(gt=0)
    # Units assembled so far at the central workshop (``record_assembly``), up to ``quantity``.
    assembled_quantity: int = Field(default=0, ge=0)


class Job(SQLModel, table=True):
    """``quantity`` pieces of one component for one order line, due by ``due_date``."""

    __table_args__ = (
        sa.UniqueConstraint("order_line_id", "component_id", name="uq_job_line"),
        within("quantity", 1, MAX_PIECES),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_line_id: int = Field(foreign_key="order_line.id", index=True)
    component_id: int = Field(foreign_key="component.id", index=True)
    quantity: int = Field(gt=0)
    due_date: date = Field(index=True)
    status: JobStatus = Field(default=JobStatus.OPEN, sa_type=enum_type(JobStatus), index=True)
    created_at: datetime = Field(sa_type=UTCDateTime())
