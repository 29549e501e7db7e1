"""One small believable factory for the integration tests, built through the real services.

- The catalogue: a horn pendant necklace (1 horn pendant + 2 brass hooks), beaded earrings
  (2 beaded strands + 2 brass hooks) and a brass bangle (1 brass bangle), over three skills.
- The staff: Achieng the admin, Kamau the field agent for Kibera (both on WhatsApp) and Njeri the
  field agent for Githurai (on Telegram).
- The crew of ``build_factory``: Wanjiru (Kibera, speaks English) and Otieno (Githurai, speaks
  Kiswahili), verified artisans with both of the necklace's skills. Any other artisan a test needs
  comes from ``pending_artisan`` / ``active_artisan``, with an address nobody else has.
- Orders from a retailer, confirmed into jobs, and the states work is found in: an open offer,
  an accepted offer (work in progress), a submission awaiting QC, a drop-off arranged, earnings
  owed.
- The floor: the factory with everyone chatting to the conversation engine. Steps that are not
  the chatting person's go through the domain services inside a transaction that queues their
  notifications, as the engine and the scheduler do, so what people are told is what production
  would send.

Everything is written through the domain services, so a test starts from a state the factory
could actually be in. Functions taking a session build inside the caller's transaction; those
taking the store and the clock open their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.engine import Engine
from conversations.i18n import default_catalogue
from conversations.messages import Reply
from conversations.registry import REGISTRY
from domain import events, ledger
from domain.model import (
    Allocation,
    ArtisanProfile,
    ArtisanStatus,
    Channel,
    Component,
    Customer,
    CustomerKind,
    Delivery,
    DeliveryMethod,
    Job,
    Language,
    Offer,
    Order,
    OrderLine,
    OutboxKind,
    Person,
    Product,
    QcReason,
    Role,
    Submission,
)
from domain.services import catalogue, deliveries, offers, orders, people, work
from domain.services.work import PhotoRef
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, outbox

T = TypeVar("T")

# --- the catalogue ---------------------------------------------------------------------------

HORN = "horn carving"
BRASS = "brass smithing"
BEADS = "beadwork"

PENDANT_RATE = 15_000  # KES 150.00 a horn pendant
HOOK_RATE = 2_000
STRAND_RATE = 5_000
BANGLE_RATE = 30_000
PENDANT_LEAD_DAYS = 5


async def stock_catalogue(session: AsyncSession) -> None:
    """Three designs from four components, each component with its workshop's skill."""
    await catalogue.upsert_component(
        session,
        code="HORN-PENDANT",
        name="Carved horn pendant",
        skill=HORN,
        piece_rate_cents=PENDANT_RATE,
        lead_time_days=PENDANT_LEAD_DAYS,
        materials=[("cattle horn", Decimal("0.05"), "kg")],
    )
    await catalogue.upsert_component(
        session,
        code="BRASS-HOOK",
        name="Brass hook",
        skill=BRASS,
        piece_rate_cents=HOOK_RATE,
        lead_time_days=2,
        materials=[("brass wire", Decimal("0.01"), "kg")],
    )
    await catalogue.upsert_component(
        session,
        code="BEAD-STRAND",
        name="Beaded strand",
        skill=BEADS,
        piece_rate_cents=STRAND_RATE,
        lead_time_days=3,
        materials=[("glass beads", 40, "pcs"), ("nylon thread", Decimal("0.5"), "m")],
    )
    await catalogue.upsert_component(
        session,
        code="BRASS-BANGLE",
        name="Brass bangle",
        skill=BRASS,
        piece_rate_cents=BANGLE_RATE,
        lead_time_days=4,
    )
    await catalogue.upsert_product(
        session,
        sku="NECKLACE-HORN",
        name="Horn pendant necklace",
        wholesale_price_cents=120_000,
        retail_price_cents=180_000,
        assembly_days=1,
    )
    await catalogue.set_bom(
        session, sku="NECKLACE-HORN", components={"HORN-PENDANT": 1, "BRASS-HOOK": 2}
    )
    await catalogue.upsert_product(
        session,
        sku="EARRINGS-BEAD",
        name="Beaded earrings",
        wholesale_price_cents=60_000,
        retail_price_cents=90_000,
        assembly_days=2,
    )
    await catalogue.set_bom(
        session, sku="EARRINGS-BEAD", components={"BEAD-STRAND": 2, "BRASS-HOOK": 2}
    )
    await catalogue.upsert_product(
        session,
        sku="BANGLE-BRASS",
        name="Brass bangle",
        wholesale_price_cents=120_000,
        retail_price_cents=160_000,
        assembly_days=1,
    )
    await catalogue.set_bom(session, sku="BANGLE-BRASS", components={"BRASS-BANGLE": 1})


# --- people ----------------------------------------------------------------------------------

# Where each named person of the factory chats.
CHATS: dict[str, tuple[Channel, str]] = {
    "admin": (Channel.WHATSAPP, "+254700000001"),
    "agent": (Channel.WHATSAPP, "+254700000002"),
    "far_agent": (Channel.TELEGRAM, "5550003"),
    "wanjiru": (Channel.WHATSAPP, "+254712000001"),
    "otieno": (Channel.WHATSAPP, "+254712000002"),
}

_numbers = itertools.count(1)


def new_mobile() -> str:
    """A Kenyan mobile number nobody else in this test run has (none of the named people's)."""
    return f"+254799{next(_numbers):06d}"


def _new_address(channel: Channel, mobile: str) -> str:
    # A WhatsApp address is the phone number; a Telegram chat id is a plain number.
    if channel is Channel.TELEGRAM:
        return mobile.removeprefix("+")
    if channel is Channel.WEB:
        return f"web-{mobile.removeprefix('+')}"
    return mobile


@dataclass(frozen=True)
class Staff:
    admin: int  # Achieng
    agent: int  # Kamau, covers Kibera
    far_agent: int  # Njeri, covers Githurai


async def _staff_member(
    session: AsyncSession, who: str, *, role: Role, name: str, area: str | None, now: datetime
) -> int:
    channel, address = CHATS[who]
    person = await people.add_person(
        session,
        role=role,
        name=name,
        channel=channel,
        address=address,
        areas=[area] if area else [],
        now=now,
    )
    return ident(person)


async def hire_staff(session: AsyncSession, *, now: datetime) -> Staff:
    return Staff(
        admin=await _staff_member(
            session, "admin", role=Role.ADMIN, name="Achieng", area=None, now=now
        ),
        agent=await _staff_member(
            session, "agent", role=Role.FIELD_AGENT, name="Kamau", area="Kibera", now=now
        ),
        far_agent=await _staff_member(
            session, "far_agent", role=Role.FIELD_AGENT, name="Njeri", area="Githurai", now=now
        ),
    )


async def pending_artisan(
    session: AsyncSession,
    *,
    now: datetime,
    name: str = "Wanjiru",
    area: str = "Kibera",
    skills: Mapping[str, int] | None = None,
    language: Language = Language.SW,
    channel: Channel = Channel.WHATSAPP,
    address: str | None = None,
    mpesa_number: str | None = None,
) -> Person:
    """A registered artisan waiting for a field agent's visit; reachable at a fresh address on
    ``channel`` unless ``address`` is given."""
    mobile = mpesa_number or new_mobile()
    return await people.register_artisan(
        session,
        name=name,
        workshop=f"{name}'s workshop",
        area=area,
        skills=skills if skills is not None else {HORN: 100, BRASS: 200},
        mpesa_number=mobile,
        language=language,
        channel=channel,
        address=address or _new_address(channel, mobile),
        now=now,
    )


async def active_artisan(
    session: AsyncSession,
    *,
    verified_by: int,
    now: datetime,
    name: str = "Wanjiru",
    area: str = "Kibera",
    skills: Mapping[str, int] | None = None,
    language: Language = Language.SW,
    channel: Channel = Channel.WHATSAPP,
    address: str | None = None,
    mpesa_number: str | None = None,
) -> Person:
    """A registered artisan that ``verified_by`` (a field agent or admin) has verified."""
    person = await pending_artisan(
        session,
        now=now,
        name=name,
        area=area,
        skills=skills,
        language=language,
        channel=channel,
        address=address,
        mpesa_number=mpesa_number,
    )
    await people.verify_artisan(session, artisan_id=ident(person), agent_id=verified_by, now=now)
    return person


@dataclass(frozen=True)
class Factory(Staff):
    wanjiru: int  # artisan in Kibera, speaks English: horn carving, brass smithing
    otieno: int  # artisan in Githurai, speaks Kiswahili: horn carving, brass smithing


async def _crew_member(
    session: AsyncSession, who: str, staff: Staff, *, area: str, language: Language, now: datetime
) -> int:
    channel, address = CHATS[who]
    artisan = await active_artisan(
        session,
        verified_by=staff.agent,
        now=now,
        name=who.title(),
        area=area,
        language=language,
        channel=channel,
        address=address,
        mpesa_number=address,
    )
    return ident(artisan)


async def build_factory(store: Store, clock: FakeClock) -> Factory:
    """The catalogue, the staff and the crew."""
    now = clock.now()
    async with store.transaction() as s:
        await stock_catalogue(s)
        staff = await hire_staff(s, now=now)
        wanjiru = await _crew_member(
            s, "wanjiru", staff, area="Kibera", language=Language.EN, now=now
        )
        otieno = await _crew_member(
            s, "otieno", staff, area="Githurai", language=Language.SW, now=now
        )
    return Factory(staff.admin, staff.agent, staff.far_agent, wanjiru=wanjiru, otieno=otieno)


async def owed_earnings(
    session: AsyncSession,
    *,
    verified_by: int,
    now: datetime,
    owed: Mapping[str, int],
    channel: Channel = Channel.WHATSAPP,
) -> list[int]:
    """Active artisans, by name, each owed the cents given (as received work earns them);
    returns their ids in the order given."""
    ids = []
    for name, cents in owed.items():
        artisan = ident(
            await active_artisan(
                session, verified_by=verified_by, now=now, name=name, channel=channel
            )
        )
        await ledger.record_earning(
            session, artisan_id=artisan, amount_cents=cents, reference=f"owed:{artisan}", now=now
        )
        ids.append(artisan)
    return ids


# --- orders ----------------------------------------------------------------------------------

NECKLACES = {"NECKLACE-HORN": 10}

_references = itertools.count(1)


async def retailer(session: AsyncSession, name: str = "Maasai Market Crafts") -> Customer:
    return await orders.get_or_create_customer(session, name=name, kind=CustomerKind.RETAILER)


async def draft_order(
    session: AsyncSession,
    *,
    now: datetime,
    lines: Mapping[str, int] = NECKLACES,
    due_date: date | None = None,
    reference: str | None = None,
    customer: Customer | None = None,
) -> Order:
    """A retailer's order, not yet confirmed; due four weeks from ``now`` unless ``due_date``."""
    customer = customer or await retailer(session)
    return await orders.create_order(
        session,
        customer_id=ident(customer),
        reference=reference or f"PO-{next(_references):04d}",
        due_date=due_date or now.date() + timedelta(days=28),
        lines=list(lines.items()),
        now=now,
    )


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    reference: str
    lines: dict[str, int]  # sku -> order line id
    jobs: dict[str, int]  # component code -> job id


async def confirmed_order(
    session: AsyncSession,
    *,
    now: datetime,
    lines: Mapping[str, int] = NECKLACES,
    due_date: date | None = None,
    reference: str | None = None,
) -> PlacedOrder:
    """A retailer's order, confirmed and exploded into jobs (one job for each component, so
    the lines may not share a component)."""
    order = await draft_order(session, now=now, lines=lines, due_date=due_date, reference=reference)
    await orders.confirm_order(session, ident(order), now=now)
    rows = await session.exec(
        select(OrderLine, Product, Job, Component)
        .join(Product, col(Product.id) == col(OrderLine.product_id))
        .join(Job, col(Job.order_line_id) == col(OrderLine.id))
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(OrderLine.order_id == order.id)
        .order_by(col(Job.id))
    )
    line_ids: dict[str, int] = {}
    job_ids: dict[str, int] = {}
    for line, product, job, component in rows:
        if component.code in job_ids:
            raise ValueError(f"{component.code} is on two lines; name its jobs by line instead")
        line_ids[product.sku] = ident(line)
        job_ids[component.code] = ident(job)
    return PlacedOrder(ident(order), order.reference, line_ids, job_ids)


async def place_order(
    store: Store,
    clock: FakeClock,
    *,
    lines: Mapping[str, int] = NECKLACES,
    due_date: date | None = None,
    reference: str | None = None,
) -> PlacedOrder:
    async with store.transaction() as s:
        return await confirmed_order(
            s, now=clock.now(), lines=lines, due_date=due_date, reference=reference
        )


def days_from(clock: FakeClock, days: int) -> date:
    return clock.now().date() + timedelta(days=days)


# --- work in its states ----------------------------------------------------------------------

PHOTO = PhotoRef("media/wa/0001.jpg", "image/jpeg")
BACK_PHOTO = PhotoRef("media/wa/0002.jpg", "image/jpeg")


async def open_offer(
    session: AsyncSession,
    *,
    job_id: int,
    artisan_id: int,
    quantity: int,
    now: datetime,
    hours: int = 12,
    over_offer: float = 1.0,
) -> Offer:
    """An offer waiting for the artisan's answer for ``hours``."""
    return await offers.make_offer(
        session,
        job_id=job_id,
        artisan_id=artisan_id,
        quantity=quantity,
        expires_at=now + timedelta(hours=hours),
        now=now,
        over_offer=over_offer,
    )


async def accepted_offer(
    session: AsyncSession, *, job_id: int, artisan_id: int, quantity: int, now: datetime
) -> Allocation:
    """Work in progress: ``quantity`` pieces offered to the artisan, who took them all."""
    offer = await open_offer(
        session, job_id=job_id, artisan_id=artisan_id, quantity=quantity, now=now
    )
    return await offers.accept_offer(session, offer_id=ident(offer), artisan_id=artisan_id, now=now)


async def allocate(
    store: Store, clock: FakeClock, *, job_id: int, artisan_id: int, quantity: int
) -> Allocation:
    async with store.transaction() as s:
        return await accepted_offer(
            s, job_id=job_id, artisan_id=artisan_id, quantity=quantity, now=clock.now()
        )


async def submitted_work(
    session: AsyncSession,
    *,
    allocation_id: int,
    artisan_id: int,
    count: int,
    now: datetime,
    photos: Sequence[PhotoRef] = (PHOTO,),
    note: str | None = None,
) -> Submission:
    """Finished pieces with their photos, awaiting QC."""
    return await work.submit_work(
        session,
        allocation_id=allocation_id,
        artisan_id=artisan_id,
        count=count,
        photos=photos,
        note=note,
        now=now,
    )


async def arranged_drop_off(
    session: AsyncSession, *, allocation_id: int, artisan_id: int, quantity: int, now: datetime
) -> Delivery:
    """Passed pieces booked to be dropped off at the central workshop tomorrow."""
    return await deliveries.arrange_delivery(
        session,
        allocation_id=allocation_id,
        artisan_id=artisan_id,
        method=DeliveryMethod.DROP_OFF,
        slot_start=now + timedelta(days=1),
        quantity=quantity,
        now=now,
    )


# --- the floor: the factory chatting to the engine -------------------------------------------


@dataclass
class Floor:
    store: Store
    clock: FakeClock
    engine: Engine
    factory: Factory
    order: PlacedOrder  # the one confirmed order the floor opened with
    _chats: dict[str, Chat] = field(default_factory=dict, init=False, repr=False)

    def chat(self, who: str) -> Chat:
        """The chat of one of the factory's named people (a key of ``CHATS``)."""
        if who not in self._chats:
            channel, address = CHATS[who]
            self._chats[who] = Chat(self.engine, self.clock, address=address, channel=channel)
        return self._chats[who]

    @property
    def wanjiru(self) -> Chat:
        return self.chat("wanjiru")

    @property
    def otieno(self) -> Chat:
        return self.chat("otieno")

    @property
    def agent(self) -> Chat:
        return self.chat("agent")

    @property
    def far_agent(self) -> Chat:
        return self.chat("far_agent")

    @property
    def admin(self) -> Chat:
        return self.chat("admin")

    async def act(self, step: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a domain step in one transaction and queue its notifications, like the engine."""
        async with self.store.transaction() as session:
            result = await step(session)
            await REGISTRY.notify(
                session, events.drain(session), catalogue=default_catalogue(), now=self.clock.now()
            )
            return result

    async def offer(
        self,
        component: str,
        artisan_id: int,
        quantity: int,
        hours: int = 12,
        over_offer: float = 1.0,
    ) -> int:
        made = await self.act(
            lambda s: open_offer(
                s,
                job_id=self.order.jobs[component],
                artisan_id=artisan_id,
                quantity=quantity,
                now=self.clock.now(),
                hours=hours,
                over_offer=over_offer,
            )
        )
        return ident(made)

    async def allocation(self, component: str, artisan_id: int, quantity: int) -> int:
        offer_id = await self.offer(component, artisan_id, quantity)
        allocation = await self.act(
            lambda s: offers.accept_offer(
                s, offer_id=offer_id, artisan_id=artisan_id, now=self.clock.now()
            )
        )
        return ident(allocation)

    async def submitted(
        self,
        allocation_id: int,
        artisan_id: int,
        count: int,
        *,
        photos: Sequence[PhotoRef] = (PHOTO,),
        note: str | None = None,
    ) -> int:
        submission = await self.act(
            lambda s: submitted_work(
                s,
                allocation_id=allocation_id,
                artisan_id=artisan_id,
                count=count,
                now=self.clock.now(),
                photos=photos,
                note=note,
            )
        )
        return ident(submission)

    async def review(
        self,
        submission_id: int,
        passed: int,
        rejected: int = 0,
        *reasons: QcReason,
        reviewer: int | None = None,
    ) -> None:
        """QC by ``reviewer``, Kamau unless another field agent is named."""
        await self.act(
            lambda s: work.review_submission(
                s,
                submission_id=submission_id,
                reviewer_id=self.factory.agent if reviewer is None else reviewer,
                passed=passed,
                rejected=rejected,
                reasons=list(reasons),
                now=self.clock.now(),
            )
        )

    async def passed_pieces(self, component: str, artisan_id: int, quantity: int) -> int:
        """An allocation of ``quantity`` pieces, all of them submitted and passed by QC."""
        allocation_id = await self.allocation(component, artisan_id, quantity)
        await self.review(await self.submitted(allocation_id, artisan_id, quantity), quantity)
        return allocation_id

    async def drop_off(self, allocation_id: int, artisan_id: int, quantity: int) -> int:
        """The artisan books ``quantity`` passed pieces to be dropped off tomorrow."""
        delivery = await self.act(
            lambda s: arranged_drop_off(
                s,
                allocation_id=allocation_id,
                artisan_id=artisan_id,
                quantity=quantity,
                now=self.clock.now(),
            )
        )
        return ident(delivery)

    async def receive(self, delivery_id: int, count: int) -> None:
        await self.act(
            lambda s: deliveries.record_receipt(
                s,
                delivery_id=delivery_id,
                receiver_id=self.factory.agent,
                received_quantity=count,
                now=self.clock.now(),
            )
        )

    async def told(self, chat: Chat) -> list[Reply]:
        """Business messages queued for one person, oldest first."""
        queued = await outbox(self.store, address=chat.address, kind=OutboxKind.BUSINESS)
        return [Reply.from_json(message.body) for message in queued]


async def open_floor(
    store: Store, clock: FakeClock, *, lines: Mapping[str, int] = NECKLACES
) -> Floor:
    """The factory, with one confirmed order of ``lines``, and the engine its people chat to."""
    factory = await build_factory(store, clock)
    order = await place_order(store, clock, lines=lines)
    return Floor(store, clock, Engine(store, registry=REGISTRY), factory, order)


def texts(replies: list[Reply]) -> list[str]:
    return [reply.text for reply in replies]


def payloads(reply: Reply) -> list[str]:
    return [choice.payload for choice in reply.choices]


# --- small helpers ---------------------------------------------------------------------------


class HasId(Protocol):
    id: int | None


def ident(row: HasId) -> int:
    """The id of a flushed row (mypy knows ids are optional until then)."""
    assert row.id is not None
    return row.id


# --- payees: people the ledger needs and nothing more, written straight to its tables --------
# For the ledger and payout tests, which need no catalogue, chat or verifying agent: paused
# artisans with no admin to pause them, a shared M-Pesa number, and no events to drain.


async def payee(
    session: AsyncSession,
    name: str,
    *,
    now: datetime,
    mpesa_number: str = "+254712345678",
    status: ArtisanStatus = ArtisanStatus.ACTIVE,
) -> int:
    """An artisan with an M-Pesa number and a status, and no identity on any channel."""
    person_id = await bare_person(session, name, Role.ARTISAN, now=now)
    session.add(
        ArtisanProfile(
            person_id=person_id,
            workshop=f"{name}'s workshop",
            mpesa_number=mpesa_number,
            status=status,
        )
    )
    await session.flush()
    return person_id


async def bare_person(session: AsyncSession, name: str, role: Role, *, now: datetime) -> int:
    person = Person(name=name, role=role, created_at=now)
    session.add(person)
    await session.flush()
    return ident(person)
