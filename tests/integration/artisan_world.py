"""A working factory with artisans chatting to the engine, for the artisan flow tests.

Built on ``production_factory``: Wanjiru (Kibera, switched to English here) and Otieno (Githurai,
Kiswahili) are verified artisans; Kamau is the Kibera field agent. Business steps that are not
the artisan's (making offers, QC, receipts) go through the real domain services, and their
events become outbox messages exactly as the engine and the scheduler do it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.engine import Engine
from conversations.i18n import default_catalogue
from conversations.messages import Reply
from conversations.notifications import queue_notifications
from domain import events
from domain.model import Channel, Language, OutboxKind, QcReason
from domain.services import catalogue, offers, people, work
from domain.services.deliveries import record_receipt
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat, outbox
from tests.integration.production_factory import (
    PENDANT_LEAD_DAYS,
    PENDANT_RATE,
    Factory,
    PlacedOrder,
    build_factory,
    place_order,
)

T = TypeVar("T")

WANJIRU = "+254712000001"
OTIENO = "+254712000002"
KAMAU = "+254700000002"


@dataclass
class World:
    store: Store
    clock: FakeClock
    engine: Engine
    factory: Factory
    order: PlacedOrder
    wanjiru: Chat
    otieno: Chat
    agent: Chat

    async def act(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a domain step in one transaction and queue its notifications, like the engine."""
        async with self.store.transaction() as session:
            result = await work(session)
            await queue_notifications(
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
        now = self.clock.now()
        made = await self.act(
            lambda s: offers.make_offer(
                s,
                job_id=self.order.jobs[component],
                artisan_id=artisan_id,
                quantity=quantity,
                expires_at=now + timedelta(hours=hours),
                now=now,
                over_offer=over_offer,
            )
        )
        assert made.id is not None
        return made.id

    async def allocation(self, component: str, artisan_id: int, quantity: int) -> int:
        offer_id = await self.offer(component, artisan_id, quantity)
        allocation = await self.act(
            lambda s: offers.accept_offer(
                s, offer_id=offer_id, artisan_id=artisan_id, now=self.clock.now()
            )
        )
        assert allocation.id is not None
        return allocation.id

    async def submitted(self, allocation_id: int, artisan_id: int, count: int) -> int:
        submission = await self.act(
            lambda s: work.submit_work(
                s,
                allocation_id=allocation_id,
                artisan_id=artisan_id,
                count=count,
                photos=[work.PhotoRef("media/wa/1.jpg", "image/jpeg")],
                now=self.clock.now(),
            )
        )
        assert submission.id is not None
        return submission.id

    async def review(
        self, submission_id: int, passed: int, rejected: int = 0, *reasons: QcReason
    ) -> None:
        await self.act(
            lambda s: work.review_submission(
                s,
                submission_id=submission_id,
                reviewer_id=self.factory.agent,
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

    async def receive(self, delivery_id: int, count: int) -> None:
        await self.act(
            lambda s: record_receipt(
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


async def build_world(store: Store, clock: FakeClock) -> World:
    factory = await build_factory(store, clock)
    async with store.transaction() as session:
        # The pendant's bill of materials, so offers have materials to show.
        await catalogue.upsert_component(
            session,
            code="HORN-PENDANT",
            name="Horn pendant",
            skill="horn carving",
            piece_rate_cents=PENDANT_RATE,
            lead_time_days=PENDANT_LEAD_DAYS,
            materials=[("cattle horn", Decimal("0.05"), "kg")],
        )
    order = await place_order(store, clock, lines={"NECKLACE-HORN": 10, "BANGLE-BRASS": 6})
    async with store.transaction() as session:
        await people.set_language(session, person_id=factory.wanjiru, language=Language.EN)
    engine = Engine(store)
    return World(
        store=store,
        clock=clock,
        engine=engine,
        factory=factory,
        order=order,
        wanjiru=Chat(engine, clock, address=WANJIRU, channel=Channel.WHATSAPP),
        otieno=Chat(engine, clock, address=OTIENO, channel=Channel.WHATSAPP),
        agent=Chat(engine, clock, address=KAMAU, channel=Channel.WHATSAPP),
    )


def texts(replies: list[Reply]) -> list[str]:
    return [reply.text for reply in replies]


def payloads(reply: Reply) -> list[str]:
    return [choice.payload for choice in reply.choices]
