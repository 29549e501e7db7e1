"""A small believable factory for service tests: a catalogue, staff, artisans and orders.

Everything is built through the real domain services, so a test starts from a state the
factory could actually be in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import Channel, Customer, CustomerKind, Job, Language, Order, Person, Role
from domain.services.catalogue import set_bom, upsert_component, upsert_product
from domain.services.orders import confirm_order, create_order, get_or_create_customer
from domain.services.people import add_person, register_artisan, verify_artisan

HORN = "horn carving"
BRASS = "brass work"
BEADS = "beadwork"

_addresses = itertools.count(1)


def whatsapp_address() -> str:
    """A WhatsApp number nobody else in this test run has."""
    return f"+2547{next(_addresses):08d}"


async def stock_catalogue(session: AsyncSession) -> None:
    """Two designs from three components: a horn necklace and beaded earrings."""
    await upsert_component(
        session,
        code="HORN-PENDANT",
        name="Carved horn pendant",
        skill=HORN,
        piece_rate_cents=15_000,
        lead_time_days=5,
        materials=[("cattle horn", Decimal("0.05"), "kg")],
    )
    await upsert_component(
        session,
        code="BRASS-HOOK",
        name="Brass hook",
        skill=BRASS,
        piece_rate_cents=2_000,
        lead_time_days=2,
        materials=[("brass wire", Decimal("0.01"), "kg")],
    )
    await upsert_component(
        session,
        code="BEAD-STRAND",
        name="Beaded strand",
        skill=BEADS,
        piece_rate_cents=5_000,
        lead_time_days=3,
        materials=[("glass beads", 40, "pcs"), ("nylon thread", Decimal("0.5"), "m")],
    )
    await upsert_product(
        session,
        sku="NECKLACE-HORN",
        name="Horn pendant necklace",
        wholesale_price_cents=120_000,
        retail_price_cents=180_000,
        assembly_days=1,
    )
    await set_bom(session, sku="NECKLACE-HORN", components={"HORN-PENDANT": 1, "BRASS-HOOK": 2})
    await upsert_product(
        session,
        sku="EARRINGS-BEAD",
        name="Beaded earrings",
        wholesale_price_cents=60_000,
        retail_price_cents=90_000,
        assembly_days=2,
    )
    await set_bom(session, sku="EARRINGS-BEAD", components={"BEAD-STRAND": 2, "BRASS-HOOK": 2})


@dataclass(frozen=True)
class Staff:
    admin: Person
    agent: Person

    @property
    def admin_id(self) -> int:
        assert self.admin.id is not None
        return self.admin.id

    @property
    def agent_id(self) -> int:
        assert self.agent.id is not None
        return self.agent.id


async def hire_staff(session: AsyncSession, now: datetime) -> Staff:
    admin = await add_person(
        session,
        role=Role.ADMIN,
        name="Achieng",
        channel=Channel.WHATSAPP,
        address=whatsapp_address(),
        now=now,
    )
    agent = await add_person(
        session,
        role=Role.FIELD_AGENT,
        name="Kamau",
        channel=Channel.WHATSAPP,
        address=whatsapp_address(),
        areas=["Kibera", "Gikomba"],
        now=now,
    )
    return Staff(admin=admin, agent=agent)


async def pending_artisan(
    session: AsyncSession,
    *,
    now: datetime,
    name: str = "Wanjiru",
    skills: Mapping[str, int] | None = None,
) -> Person:
    return await register_artisan(
        session,
        name=name,
        workshop=f"{name}'s workshop",
        area="Kibera",
        skills=skills if skills is not None else {HORN: 50, BRASS: 200},
        mpesa_number="0712 345 678",
        language=Language.SW,
        channel=Channel.WHATSAPP,
        address=whatsapp_address(),
        now=now,
    )


async def active_artisan(
    session: AsyncSession,
    staff: Staff,
    *,
    now: datetime,
    name: str = "Wanjiru",
    skills: Mapping[str, int] | None = None,
) -> Person:
    person = await pending_artisan(session, now=now, name=name, skills=skills)
    assert person.id is not None
    await verify_artisan(session, artisan_id=person.id, agent_id=staff.agent_id, now=now)
    return person


async def retailer(session: AsyncSession, name: str = "Maasai Market Crafts") -> Customer:
    return await get_or_create_customer(session, name=name, kind=CustomerKind.RETAILER)


_references = itertools.count(1)


async def draft_order(
    session: AsyncSession,
    *,
    now: datetime,
    due_date: date = date(2026, 3, 30),
    lines: Sequence[tuple[str, int]] = (("NECKLACE-HORN", 10),),
    customer: Customer | None = None,
) -> Order:
    customer = customer or await retailer(session)
    assert customer.id is not None
    return await create_order(
        session,
        customer_id=customer.id,
        reference=f"PO-{next(_references):04d}",
        due_date=due_date,
        lines=lines,
        now=now,
    )


async def confirmed_jobs(
    session: AsyncSession,
    *,
    now: datetime,
    due_date: date = date(2026, 3, 30),
    lines: Sequence[tuple[str, int]] = (("NECKLACE-HORN", 10),),
) -> tuple[Order, list[Job]]:
    order = await draft_order(session, now=now, due_date=due_date, lines=lines)
    assert order.id is not None
    return order, await confirm_order(session, order.id, now=now)


class HasId(Protocol):
    id: int | None


def ident(row: HasId) -> int:
    """The id of a flushed row (mypy knows ids are optional until then)."""
    assert row.id is not None
    return row.id
