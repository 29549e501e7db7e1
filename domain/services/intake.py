"""Orders that come in by machine: a retailer's purchase order through the API, and a web-shop
order from Shopify's ``orders/create`` webhook. Both become drafts that raise
``events.OrderPlaced`` (the admins are asked to confirm them), with every problem named.

A retailer's order is checked as the orders CSV is (the same bounds from ``domain.limits``, the
same words): anything wrong refuses it whole with one ``RequestRejected`` listing each problem
where it is (``lines[2].sku``), and nothing is stored. It is idempotent on (customer, reference):
the same order sent again is the same order; a different one under a used reference conflicts.

A web-shop order has already been paid for: it is never refused. Unknown SKUs, a product without
a bill of materials or an impossible date become a draft whose ``problems`` the admins are told
(``events.DraftProblem``: facts, worded in each admin's language by the notice).
Repeats are recognised by Shopify's order id and by the webhook delivery id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError
from domain.events import DraftProblem
from domain.explosion import FACTORY_ZONE, BomItem, factory_today, job_extremes, line_problems
from domain.limits import MAX_MONEY_CENTS, MAX_PIECES, MAX_PRICE_CENTS
from domain.model import (
    Customer,
    CustomerKind,
    ExternalOrder,
    Order,
    OrderLine,
    Product,
    WebhookDelivery,
)
from domain.services.orders import (
    OrderRejected,
    bills_of_materials,
    create_order,
    get_or_create_customer,
    order_lines,
)
from domain.text import TextTooLong, clean_text

API = "api"
SHOPIFY = "shopify"
MAX_API_LINES = 200
_REFERENCE_MAX = 60
_SKU_MAX = 40
_MONEY = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")


# --- a retailer's order, as JSON -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of a request: ``field`` is a path such as ``lines[2].sku``."""

    field: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class RequestRejected(DomainError):
    """An order request had problems; nothing was stored."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in self.errors))


class ReferenceConflict(DomainError):
    """The reference is already used by a different order of this customer."""

    def __init__(self, reference: str, order_id: int) -> None:
        self.reference = reference
        self.order_id = order_id
        super().__init__(
            f"order {reference} already exists with different contents; "
            "use a new reference for a new order"
        )


@dataclass(frozen=True, slots=True)
class OrderRequest:
    reference: str
    due_date: date
    lines: tuple[tuple[str, int], ...]
    unit_prices: Mapping[str, int]


def parse_order_request(data: object) -> OrderRequest:
    """The API's JSON body as an ``OrderRequest``, or ``RequestRejected`` naming every problem.

    ``{"reference": "PO-1", "due_date": "2027-01-31", "lines": [{"sku": "BR-01", "quantity": 3,
    "unit_price_kes": "1200.50"}]}``; the unit price is optional (wholesale by default).
    """
    errors: list[FieldError] = []
    if not isinstance(data, dict):
        raise RequestRejected([FieldError("body", "must be a JSON object")])
    reference = _text(data.get("reference"), "reference", _REFERENCE_MAX, errors)
    due = _date(data.get("due_date"), "due_date", errors)
    raw_lines = data.get("lines")
    lines: list[tuple[str, int]] = []
    prices: dict[str, int] = {}
    if not isinstance(raw_lines, list) or not raw_lines:
        errors.append(FieldError("lines", "must be a list of at least one line"))
        raw_lines = []
    elif len(raw_lines) > MAX_API_LINES:
        errors.append(FieldError("lines", f"at most {MAX_API_LINES} lines in one order"))
        raw_lines = []
    seen: dict[str, int] = {}
    for index, line in enumerate(raw_lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            errors.append(FieldError(where, "must be an object with sku and quantity"))
            continue
        sku = _text(line.get("sku"), f"{where}.sku", _SKU_MAX, errors)
        quantity = _quantity(line.get("quantity"), f"{where}.quantity", errors)
        price = None
        if line.get("unit_price_kes") is not None:
            price = _price(line["unit_price_kes"], f"{where}.unit_price_kes", errors)
        if sku is None:
            continue
        if sku in seen:
            errors.append(
                FieldError(
                    f"{where}.sku",
                    f"{sku} is already on lines[{seen[sku]}]; put its whole quantity on one line",
                )
            )
            continue
        seen[sku] = index
        if quantity is not None:
            lines.append((sku, quantity))
        if price is not None:
            prices[sku] = price
    if errors or reference is None or due is None:
        raise RequestRejected(errors)
    return OrderRequest(reference, due, tuple(lines), prices)


def _text(value: object, field: str, most: int, errors: list[FieldError]) -> str | None:
    if not isinstance(value, str):
        errors.append(FieldError(field, "must be a string"))
        return None
    try:
        text = clean_text(value, max_length=most)
    except TextTooLong as too_long:
        errors.append(
            FieldError(field, f"must be at most {most} characters (got {too_long.length})")
        )
        return None
    if not text:
        errors.append(FieldError(field, "must not be empty"))
        return None
    return text


def _date(value: object, field: str, errors: list[FieldError]) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        errors.append(FieldError(field, f"{value!r} is not a date in YYYY-MM-DD form"))
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(field, f"{value!r} is not a real date"))
        return None


def _quantity(value: object, field: str, errors: list[FieldError]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PIECES:
        errors.append(
            FieldError(
                field,
                f"must be a whole number from 1 to {MAX_PIECES:,} (got {value!r}): "
                "split a larger order into several",
            )
        )
        return None
    return value


def _price(value: object, field: str, errors: list[FieldError]) -> int | None:
    cents = kes_to_cents(value)
    if cents is None or not 1 <= cents <= MAX_PRICE_CENTS:
        errors.append(
            FieldError(
                field,
                f"must be shillings with up to two decimals, more than zero and at most "
                f"KES {MAX_PRICE_CENTS // 100:,} (got {value!r})",
            )
        )
        return None
    return cents


def kes_to_cents(value: object) -> int | None:
    """``"1200.50"`` or ``1200.5`` -> 120050, written as the CSV writes money (digits, up to two
    decimals: no sign, no exponent); None when it is not an amount of money."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    if not _MONEY.fullmatch(text):
        return None
    return int(Decimal(text) * 100)


@dataclass(frozen=True, slots=True)
class Placed:
    order: Order
    created: bool  # False: the same order was sent before, and this is it


async def place_api_order(
    session: AsyncSession,
    customer: Customer,
    request: OrderRequest,
    *,
    now: datetime,
    zone: tzinfo = FACTORY_ZONE,
) -> Placed:
    """A retailer's draft order, or the one already made from the same request."""
    assert customer.id is not None
    existing = (
        await session.exec(
            select(Order).where(
                Order.customer_id == customer.id, Order.reference == request.reference
            )
        )
    ).first()
    if existing is not None:
        assert existing.id is not None
        if await _same_order(session, existing, customer, request):
            return Placed(existing, created=False)
        raise ReferenceConflict(request.reference, existing.id)

    errors = await _line_errors(session, request, now=now, zone=zone)
    if errors:
        raise RequestRejected(errors)
    try:
        order = await create_order(
            session,
            customer_id=customer.id,
            reference=request.reference,
            due_date=request.due_date,
            lines=list(request.lines),
            now=now,
            unit_prices=request.unit_prices,
            zone=zone,
        )
    except OrderRejected as rejected:  # what the service checks beyond the lines
        raise RequestRejected([FieldError("order", p) for p in rejected.problems]) from None
    assert order.id is not None
    events.record(
        session, events.OrderPlaced(order.id, API, await _draft_problems(session, order.id))
    )
    return Placed(order, created=True)


async def _line_errors(
    session: AsyncSession, request: OrderRequest, *, now: datetime, zone: tzinfo
) -> list[FieldError]:
    errors: list[FieldError] = []
    today = factory_today(now, zone)
    if request.due_date < today:
        errors.append(
            FieldError(
                "due_date", f"{request.due_date.isoformat()} is in the past (today is {today})"
            )
        )
    skus = [sku for sku, _ in request.lines]
    products = {
        p.sku: p for p in await session.exec(select(Product).where(col(Product.sku).in_(skus)))
    }
    boms = await bills_of_materials(session, [p.id for p in products.values()])
    for index, (sku, quantity) in enumerate(request.lines):
        if sku not in products:
            errors.append(FieldError(f"lines[{index}].sku", f"unknown sku {sku!r}"))
            continue
        for problem in line_problems(sku, quantity, boms.get(sku, ())):
            errors.append(FieldError(f"lines[{index}].quantity", problem))
    return errors


async def _same_order(
    session: AsyncSession, order: Order, customer: Customer, request: OrderRequest
) -> bool:
    assert order.id is not None
    if order.due_date != request.due_date:
        return False
    have = {
        product.sku: (line.quantity, line.unit_price_cents)
        for line, product in await order_lines(session, order.id)
    }
    if set(have) != {sku for sku, _ in request.lines}:
        return False
    for sku, quantity in request.lines:
        had_quantity, had_price = have[sku]
        if had_quantity != quantity:
            return False
        if sku in request.unit_prices and request.unit_prices[sku] != had_price:
            return False
    return True


async def _draft_problems(session: AsyncSession, order_id: int) -> tuple[DraftProblem, ...]:
    """What stands in the way of confirming a draft as it is: products without a bill of
    materials (confirming would refuse them)."""
    lines = await order_lines(session, order_id)
    boms = await bills_of_materials(session, [product.id for _, product in lines])
    return tuple(
        DraftProblem("no_bom", sku=product.sku) for _, product in lines if product.sku not in boms
    )


def _limit_problems(sku: str, quantity: int, bom: Sequence[BomItem]) -> list[DraftProblem]:
    """``line_problems`` as facts: a line that makes a job too big to take on."""
    pieces, cents = job_extremes(quantity, bom)
    found = []
    if pieces > MAX_PIECES:
        found.append(DraftProblem("too_many_pieces", sku=sku, quantity=quantity, pieces=pieces))
    if cents > MAX_MONEY_CENTS:
        found.append(DraftProblem("too_much_pay", sku=sku, quantity=quantity, cents=cents))
    return found


@dataclass(frozen=True, slots=True)
class LineStatus:
    sku: str
    quantity: int


async def find_order(session: AsyncSession, customer_id: int, reference: str) -> Order | None:
    return (
        await session.exec(
            select(Order).where(Order.customer_id == customer_id, Order.reference == reference)
        )
    ).first()


async def order_status(session: AsyncSession, order: Order) -> dict[str, Any]:
    """What ``GET /api/orders/{ref}`` and the customer callbacks say about an order."""
    assert order.id is not None
    return {
        "id": order.id,
        "reference": order.reference,
        "status": str(order.status),
        "due_date": order.due_date.isoformat(),
        "created_at": order.created_at.isoformat(),
        "confirmed_at": None if order.confirmed_at is None else order.confirmed_at.isoformat(),
        "closed_at": None if order.closed_at is None else order.closed_at.isoformat(),
        "lines": [
            {"sku": product.sku, "quantity": line.quantity}
            for line, product in await order_lines(session, order.id)
        ],
    }


# --- a web-shop order from Shopify ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopifyLine:
    sku: str | None
    title: str
    quantity: int
    price_cents: int | None


@dataclass(frozen=True, slots=True)
class ShopifyOrder:
    """What we take from an ``orders/create`` payload."""

    order_id: str
    name: str
    lines: tuple[ShopifyLine, ...]
    due_date: str | None  # a note attribute "due_date" or "delivery_date", as the buyer gave it


class BadPayload(DomainError):
    """Not an order as Shopify sends one: refused (400), nothing stored."""


def parse_shopify_order(data: object) -> ShopifyOrder:
    if not isinstance(data, dict):
        raise BadPayload("the body is not a JSON object")
    order_id = data.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, int | str) or not str(order_id):
        raise BadPayload("the order has no id")
    raw_lines = data.get("line_items")
    if not isinstance(raw_lines, list):
        raise BadPayload("the order has no line_items")
    lines = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            raise BadPayload("a line item is not an object")
        quantity = raw.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise BadPayload("a line item has no whole quantity")
        sku = raw.get("sku")
        lines.append(
            ShopifyLine(
                sku=clean_text(sku)[:_SKU_MAX] or None if isinstance(sku, str) else None,
                title=clean_text(str(raw.get("title") or raw.get("name") or "?"))[:80],
                quantity=quantity,
                price_cents=kes_to_cents(raw.get("price")),
            )
        )
    due = None
    for attribute in data.get("note_attributes") or ():
        if isinstance(attribute, dict) and attribute.get("name") in ("due_date", "delivery_date"):
            due = clean_text(str(attribute.get("value") or ""))[:40]
    name = clean_text(str(data.get("name") or f"#{order_id}"))[:40] or f"#{order_id}"
    return ShopifyOrder(str(order_id)[:64], name, tuple(lines), due)


async def seen_delivery(session: AsyncSession, source: str, delivery_id: str | None) -> bool:
    if not delivery_id:
        return False
    found = await session.exec(
        select(WebhookDelivery.id).where(
            WebhookDelivery.source == source, WebhookDelivery.delivery_id == delivery_id[:64]
        )
    )
    return found.first() is not None


async def external_order(session: AsyncSession, source: str, external_id: str) -> Order | None:
    found = (
        await session.exec(
            select(Order)
            .join(ExternalOrder, col(ExternalOrder.order_id) == Order.id)
            .where(ExternalOrder.source == source, ExternalOrder.external_id == external_id)
        )
    ).first()
    return found


async def place_shopify_order(
    session: AsyncSession,
    shop: ShopifyOrder,
    *,
    customer_name: str,
    delivery_id: str | None,
    default_lead_days: int,
    now: datetime,
    zone: tzinfo = FACTORY_ZONE,
) -> Placed:
    """The web shop's order as a draft (with its problems), or the one made before for it."""
    if delivery_id:
        session.add(WebhookDelivery(source=SHOPIFY, delivery_id=delivery_id[:64], received_at=now))
    existing = await external_order(session, SHOPIFY, shop.order_id)
    if existing is not None:
        await session.flush()
        return Placed(existing, created=False)
    customer = await get_or_create_customer(session, name=customer_name, kind=CustomerKind.WEB_SHOP)
    assert customer.id is not None
    today = factory_today(now, zone)
    problems: list[DraftProblem] = []
    due = today + timedelta(days=default_lead_days)
    if shop.due_date is not None:
        try:
            asked = date.fromisoformat(shop.due_date)
        except ValueError:
            problems.append(DraftProblem("date_not_a_date", asked=shop.due_date, assumed=due))
        else:
            if asked < today:
                problems.append(DraftProblem("date_in_past", asked=asked.isoformat(), assumed=due))
            else:
                due = asked

    wanted: dict[str, ShopifyLine] = {}
    for line in shop.lines:
        if line.sku is None:
            problems.append(DraftProblem("no_sku", asked=line.title, quantity=line.quantity))
        elif not 1 <= line.quantity <= MAX_PIECES:
            problems.append(DraftProblem("bad_quantity", sku=line.sku, quantity=line.quantity))
        elif line.sku in wanted:
            previous = wanted[line.sku]
            wanted[line.sku] = ShopifyLine(
                line.sku, line.title, previous.quantity + line.quantity, previous.price_cents
            )
        else:
            wanted[line.sku] = line
    products = {
        p.sku: p
        for p in await session.exec(select(Product).where(col(Product.sku).in_(list(wanted))))
    }
    boms = await bills_of_materials(session, [p.id for p in products.values()])
    for sku, line in list(wanted.items()):
        if sku not in products:
            problems.append(DraftProblem("unknown_sku", sku=sku, quantity=line.quantity))
            del wanted[sku]
            continue
        if sku not in boms:
            problems.append(DraftProblem("no_bom", sku=sku))
        problems.extend(_limit_problems(sku, line.quantity, boms.get(sku, ())))
    if not wanted:
        problems.append(DraftProblem("nothing_matched"))

    reference = await _free_reference(session, customer.id, shop.name, shop.order_id)
    order = Order(customer_id=customer.id, reference=reference, due_date=due, created_at=now)
    session.add(order)
    await session.flush()
    assert order.id is not None
    for sku, line in wanted.items():
        product = products[sku]
        assert product.id is not None
        price = line.price_cents
        if price is None or not 1 <= price <= MAX_PRICE_CENTS:
            price = product.retail_price_cents
        session.add(
            OrderLine(
                order_id=order.id,
                product_id=product.id,
                quantity=line.quantity,
                unit_price_cents=price,
            )
        )
    session.add(
        ExternalOrder(source=SHOPIFY, external_id=shop.order_id, order_id=order.id, received_at=now)
    )
    await session.flush()
    events.record(session, events.OrderPlaced(order.id, SHOPIFY, tuple(problems)))
    return Placed(order, created=True)


async def _free_reference(session: AsyncSession, customer_id: int, name: str, order_id: str) -> str:
    for candidate in (name, f"{name} ({order_id})"[:_REFERENCE_MAX]):
        if await find_order(session, customer_id, candidate) is None:
            return candidate
    return f"shopify-{order_id}"[:_REFERENCE_MAX]


async def external_order_id(session: AsyncSession, source: str, order_id: int) -> str | None:
    """The id ``source`` knows our order by, if it came from there."""
    found = await session.exec(
        select(ExternalOrder.external_id).where(
            ExternalOrder.source == source, ExternalOrder.order_id == order_id
        )
    )
    return found.first()
