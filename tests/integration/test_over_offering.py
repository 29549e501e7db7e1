"""Over-offering: more pieces in open offers than a job has left, first to accept takes them.

The rules under test (domain/services/offers.py): open offers may hold at most ``over_offer``
times the job's unallocated pieces; allocations never exceed the job; an artisan accepting after
others gets what is left; the moment a job is fully allocated its other open offers are withdrawn
and their artisans told why.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, InvalidQuantity
from domain.model import Allocation, DeclineReason, Offer, OfferStatus
from domain.services.offers import (
    OfferClosed,
    accept_offer,
    decline_offer,
    job_remainder,
    make_offer,
    unallocated,
)
from domain.store import Store, is_sqlite
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    active_artisan,
    confirmed_order,
    hire_staff,
    ident,
    stock_catalogue,
)
from tests.integration.overlap import meeting

PENDANTS = 10  # horn pendants on the default confirmed order
CARVERS = ("Wanjiru", "Otieno", "Njoki")


async def _carvers(session: AsyncSession, now: datetime) -> list[int]:
    await stock_catalogue(session)
    staff = await hire_staff(session, now=now)
    return [
        ident(await active_artisan(session, verified_by=staff.agent, now=now, name=n))
        for n in CARVERS
    ]


async def _pendants(session: AsyncSession, now: datetime) -> int:
    """The job of horn pendants of a newly confirmed order."""
    return (await confirmed_order(session, now=now)).jobs["HORN-PENDANT"]


async def _offer(
    session: AsyncSession, job_id: int, artisan_id: int, quantity: int, now: datetime, ratio: float
) -> Offer:
    return await make_offer(
        session,
        job_id=job_id,
        artisan_id=artisan_id,
        quantity=quantity,
        expires_at=now + timedelta(hours=12),
        now=now,
        over_offer=ratio,
    )


async def test_open_offers_may_hold_up_to_the_ratio_times_the_unallocated_pieces(
    any_store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with any_store.transaction() as session:
        a, b, c = await _carvers(session, now)
        job = await _pendants(session, now)
        await _offer(session, job, a, 8, now, 1.5)
        await _offer(session, job, b, 7, now, 1.5)  # 15 = 1.5 x 10 in open offers
        with pytest.raises(InvalidQuantity, match="can have 0 more piece"):
            await _offer(session, job, c, 1, now, 1.5)
        remainder = await job_remainder(session, job)

    assert remainder == PENDANTS - 15  # over-offered by five


async def test_without_a_ratio_offers_never_exceed_what_is_left(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with store.transaction() as session:
        a, b, _ = await _carvers(session, now)
        job = await _pendants(session, now)
        await _offer(session, job, a, 8, now, 1.0)
        with pytest.raises(InvalidQuantity, match="has 2 piece"):
            await _offer(session, job, b, 3, now, 1.0)


@pytest.mark.parametrize("ratio", [0.5, 0.99, 3.5])
async def test_a_ratio_outside_one_to_three_is_refused(
    store: Store, clock: FakeClock, ratio: float
) -> None:
    now = clock.now()
    async with store.transaction() as session:
        a, _, _ = await _carvers(session, now)
        job = await _pendants(session, now)
        with pytest.raises(DomainError, match="over_offer must be between 1 and 3"):
            await _offer(session, job, a, 1, now, ratio)


async def test_the_first_to_accept_take_the_pieces_and_the_job_filling_withdraws_the_rest(
    any_store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with any_store.transaction() as session:
        a, b, c = await _carvers(session, now)
        job = await _pendants(session, now)
        first = await _offer(session, job, a, 6, now, 2.0)
        second = await _offer(session, job, b, 6, now, 2.0)
        third = await _offer(session, job, c, 6, now, 2.0)
        events.drain(session)

    async with any_store.transaction() as session:
        whole = await accept_offer(session, offer_id=ident(first), artisan_id=a, now=now)
        assert events.drain(session) == []  # four pieces left: the others stay open
    async with any_store.transaction() as session:
        # Otieno asks for all six of his offer; only four are left, and they are his.
        rest = await accept_offer(session, offer_id=ident(second), artisan_id=b, now=now)
        told = events.drain(session)
    async with any_store.transaction() as session:
        stored = {o.id: o for o in (await session.exec(select(Offer))).all()}
        left = await unallocated(session, job)
    async with any_store.transaction() as session:
        with pytest.raises(OfferClosed, match="already withdrawn"):
            await accept_offer(session, offer_id=ident(third), artisan_id=c, now=now)

    assert (whole.quantity, rest.quantity, left) == (6, 4, 0)
    assert (stored[second.id].status, stored[second.id].accepted_quantity) == (
        OfferStatus.PARTLY_ACCEPTED,
        4,
    )
    assert stored[third.id].status is OfferStatus.WITHDRAWN
    assert told == [events.OfferWithdrawn(offer_id=ident(third), artisan_id=c, filled=True)]


async def test_a_decline_under_over_offering_leaves_the_others_to_fill_the_job(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with store.transaction() as session:
        a, b, _ = await _carvers(session, now)
        job = await _pendants(session, now)
        first = await _offer(session, job, a, 10, now, 2.0)
        second = await _offer(session, job, b, 10, now, 2.0)
        await decline_offer(
            session, offer_id=ident(first), artisan_id=a, reason=DeclineReason.BUSY, now=now
        )
        taken = await accept_offer(session, offer_id=ident(second), artisan_id=b, now=now)
        left = await unallocated(session, job)

    assert (taken.quantity, left) == (10, 0)


# --- at once, on every backend ----------------------------------------------------------------


async def _accept_at_once(
    store: Store, accepts: list[tuple[int, int]], now: datetime
) -> list[Allocation | DomainError]:
    """Each (offer, artisan) accepted in its own transaction, all held until every one has read
    the job (see tests/integration/overlap.py): an allocation, or why it was refused."""

    async def accept(offer_id: int, artisan_id: int) -> Allocation | DomainError:
        try:
            async with store.transaction() as session:
                return await accept_offer(
                    session, offer_id=offer_id, artisan_id=artisan_id, now=now
                )
        except DomainError as refused:
            return refused

    with meeting(store, table="customer_order", parties=len(accepts)) as met:
        outcomes = await asyncio.gather(*(accept(o, a) for o, a in accepts))
    assert met.met or is_sqlite(str(store.engine.url))
    return list(outcomes)


async def _allocated(store: Store, job_id: int) -> list[tuple[int | None, int]]:
    async with store.read() as session:
        rows = await session.exec(select(Allocation).where(Allocation.job_id == job_id))
        return sorted((a.offer_id, a.quantity) for a in rows)


async def test_three_accepting_more_than_is_left_at_once_never_take_more_than_the_job(
    any_store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with any_store.transaction() as session:
        a, b, c = await _carvers(session, now)
        job = await _pendants(session, now)
        # Eighteen pieces offered of ten: the first to accept gets six, the next the last four.
        offers = [ident(await _offer(session, job, x, 6, now, 2.0)) for x in (a, b, c)]

    outcomes = await _accept_at_once(any_store, list(zip(offers, (a, b, c), strict=True)), now)

    taken = sorted(o.quantity for o in outcomes if isinstance(o, Allocation))
    [refused] = [o for o in outcomes if not isinstance(o, Allocation)]
    assert taken == [4, 6]
    assert isinstance(refused, OfferClosed)
    assert "already withdrawn" in str(refused)  # the job filled while the third waited
    assert sum(q for _, q in await _allocated(any_store, job)) == PENDANTS
    async with any_store.read() as session:
        assert await unallocated(session, job) == 0


async def test_one_artisan_accepting_one_offer_twice_at_once_gets_one_allocation(
    any_store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with any_store.transaction() as session:
        a, _, _ = await _carvers(session, now)
        job = await _pendants(session, now)
        offer = ident(await _offer(session, job, a, 6, now, 1.0))

    outcomes = await _accept_at_once(any_store, [(offer, a), (offer, a)], now)

    [allocation] = [o for o in outcomes if isinstance(o, Allocation)]
    [refused] = [o for o in outcomes if not isinstance(o, Allocation)]
    assert allocation.quantity == 6
    assert isinstance(refused, OfferClosed)
    assert "already accepted" in str(refused)
    assert await _allocated(any_store, job) == [(offer, 6)]
