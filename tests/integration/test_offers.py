import contextlib
import weakref
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, Forbidden, InvalidQuantity
from domain.model import (
    Allocation,
    AllocationStatus,
    DeclineReason,
    Job,
    JobStatus,
    Offer,
    OfferStatus,
    Order,
    OrderStatus,
)
from domain.services.offers import (
    NotOfferable,
    OfferClosed,
    accept_offer,
    decline_offer,
    expire_offers,
    job_remainder,
    make_offer,
    withdraw_offer,
)
from domain.services.orders import cancel_order
from domain.services.people import pause_artisan, set_opted_out
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    BEADS,
    HORN,
    Staff,
    active_artisan,
    confirmed_order,
    hire_staff,
    ident,
    pending_artisan,
    stock_catalogue,
)


@dataclass
class Floor:
    staff: Staff
    artisan_id: int  # Wanjiru
    order_id: int
    pendants: int  # job of 10 horn pendants, at the pendant's piece rate, due 2026-03-28


async def floor(session: AsyncSession, now: datetime) -> Floor:
    await stock_catalogue(session)
    staff = await hire_staff(session, now=now)
    artisan = await active_artisan(session, verified_by=staff.agent, now=now)
    order = await confirmed_order(session, now=now)
    events.drain(session)
    return Floor(staff, ident(artisan), order.order_id, order.jobs["HORN-PENDANT"])


async def offer_pendants(
    session: AsyncSession,
    f: Floor,
    now: datetime,
    quantity: int = 10,
    artisan_id: int | None = None,
) -> Offer:
    return await make_offer(
        session,
        job_id=f.pendants,
        artisan_id=artisan_id or f.artisan_id,
        quantity=quantity,
        expires_at=now + timedelta(hours=12),
        now=now,
    )


async def test_an_offer_carries_the_component_rate_and_the_job_due_date(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now(), quantity=4)
        recorded = events.drain(session)
        remainder = await job_remainder(session, f.pendants)

    assert (offer.status, offer.quantity, offer.piece_rate_cents, offer.due_date) == (
        OfferStatus.OPEN,
        4,
        15_000,
        date(2026, 3, 28),
    )
    assert offer.expires_at == clock.now() + timedelta(hours=12)
    assert recorded == [events.OfferMade(offer_id=ident(offer), artisan_id=f.artisan_id)]
    assert remainder == 6


async def test_an_artisan_accepts_a_whole_offer_and_the_work_goes_into_production(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now())
    accepted_at = clock.advance(hours=1)
    async with any_store.transaction() as session:
        allocation = await accept_offer(
            session, offer_id=ident(offer), artisan_id=f.artisan_id, now=accepted_at
        )
    async with any_store.transaction() as session:
        stored_offer = await session.get(Offer, ident(offer))
        job = await session.get(Job, f.pendants)
        order = await session.get(Order, f.order_id)
        remainder = await job_remainder(session, f.pendants)

    assert (allocation.quantity, allocation.piece_rate_cents, allocation.due_date) == (
        10,
        15_000,
        date(2026, 3, 28),
    )
    assert (allocation.offer_id, allocation.artisan_id, allocation.status) == (
        offer.id,
        f.artisan_id,
        AllocationStatus.ACTIVE,
    )
    assert stored_offer is not None
    assert (stored_offer.status, stored_offer.accepted_quantity, stored_offer.responded_at) == (
        OfferStatus.ACCEPTED,
        10,
        accepted_at,
    )
    assert job is not None
    assert job.status is JobStatus.IN_PRODUCTION
    assert order is not None
    assert order.status is OrderStatus.IN_PRODUCTION
    assert remainder == 0


async def test_a_partial_acceptance_returns_the_rest_of_the_offer_to_the_job(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now(), quantity=8)
        allocation = await accept_offer(
            session, offer_id=ident(offer), artisan_id=f.artisan_id, quantity=3, now=clock.now()
        )
        remainder = await job_remainder(session, f.pendants)

    assert allocation.quantity == 3
    assert (offer.status, offer.accepted_quantity) == (OfferStatus.PARTLY_ACCEPTED, 3)
    assert remainder == 7  # 10 ordered - 3 allocated; the 5 not taken are free again


@pytest.mark.parametrize("quantity", [0, -2, 9])
async def test_accepting_outside_one_to_the_offered_quantity_is_refused(
    store: Store, clock: FakeClock, quantity: int
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now(), quantity=8)
        with pytest.raises(InvalidQuantity, match="is for 8 piece\\(s\\); accept between 1 and 8"):
            await accept_offer(
                session,
                offer_id=ident(offer),
                artisan_id=f.artisan_id,
                quantity=quantity,
                now=clock.now(),
            )

    assert offer.status is OfferStatus.OPEN


async def test_an_artisan_cannot_answer_someone_elses_offer(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        other = await active_artisan(
            session, verified_by=f.staff.agent, now=clock.now(), name="Otieno"
        )
        offer = await offer_pendants(session, f, clock.now())
        with pytest.raises(Forbidden, match="was made to someone else"):
            await accept_offer(
                session, offer_id=ident(offer), artisan_id=ident(other), now=clock.now()
            )
        with pytest.raises(Forbidden, match="was made to someone else"):
            await decline_offer(
                session,
                offer_id=ident(offer),
                artisan_id=ident(other),
                reason=DeclineReason.BUSY,
                now=clock.now(),
            )

    assert offer.status is OfferStatus.OPEN


async def test_an_offer_past_its_expiry_cannot_be_accepted_before_the_sweep_runs(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now())
    clock.advance(hours=12)  # exactly at expires_at
    async with store.transaction() as session:
        with pytest.raises(OfferClosed, match=f"offer {offer.id} expired at 2026-03-02 19:00 UTC"):
            await accept_offer(
                session, offer_id=ident(offer), artisan_id=f.artisan_id, now=clock.now()
            )
        stored = await session.get(Offer, ident(offer))

    assert stored is not None
    assert stored.status is OfferStatus.OPEN  # the sweep, not the refusal, marks it expired


async def test_a_declined_offer_cannot_then_be_accepted(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now())
        await decline_offer(
            session,
            offer_id=ident(offer),
            artisan_id=f.artisan_id,
            reason=DeclineReason.NO_MATERIALS,
            now=clock.now(),
        )
        with pytest.raises(OfferClosed, match=f"offer {offer.id} is already declined"):
            await accept_offer(
                session, offer_id=ident(offer), artisan_id=f.artisan_id, now=clock.now()
            )


async def test_declining_records_the_reason_and_frees_the_pieces(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now())
        declined = await decline_offer(
            session,
            offer_id=ident(offer),
            artisan_id=f.artisan_id,
            reason=DeclineReason.RATE_TOO_LOW,
            note="  Horn costs more this month ",
            now=clock.advance(minutes=30),
        )
        remainder = await job_remainder(session, f.pendants)

    assert (declined.status, declined.decline_reason, declined.decline_note) == (
        OfferStatus.DECLINED,
        DeclineReason.RATE_TOO_LOW,
        "Horn costs more this month",
    )
    assert declined.responded_at == clock.now()
    assert remainder == 10


async def test_the_sweep_expires_only_open_offers_past_their_time(
    any_store: Store, clock: FakeClock
) -> None:
    start = clock.now()
    async with any_store.transaction() as session:
        f = await floor(session, start)
        other = await active_artisan(session, verified_by=f.staff.agent, now=start, name="Otieno")
        third = await active_artisan(session, verified_by=f.staff.agent, now=start, name="Njoki")
        soon = await make_offer(
            session,
            job_id=f.pendants,
            artisan_id=f.artisan_id,
            quantity=2,
            expires_at=start + timedelta(hours=1),
            now=start,
        )
        later = await make_offer(
            session,
            job_id=f.pendants,
            artisan_id=ident(other),
            quantity=2,
            expires_at=start + timedelta(hours=5),
            now=start,
        )
        answered = await make_offer(
            session,
            job_id=f.pendants,
            artisan_id=ident(third),
            quantity=2,
            expires_at=start + timedelta(hours=1),
            now=start,
        )
        await accept_offer(session, offer_id=ident(answered), artisan_id=ident(third), now=start)
        events.drain(session)
    async with any_store.transaction() as session:
        expired = await expire_offers(session, now=clock.advance(hours=2))
        recorded = events.drain(session)
        remainder = await job_remainder(session, f.pendants)
        statuses = {o.id: o.status for o in (await session.exec(select(Offer))).all()}

    assert [o.id for o in expired] == [soon.id]
    assert recorded == [events.OfferExpired(offer_id=ident(soon), artisan_id=f.artisan_id)]
    assert statuses == {
        soon.id: OfferStatus.EXPIRED,
        later.id: OfferStatus.OPEN,
        answered.id: OfferStatus.ACCEPTED,
    }
    assert remainder == 6  # 10 - 2 allocated - 2 still offered


async def test_a_withdrawn_offer_frees_its_pieces_and_cannot_be_withdrawn_twice(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        offer = await offer_pendants(session, f, clock.now(), quantity=6)
        events.drain(session)
        withdrawn = await withdraw_offer(session, offer_id=ident(offer), now=clock.now())
        recorded = events.drain(session)
        remainder = await job_remainder(session, f.pendants)
        with pytest.raises(OfferClosed, match="is already withdrawn"):
            await withdraw_offer(session, offer_id=ident(offer), now=clock.now())

    assert withdrawn.status is OfferStatus.WITHDRAWN
    assert recorded == [events.OfferWithdrawn(offer_id=ident(offer), artisan_id=f.artisan_id)]
    assert remainder == 10


async def test_more_pieces_than_the_job_has_free_cannot_be_offered(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        other = await active_artisan(
            session, verified_by=f.staff.agent, now=clock.now(), name="Otieno"
        )
        await offer_pendants(session, f, clock.now(), quantity=7)
        with pytest.raises(
            InvalidQuantity, match="has 3 piece\\(s\\) not yet allocated or offered"
        ):
            await offer_pendants(session, f, clock.now(), quantity=4, artisan_id=ident(other))


@pytest.mark.parametrize("quantity", [0, -1])
async def test_an_offer_needs_at_least_one_piece(
    store: Store, clock: FakeClock, quantity: int
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        with pytest.raises(InvalidQuantity, match="at least one piece"):
            await offer_pendants(session, f, clock.now(), quantity=quantity)


async def test_an_offer_must_expire_after_it_is_made(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        with pytest.raises(DomainError, match="must expire after it is made"):
            await make_offer(
                session,
                job_id=f.pendants,
                artisan_id=f.artisan_id,
                quantity=1,
                expires_at=clock.now(),
                now=clock.now(),
            )


async def test_a_second_open_offer_of_the_same_job_to_the_same_artisan_is_refused(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        first = await offer_pendants(session, f, clock.now(), quantity=2)
        with pytest.raises(NotOfferable, match=f"already has open offer {first.id}"):
            await offer_pendants(session, f, clock.now(), quantity=2)


async def test_work_is_offered_only_to_active_artisans(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        pending = await pending_artisan(session, now=clock.now(), name="Akinyi")
        with pytest.raises(NotOfferable, match="Akinyi is pending, not active"):
            await offer_pendants(session, f, clock.now(), artisan_id=ident(pending))
        await pause_artisan(
            session, artisan_id=f.artisan_id, admin_id=f.staff.admin, now=clock.now()
        )
        with pytest.raises(NotOfferable, match="Wanjiru is paused, not active"):
            await offer_pendants(session, f, clock.now())


async def test_work_is_not_offered_to_an_artisan_who_opted_out(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        await set_opted_out(session, person_id=f.artisan_id, opted_out=True)
        with pytest.raises(NotOfferable, match="Wanjiru has opted out"):
            await offer_pendants(session, f, clock.now())


async def test_work_is_offered_only_to_artisans_with_the_components_skill(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        beader = await active_artisan(
            session, verified_by=f.staff.agent, now=clock.now(), name="Nafula", skills={BEADS: 30}
        )
        with pytest.raises(NotOfferable, match=f"Nafula does not have the {HORN} skill"):
            await offer_pendants(session, f, clock.now(), artisan_id=ident(beader))


async def test_work_is_offered_only_to_artisans(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        with pytest.raises(NotOfferable, match="Kamau is not an artisan"):
            await offer_pendants(session, f, clock.now(), artisan_id=f.staff.agent)


async def test_a_cancelled_job_cannot_be_offered(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        f = await floor(session, clock.now())
        await cancel_order(session, f.order_id, reason="called off", now=clock.now())
        with pytest.raises(NotOfferable, match=f"job {f.pendants} is cancelled"):
            await offer_pendants(session, f, clock.now())


# -- the job quantity invariant under any sequence of answers -----------------------------------

JOB_QUANTITY = 10  # horn pendants on the floor's order

# Mostly sensible quantities, sometimes none or too many, so refusals are exercised too.
sizes = st.integers(1, JOB_QUANTITY) | st.sampled_from([0, JOB_QUANTITY + 1, 2 * JOB_QUANTITY])


@dataclass(frozen=True)
class Round:
    """Offer some pieces to one artisan, then answer one offer made so far (maybe a stale one)."""

    artisan: int
    offered: int
    answer: str
    answered: int  # which offer made so far is answered, counting back from the newest
    accepted: int | None


rounds = st.lists(
    st.builds(
        Round,
        artisan=st.integers(0, 2),
        offered=sizes,
        answer=st.sampled_from(["accept", "decline", "withdraw", "leave open", "let lapse"]),
        answered=st.integers(0, 3) | st.just(0),
        accepted=st.none() | sizes,
    ),
    min_size=1,
    max_size=8,
)


async def _allocated_and_offered(session: AsyncSession, job_id: int) -> tuple[int, int]:
    allocated = (
        await session.exec(
            select(func.coalesce(func.sum(Allocation.quantity), 0)).where(
                Allocation.job_id == job_id,
                col(Allocation.status).in_([AllocationStatus.ACTIVE, AllocationStatus.COMPLETED]),
            )
        )
    ).one()
    offered = (
        await session.exec(
            select(func.coalesce(func.sum(Offer.quantity), 0)).where(
                Offer.job_id == job_id, Offer.status == OfferStatus.OPEN
            )
        )
    ).one()
    return int(allocated), int(offered)


async def _answer(session: AsyncSession, offer: Offer, step: Round, clock: FakeClock) -> None:
    if step.answer == "accept":
        await accept_offer(
            session,
            offer_id=ident(offer),
            artisan_id=offer.artisan_id,
            quantity=step.accepted,
            now=clock.now(),
        )
    elif step.answer == "decline":
        await decline_offer(
            session,
            offer_id=ident(offer),
            artisan_id=offer.artisan_id,
            reason=DeclineReason.BUSY,
            now=clock.now(),
        )
    elif step.answer == "withdraw":
        await withdraw_offer(session, offer_id=ident(offer), now=clock.now())
    elif step.answer == "let lapse":
        await expire_offers(session, now=clock.advance(hours=13))  # offers last 12 hours


# Examples share the test's store, and its staff and artisans, on purpose: each example builds its
# own order, so no example sees another's job, and a fresh database per example would be slow.
_crews: weakref.WeakKeyDictionary[Store, list[int]] = weakref.WeakKeyDictionary()


async def horn_carvers(store: Store, session: AsyncSession, now: datetime) -> list[int]:
    if store not in _crews:
        await stock_catalogue(session)
        staff = await hire_staff(session, now=now)
        _crews[store] = [
            ident(await active_artisan(session, verified_by=staff.agent, now=now, name=name))
            for name in ("Wanjiru", "Otieno", "Njoki")
        ]
    return _crews[store]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=rounds)
@pytest.mark.parametrize("over_offer", [1.0, 2.0])
async def test_no_sequence_of_offers_and_answers_allocates_or_offers_more_than_the_job(
    store: Store, steps: list[Round], over_offer: float
) -> None:
    """Without over-offering, allocated + offered never exceed the job; with it, allocations
    never do, open offers stay within the ratio, and a full job has no open offer left."""
    clock = FakeClock()
    async with store.transaction() as session:
        artisans = await horn_carvers(store, session, clock.now())
        order = await confirmed_order(session, now=clock.now())
    job_id = order.jobs["HORN-PENDANT"]
    offers: list[Offer] = []

    async def attempt(step: Round, action: str) -> None:
        # A refusal is a legal outcome; it must leave the job as consistent as a success does.
        with contextlib.suppress(InvalidQuantity, OfferClosed, NotOfferable):
            async with store.transaction() as session:
                if action == "offer":
                    offer = await make_offer(
                        session,
                        job_id=job_id,
                        artisan_id=artisans[step.artisan],
                        quantity=step.offered,
                        expires_at=clock.now() + timedelta(hours=12),
                        now=clock.now(),
                        over_offer=over_offer,
                    )
                    offers.append(offer)
                elif offers:
                    await _answer(session, offers[-1 - step.answered % len(offers)], step, clock)
        async with store.transaction() as session:
            allocated, offered = await _allocated_and_offered(session, job_id)
            remainder = await job_remainder(session, job_id)
        assert allocated <= JOB_QUANTITY
        assert remainder == JOB_QUANTITY - allocated - offered
        if over_offer == 1.0:
            assert allocated + offered <= JOB_QUANTITY
        # The ratio is checked when offering; answers only ever shrink what is open.
        assert offered <= over_offer * JOB_QUANTITY
        if allocated == JOB_QUANTITY:
            assert offered == 0  # a full job has no open offers left to accept

    for step in steps:
        await attempt(step, "offer")
        await attempt(step, "answer")
