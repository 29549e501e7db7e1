"""A small working factory for production tests, built through the real services.

Two field agents (Kibera and Githurai), an admin, two verified artisans, and a catalogue of two
products: a horn necklace (1 horn pendant + 2 brass hooks) and a brass bangle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.model import (
    Allocation,
    Channel,
    Component,
    CustomerKind,
    Job,
    Language,
    OrderLine,
    Product,
    Role,
)
from domain.services import catalogue, offers, orders, people
from domain.services.work import PhotoRef
from domain.store import Store

if TYPE_CHECKING:
    from tests.conftest import FakeClock

PENDANT_RATE = 15_000  # KES 150.00 a horn pendant
HOOK_RATE = 2_000
BANGLE_RATE = 30_000
PENDANT_LEAD_DAYS = 5

PHOTO = PhotoRef("media/wa/0001.jpg", "image/jpeg")


@dataclass(frozen=True)
class Factory:
    admin: int
    agent: int  # covers Kibera
    far_agent: int  # covers Githurai
    wanjiru: int  # artisan in Kibera: horn carving, brass smithing
    otieno: int  # artisan in Githurai: horn carving, brass smithing


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    reference: str
    lines: dict[str, int]  # sku -> order line id
    jobs: dict[str, int]  # component code -> job id


async def build_factory(store: Store, clock: FakeClock) -> Factory:
    now = clock.now()
    async with store.transaction() as s:
        await catalogue.upsert_component(
            s,
            code="HORN-PENDANT",
            name="Horn pendant",
            skill="horn carving",
            piece_rate_cents=PENDANT_RATE,
            lead_time_days=PENDANT_LEAD_DAYS,
        )
        await catalogue.upsert_component(
            s,
            code="BRASS-HOOK",
            name="Brass hook",
            skill="brass smithing",
            piece_rate_cents=HOOK_RATE,
            lead_time_days=2,
        )
        await catalogue.upsert_component(
            s,
            code="BRASS-BANGLE",
            name="Brass bangle",
            skill="brass smithing",
            piece_rate_cents=BANGLE_RATE,
            lead_time_days=4,
        )
        await catalogue.upsert_product(
            s,
            sku="NECKLACE-HORN",
            name="Horn necklace",
            wholesale_price_cents=180_000,
            retail_price_cents=250_000,
        )
        await catalogue.set_bom(
            s, sku="NECKLACE-HORN", components={"HORN-PENDANT": 1, "BRASS-HOOK": 2}
        )
        await catalogue.upsert_product(
            s,
            sku="BANGLE-BRASS",
            name="Brass bangle",
            wholesale_price_cents=120_000,
            retail_price_cents=160_000,
        )
        await catalogue.set_bom(s, sku="BANGLE-BRASS", components={"BRASS-BANGLE": 1})

        admin = await people.add_person(
            s,
            role=Role.ADMIN,
            name="Achieng",
            channel=Channel.WHATSAPP,
            address="+254700000001",
            now=now,
        )
        agent = await people.add_person(
            s,
            role=Role.FIELD_AGENT,
            name="Kamau",
            channel=Channel.WHATSAPP,
            address="+254700000002",
            areas=["Kibera"],
            now=now,
        )
        far_agent = await people.add_person(
            s,
            role=Role.FIELD_AGENT,
            name="Njeri",
            channel=Channel.TELEGRAM,
            address="5550003",
            areas=["Githurai"],
            now=now,
        )
        artisans = {}
        for name, area, number in [
            ("Wanjiru", "Kibera", "0712000001"),
            ("Otieno", "Githurai", "0712000002"),
        ]:
            artisan = await people.register_artisan(
                s,
                name=name,
                workshop=f"{name}'s workshop",
                area=area,
                skills={"horn carving": 100, "brass smithing": 200},
                mpesa_number=number,
                language=Language.SW,
                channel=Channel.WHATSAPP,
                address=f"+254{number[1:]}",
                now=now,
            )
            assert artisan.id is not None
            assert agent.id is not None
            await people.verify_artisan(s, artisan_id=artisan.id, agent_id=agent.id, now=now)
            artisans[name] = artisan.id
    assert admin.id
    assert agent.id
    assert far_agent.id
    return Factory(
        admin=admin.id,
        agent=agent.id,
        far_agent=far_agent.id,
        wanjiru=artisans["Wanjiru"],
        otieno=artisans["Otieno"],
    )


async def place_order(
    store: Store,
    clock: FakeClock,
    *,
    reference: str = "PO-100",
    lines: dict[str, int] | None = None,
    due_in_days: int = 28,
) -> PlacedOrder:
    """A retailer's order, confirmed and exploded into jobs."""
    wanted = lines or {"NECKLACE-HORN": 10}
    now = clock.now()
    async with store.transaction() as s:
        customer = await orders.get_or_create_customer(
            s, name="Maasai Market Crafts", kind=CustomerKind.RETAILER
        )
        assert customer.id is not None
        order = await orders.create_order(
            s,
            customer_id=customer.id,
            reference=reference,
            due_date=now.date() + timedelta(days=due_in_days),
            lines=list(wanted.items()),
            now=now,
        )
        assert order.id is not None
        await orders.confirm_order(s, order.id, now=now)
        rows = await s.exec(
            select(OrderLine, Product, Job, Component)
            .join(Product, col(Product.id) == col(OrderLine.product_id))
            .join(Job, col(Job.order_line_id) == col(OrderLine.id))
            .join(Component, col(Component.id) == col(Job.component_id))
            .where(OrderLine.order_id == order.id)
        )
        line_ids: dict[str, int] = {}
        job_ids: dict[str, int] = {}
        for line, product, job, component in rows:
            assert line.id is not None
            assert job.id is not None
            line_ids[product.sku] = line.id
            job_ids[component.code] = job.id
    return PlacedOrder(order.id, reference, line_ids, job_ids)


async def allocate(
    store: Store, clock: FakeClock, *, job_id: int, artisan_id: int, quantity: int
) -> Allocation:
    """Offer ``quantity`` pieces of the job to the artisan, who accepts them all."""
    now = clock.now()
    async with store.transaction() as s:
        offer = await offers.make_offer(
            s,
            job_id=job_id,
            artisan_id=artisan_id,
            quantity=quantity,
            expires_at=now + timedelta(hours=12),
            now=now,
        )
        assert offer.id is not None
        return await offers.accept_offer(s, offer_id=offer.id, artisan_id=artisan_id, now=now)


def days_from(clock: FakeClock, days: int) -> date:
    return clock.now().date() + timedelta(days=days)
