"""Orders that come in by machine: retailers' API keys, and the web shop's (Shopify's) orders and
webhook deliveries we already took, so a repeated delivery changes nothing."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.model.columns import UTCDateTime


class ApiKey(SQLModel, table=True):
    """A retailer's key to the orders API. Only the SHA-256 of its secret part is kept: the key
    itself is shown once, when it is made. ``key_id`` is the public prefix that finds the row."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=24, unique=True)
    secret_sha256: str = Field(max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class ExternalOrder(SQLModel, table=True):
    """Our order for an order in another system (``source`` "shopify", its order ``external_id``):
    one of ours per theirs, whatever is delivered twice."""

    __tablename__ = "external_order"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", name="uq_external_order_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=24)
    external_id: str = Field(max_length=64)
    order_id: int = Field(foreign_key="customer_order.id", unique=True)
    received_at: datetime = Field(sa_type=UTCDateTime())


class WebhookDelivery(SQLModel, table=True):
    """A webhook delivery already handled (Shopify's ``X-Shopify-Webhook-Id``)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("source", "delivery_id", name="uq_webhook_delivery_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=24)
    delivery_id: str = Field(max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime())
