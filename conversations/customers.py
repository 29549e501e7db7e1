"""What customers hear about their orders, queued in the outbox with the change that caused it.

Customers are not people in a chat: the web shop is told through Shopify's Admin API (a shipped
order becomes a fulfillment there, with its tracking), and a retailer through the callback URL it
gave us (``karakana customers set-callback``), as a signed JSON POST when its order is confirmed,
ready and shipped. The senders are in bot/channels/customers.py; here the events become outbox
rows (``Channel.SHOPIFY`` to the Shopify order id, ``Channel.RETAILER_CALLBACK`` to the
customer), in the same transaction as the event, so they are sent exactly when the change
commits, retried, and kept as dead letters like any message. A retailer without a callback URL
reads the same state from ``GET /api/orders/{ref}``.

Each row's body is a ``Reply`` whose text is the JSON to send; ``event_id`` in it names the
news once (``order-12-shipped``) so a receiver can drop a repeat.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Reply
from conversations.notices import NoticeContext, NoticeTable
from conversations.outbox import enqueue
from domain import events
from domain.model import Channel, Customer, Order, OutboxKind
from domain.services.intake import SHOPIFY, external_order_id, order_status

CONFIRMED = "order.confirmed"
READY = "order.ready"
SHIPPED = "order.shipped"


def callback_address(customer_id: int) -> str:
    """A retailer's address in the outbox: its messages go in order, one customer at a time."""
    return f"customer-{customer_id}"


def customer_of_address(address: str) -> int | None:
    prefix, _, number = address.partition("-")
    return int(number) if prefix == "customer" and number.isdigit() else None


async def _queue(
    session: AsyncSession, channel: Channel, address: str, payload: dict[str, object], now: datetime
) -> int:
    await enqueue(
        session,
        channel=channel,
        address=address,
        reply=Reply(json.dumps(payload, ensure_ascii=False, sort_keys=True)),
        kind=OutboxKind.BUSINESS,
        now=now,
    )
    return 1


async def _callback(
    session: AsyncSession,
    order_id: int,
    kind: str,
    ctx: NoticeContext,
    extra: dict[str, object] | None = None,
) -> int:
    """The retailer's callback about one order, when it gave us a URL."""
    order = await session.get(Order, order_id)
    if order is None:
        return 0
    customer = await session.get(Customer, order.customer_id)
    if customer is None or customer.id is None or not customer.callback_url:
        return 0
    payload: dict[str, object] = {
        "event": kind,
        "event_id": f"order-{order_id}-{kind.removeprefix('order.')}",
        "occurred_at": ctx.now.isoformat(),
        "expected_date": order.due_date.isoformat(),
        "order": await order_status(session, order),
        **(extra or {}),
    }
    return await _queue(
        session, Channel.RETAILER_CALLBACK, callback_address(customer.id), payload, ctx.now
    )


async def _confirmed(
    session: AsyncSession, event: events.OrderConfirmed, ctx: NoticeContext
) -> int:
    return await _callback(session, event.order_id, CONFIRMED, ctx)


async def _ready(session: AsyncSession, event: events.OrderReady, ctx: NoticeContext) -> int:
    return await _callback(session, event.order_id, READY, ctx)


async def _shipped(session: AsyncSession, event: events.OrderShipped, ctx: NoticeContext) -> int:
    shipping: dict[str, object] = {"carrier": event.carrier, "tracking": event.tracking}
    queued = await _callback(session, event.order_id, SHIPPED, ctx, shipping)
    shop_order = await external_order_id(session, SHOPIFY, event.order_id)
    if shop_order is not None:
        payload: dict[str, object] = {
            "event": SHIPPED,
            "event_id": f"order-{event.order_id}-shipped",
            **shipping,
        }
        queued += await _queue(session, Channel.SHOPIFY, shop_order, payload, ctx.now)
    return queued


NOTICES: NoticeTable = {
    events.OrderConfirmed: _confirmed,
    events.OrderReady: _ready,
    events.OrderShipped: _shipped,
}
