"""The field agents' side of the working factory in production_factory, driven through the engine.

Artisans' steps (submitting work, arranging a delivery) are taken through the domain services,
inside a transaction that queues notifications the way the engine does, so the agents' notices
are exactly what production would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from conversations.engine import Engine
from conversations.i18n import default_catalogue
from conversations.notifications import queue_notifications
from domain import events
from domain.model import Channel, DeliveryMethod, QcReason
from domain.services.deliveries import arrange_delivery
from domain.services.work import PhotoRef, review_submission, submit_work
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.conversation_driver import Chat
from tests.integration.production_factory import Factory, allocate, build_factory, place_order

PENDANT_PHOTO = PhotoRef("media/wa/0001.jpg", "image/jpeg")
BACK_PHOTO = PhotoRef("media/wa/0002.jpg", "image/jpeg")

# The chat addresses build_factory gives each person.
ADDRESSES = {
    "admin": (Channel.WHATSAPP, "+254700000001"),
    "agent": (Channel.WHATSAPP, "+254700000002"),
    "far_agent": (Channel.TELEGRAM, "5550003"),
    "wanjiru": (Channel.WHATSAPP, "+254712000001"),
    "otieno": (Channel.WHATSAPP, "+254712000002"),
}


@dataclass
class Floor:
    store: Store
    clock: FakeClock
    engine: Engine
    people: Factory
    jobs: dict[str, int]  # component code -> job id, of the one confirmed order

    def chat(self, who: str) -> Chat:
        channel, address = ADDRESSES[who]
        return Chat(self.engine, self.clock, address=address, channel=channel)


async def open_floor(store: Store, clock: FakeClock, **order: int) -> Floor:
    people = await build_factory(store, clock)
    placed = await place_order(store, clock, lines=order or {"NECKLACE-HORN": 10})
    return Floor(store, clock, Engine(store), people, placed.jobs)


async def allocation_for(floor: Floor, artisan_id: int, *, code: str, quantity: int) -> int:
    allocation = await allocate(
        floor.store, floor.clock, job_id=floor.jobs[code], artisan_id=artisan_id, quantity=quantity
    )
    assert allocation.id is not None
    return allocation.id


async def submit(
    floor: Floor,
    *,
    allocation_id: int,
    artisan_id: int,
    count: int,
    photos: tuple[PhotoRef, ...] = (PENDANT_PHOTO,),
    note: str | None = None,
) -> int:
    """The artisan submits finished pieces; the agents' notices are queued as the engine would."""
    async with floor.store.transaction() as session:
        submission = await submit_work(
            session,
            allocation_id=allocation_id,
            artisan_id=artisan_id,
            count=count,
            photos=photos,
            note=note,
            now=floor.clock.now(),
        )
        await queue_notifications(
            session, events.drain(session), catalogue=default_catalogue(), now=floor.clock.now()
        )
    assert submission.id is not None
    return submission.id


async def passed_and_arranged(
    floor: Floor, *, artisan_id: int, code: str, quantity: int
) -> tuple[int, int]:
    """Pieces made, passed by the far agent and booked for drop-off tomorrow: (allocation,
    delivery)."""
    allocation_id = await allocation_for(floor, artisan_id, code=code, quantity=quantity)
    submission_id = await submit(
        floor, allocation_id=allocation_id, artisan_id=artisan_id, count=quantity
    )
    now = floor.clock.now()
    async with floor.store.transaction() as session:
        await review_submission(
            session,
            submission_id=submission_id,
            reviewer_id=floor.people.far_agent,
            passed=quantity,
            rejected=0,
            reasons=list[QcReason](),
            now=now,
        )
        delivery = await arrange_delivery(
            session,
            allocation_id=allocation_id,
            artisan_id=artisan_id,
            method=DeliveryMethod.DROP_OFF,
            slot_start=now + timedelta(days=1),
            quantity=quantity,
            now=now,
        )
        events.drain(session)  # the artisan's own notices are not what these tests are about
    assert delivery.id is not None
    return allocation_id, delivery.id
