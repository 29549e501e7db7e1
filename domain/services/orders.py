"""Customers and their orders, from draft to shipped; confirming one explodes it into jobs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, tzinfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain import text as text_rules
from domain.errors import DomainError, Problem
from domain.explosion import (
    FACTORY_ZONE,
    BomItem,
    LineDemand,
    explode,
    factory_today,
    is_at_risk,
    line_problems,
    line_reasons,
)
from domain.limits import (
    MAX_CARRIER_LENGTH,
    MAX_PIECES,
    MAX_PRICE_CENTS,
    MAX_TRACKING_LENGTH,
)
from domain.model import (
    OPEN_JOB_STATUSES,
    ORDER_TRANSITIONS,
    BomLine,
    Component,
    Customer,
    CustomerKind,
    Job,
    Order,
    OrderLine,
    OrderStatus,
    Product,
)
from domain.services.guards import clean_text, load
from domain.services.jobs import DEFAULT_CANCELLED_WORK_GRACE_DAYS, cancel_job
from domain.services.jobs import mark_in_production as mark_in_production


class OrderRejected(DomainError):
    """An order that cannot be taken as given; ``problems`` names every reason, not just one
    (in English, for logs and the CLI; ``reasons`` are the same as facts for chat)."""

    def __init__(
        self, reference: str, problems: Iterable[str], reasons: Iterable[Problem] = ()
    ) -> None:
        self.reference = reference
        self.problems = tuple(problems)
        self.reasons = tuple(reasons)
        super().__init__(f"order {reference} refused: " + "; ".join(self.problems))


async def get_or_create_customer(
    session: AsyncSession, *, name: str, kind: CustomerKind, contact: str | None = None
) -> Customer:
    """The customer called ``name``, created on first sight; a new contact replaces the old."""
    name = clean_text(name, field="customer name", max_length=120)
    cleaned_contact = (
        None if contact is None else clean_text(contact, field="contact", max_length=120)
    )
    customer = (await session.exec(select(Customer).where(Customer.name == name))).first()
    if customer is None:
        customer = Customer(name=name, kind=kind, contact=cleaned_contact)
        session.add(customer)
    else:
        if customer.kind is not kind:
            raise DomainError(
                f"customer {name} is a {_kind_name(customer.kind)}, not a {_kind_name(kind)}"
            ).because(
                Problem("customer_kind", {"customer": name, "kind": customer.kind, "asked": kind})
            )
        if cleaned_contact is not None:
            customer.contact = cleaned_contact
    await session.flush()
    return customer


def _kind_name(kind: CustomerKind) -> str:
    return str(kind).replace("_", " ")


def _default_price(product: Product, kind: CustomerKind) -> int:
    return (
        product.wholesale_price_cents
        if kind is CustomerKind.RETAILER
        else product.retail_price_cents
    )


async def create_order(
    session: AsyncSession,
    *,
    customer_id: int,
    reference: str,
    due_date: date,
    lines: Sequence[tuple[str, int]],
    now: datetime,
    unit_prices: Mapping[str, int] | None = None,
    zone: tzinfo = FACTORY_ZONE,
) -> Order:
    """A draft order of ``(sku, quantity)`` lines; nothing is made until it is confirmed.

    Unit prices default to wholesale for retailers and retail for the web shop. Every problem
    with the order is reported at once, so a buyer can fix their purchase order in one go.
    """
    customer = await load(session, Customer, customer_id, what="customer")
    reference = clean_text(reference, field="order reference", max_length=60)
    prices = dict(unit_prices or {})
    problems: list[str] = []
    reasons: list[Problem] = []  # the same, as facts people read in their language

    def refuse(english: str, code: str, **fields: object) -> None:
        problems.append(english)
        reasons.append(Problem(code, fields))

    today = factory_today(now, zone)
    if due_date < today:
        refuse(
            f"due date {due_date.isoformat()} is in the past (today is {today})",
            "due_in_past",
            due=due_date,
            today=today,
        )
    duplicate = (
        await session.exec(
            select(Order.id).where(Order.customer_id == customer_id, Order.reference == reference)
        )
    ).first()
    if duplicate is not None:
        refuse(
            f"{customer.name} already has an order with reference {reference}",
            "duplicate_reference",
            customer=customer.name,
            reference=reference,
        )
    if not lines:
        refuse("an order needs at least one line", "no_lines")

    wanted: dict[str, int] = {}
    for raw_sku, quantity in lines:
        sku = raw_sku.strip()
        if sku in wanted:
            refuse(
                f"{sku} is on more than one line; put its whole quantity on one",
                "sku_twice",
                sku=sku,
            )
            continue
        wanted[sku] = quantity
        if not _whole_within(quantity, MAX_PIECES):
            refuse(
                f"{sku}: quantity must be a whole number from 1 to {MAX_PIECES:,} "
                f"(got {quantity!r}); split a larger order",
                "bad_quantity",
                sku=sku,
                most=MAX_PIECES,
            )
    products = {
        p.sku: p for p in await session.exec(select(Product).where(col(Product.sku).in_(wanted)))
    }
    for sku in wanted:
        if sku not in products:
            refuse(f"unknown SKU {sku}", "unknown_sku", sku=sku)
    for sku, price in prices.items():
        if sku not in wanted:
            refuse(
                f"a unit price is given for {sku}, which is not on the order",
                "price_not_on_order",
                sku=sku,
            )
        elif not _whole_within(price, MAX_PRICE_CENTS):
            refuse(
                f"{sku}: unit price must be a whole number of cents from 1 to "
                f"{MAX_PRICE_CENTS:,} (got {price!r})",
                "bad_price",
                sku=sku,
                most_cents=MAX_PRICE_CENTS,
            )
    if not problems:
        # Checked again on confirmation, when the bills of materials may have changed.
        boms = await bills_of_materials(session, [products[sku].id for sku in wanted])
        for sku, quantity in wanted.items():
            problems.extend(line_problems(sku, quantity, boms.get(sku, [])))
            reasons.extend(line_reasons(sku, quantity, boms.get(sku, [])))
    if problems:
        raise OrderRejected(reference, problems, reasons)

    order = Order(customer_id=customer_id, reference=reference, due_date=due_date, created_at=now)
    session.add(order)
    await session.flush()
    assert order.id is not None
    for sku, quantity in wanted.items():
        product = products[sku]
        assert product.id is not None
        session.add(
            OrderLine(
                order_id=order.id,
                product_id=product.id,
                quantity=quantity,
                unit_price_cents=prices.get(sku, _default_price(product, customer.kind)),
            )
        )
    await session.flush()
    return order


def _whole_within(value: object, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most


async def bills_of_materials(
    session: AsyncSession, product_ids: Iterable[int | None] | None = None
) -> dict[str, list[BomItem]]:
    """The bill of materials of each product (or of those given), by SKU, with each component's
    piece rate now: what ``explode`` and ``line_problems`` take."""
    statement = (
        select(BomLine, Product.sku, Component.piece_rate_cents)
        .join(Product, col(Product.id) == BomLine.product_id)
        .join(Component, col(Component.id) == BomLine.component_id)
    )
    if product_ids is not None:
        statement = statement.where(col(BomLine.product_id).in_(list(product_ids)))
    rows = await session.exec(statement)
    boms: dict[str, list[BomItem]] = {}
    for bom_line, sku, rate in rows:
        boms.setdefault(sku, []).append(
            BomItem(
                component_id=bom_line.component_id,
                quantity_per_unit=bom_line.quantity_per_unit,
                piece_rate_cents=rate,
            )
        )
    return boms


async def order_lines(session: AsyncSession, order_id: int) -> list[tuple[OrderLine, Product]]:
    rows = await session.exec(
        select(OrderLine, Product)
        .join(Product, col(Product.id) == OrderLine.product_id)
        .where(OrderLine.order_id == order_id)
        .order_by(col(OrderLine.id))
    )
    return list(rows.all())


async def jobs_of_order(session: AsyncSession, order_id: int) -> list[Job]:
    rows = await session.exec(
        select(Job)
        .join(OrderLine, col(OrderLine.id) == Job.order_line_id)
        .where(OrderLine.order_id == order_id)
        .order_by(col(Job.id))
    )
    return list(rows.all())


async def confirm_order(session: AsyncSession, order_id: int, *, now: datetime) -> list[Job]:
    """Commit to the order: explode each line through its product's BOM into open jobs.

    A line whose product has no BOM, or that would make a job too big (``line_problems``: the BOM
    or a piece rate may have grown since the draft), refuses the confirmation; nothing is created.
    """
    order = await load(session, Order, order_id, what="order", for_update=True)
    target = ORDER_TRANSITIONS.check(order.status, OrderStatus.CONFIRMED)
    lines = await order_lines(session, order_id)
    boms = await bills_of_materials(session, {product.id for _, product in lines})
    demands = []
    for line, product in lines:
        assert line.id is not None
        demands.append(
            LineDemand(
                line_id=line.id,
                sku=product.sku,
                quantity=line.quantity,
                assembly_days=product.assembly_days,
            )
        )
    specs = explode(demands, boms, order.due_date)

    order.status = target
    order.confirmed_at = now
    jobs = [
        Job(
            order_line_id=spec.order_line_id,
            component_id=spec.component_id,
            quantity=spec.quantity,
            due_date=spec.due_date,
            created_at=now,
        )
        for spec in specs
    ]
    session.add_all(jobs)
    await session.flush()
    events.record(session, events.OrderConfirmed(order_id))
    return jobs


async def jobs_at_risk(
    session: AsyncSession, *, now: datetime, zone: tzinfo = FACTORY_ZONE
) -> list[tuple[Job, Component]]:
    """Unfinished jobs whose latest start has passed, soonest due first."""
    today = factory_today(now, zone)
    rows = await session.exec(
        select(Job, Component)
        .join(Component, col(Component.id) == Job.component_id)
        .where(col(Job.status).in_(OPEN_JOB_STATUSES))
        .order_by(col(Job.due_date), col(Job.id))
    )
    return [
        (job, component)
        for job, component in rows
        if is_at_risk(job.due_date, component.lead_time_days, today)
    ]


async def cancel_order(
    session: AsyncSession,
    order_id: int,
    *,
    reason: str,
    now: datetime,
    grace_days: int = DEFAULT_CANCELLED_WORK_GRACE_DAYS,
) -> Order:
    """Call the order off: its unfinished jobs are cancelled, open offers withdrawn.

    The artisans holding work are told and their pieces settled as ``cancel_job`` says, with
    ``grace_days`` (``CANCELLED_WORK_GRACE_DAYS``) for pieces already made.
    A shipped order cannot be cancelled, nor one that is ready to ship.
    """
    reason = clean_text(reason, field="cancellation reason", max_length=200)
    order = await load(session, Order, order_id, what="order", for_update=True)
    order.status = ORDER_TRANSITIONS.check(order.status, OrderStatus.CANCELLED)
    order.cancel_reason = reason
    order.closed_at = now
    for job in await jobs_of_order(session, order_id):
        if job.status in OPEN_JOB_STATUSES:
            await cancel_job(session, job, now=now, grace_days=grace_days)
    await session.flush()
    return order


async def ship_order(
    session: AsyncSession,
    order_id: int,
    *,
    now: datetime,
    carrier: str | None = None,
    tracking: str | None = None,
) -> Order:
    """The assembled order leaves the central workshop for its customer, with the carrier and
    its tracking reference when there are any (``OrderShipped`` tells whoever follows it)."""
    carrier = _optional_text(carrier, field="carrier", max_length=MAX_CARRIER_LENGTH)
    tracking = _optional_text(tracking, field="tracking reference", max_length=MAX_TRACKING_LENGTH)
    order = await load(session, Order, order_id, what="order", for_update=True)
    order.status = ORDER_TRANSITIONS.check(order.status, OrderStatus.SHIPPED)
    order.closed_at = now
    order.carrier = carrier
    order.tracking_reference = tracking
    await session.flush()
    events.record(session, events.OrderShipped(order_id, carrier=carrier, tracking=tracking))
    return order


def _optional_text(value: str | None, *, field: str, max_length: int) -> str | None:
    """``value`` cleaned (``domain.text.clean_text``), None when nothing is left of it."""
    if value is None or not text_rules.clean_text(value):
        return None
    return clean_text(value, field=field, max_length=max_length)
