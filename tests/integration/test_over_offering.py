"""Over-offering: more pieces in open offers than a job has left, first to accept takes them.

The rules under test (domain/services/offers.py): open offers may hold at most ``over_offer``
times the job's unallocated pieces; allocations never exceed the job; an artisan accepting after
others gets what is left; the moment a job is fully allocated its other open offers are withdrawn
and their artisans told why.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, InvalidQuantity
from domain.model import Allocation, AllocationStatus, DeclineReason, Offer, OfferStatus
from domain.services.offers import (
    NotOfferable,
    OfferClosed,
    accept_offer,
    decline_offer,
    expire_offers,
    job_remainder,
    make_offer,
    unallocated,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_floor import (
    active_artisan,
    confirmed_jobs,
    hire_staff,
    ident,
    stock_catalogue,
)

PENDANTS = 10  # horn pendants on the default confirmed order
CARVERS = ("Wanjiru", "Otieno", "Njoki")


async def _carvers(session: AsyncSession, now: datetime) -> list[int]:
    await stock_catalogue(session)
    staff = await hire_staff(session, now)
    return [ident(await active_artisan(session, staff, now=now, name=n)) for n in CARVERS]


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
        _, (pendants, _) = await confirmed_jobs(session, now=now)
        job = ident(pendants)
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
        _, (pendants, _) = await confirmed_jobs(session, now=now)
        await _offer(session, ident(pendants), a, 8, now, 1.0)
        with pytest.raises(InvalidQuantity, match="has 2 piece"):
            await _offer(session, ident(pendants), b, 3, now, 1.0)


@pytest.mark.parametrize("ratio", [0.5, 0.99, 3.5])
async def test_a_ratio_outside_one_to_three_is_refused(
    store: Store, clock: FakeClock, ratio: float
) -> None:
    now = clock.now()
    async with store.transaction() as session:
        a, _, _ = await _carvers(session, now)
        _, (pendants, _) = await confirmed_jobs(session, now=now)
        with pytest.raises(DomainError, match="over_offer must be between 1 and 3"):
            await _offer(session, ident(pendants), a, 1, now, ratio)


async def test_the_first_to_accept_take_the_pieces_and_the_job_filling_withdraws_the_rest(
    any_store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with any_store.transaction() as session:
        a, b, c = await _carvers(session, now)
        _, (pendants, _) = await confirmed_jobs(session, now=now)
        job = ident(pendants)
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
        _, (pendants, _) = await confirmed_jobs(session, now=now)
        job = ident(pendants)
        first = await _offer(session, job, a, 10, now, 2.0)
        second = await _offer(session, job, b, 10, now, 2.0)
        await decline_offer(
            session, offer_id=ident(first), artisan_id=a, reason=DeclineReason.BUSY, now=now
        )
        taken = await accept_offer(session, offer_id=ident(second), artisan_id=b, now=now)
        left = await unallocated(session, job)

    assert (taken.quantity, left) == (10, 0)


# -- the invariant under any sequence --------------------------------------------------------

RATIO = 2.0
sizes = st.integers(1, 2 * PENDANTS) | st.just(0)


@dataclass(frozen=True)
class Step:
    artisan: int
    offered: int
    answer: str
    answered: int
    accepted: int | None


steps = st.lists(
    st.builds(
        Step,
        artisan=st.integers(0, 2),
        offered=sizes,
        answer=st.sampled_from(["accept", "decline", "leave open", "let lapse"]),
        answered=st.integers(0, 3),
        accepted=st.none() | st.integers(0, 2 * PENDANTS),
    ),
    min_size=1,
    max_size=8,
)

_crews: weakref.WeakKeyDictionary[Store, list[int]] = weakref.WeakKeyDictionary()


async def _pieces(session: AsyncSession, job_id: int) -> tuple[int, int]:
    allocated = await session.exec(
        select(func.coalesce(func.sum(Allocation.quantity), 0)).where(
            Allocation.job_id == job_id,
            col(Allocation.status).in_([AllocationStatus.ACTIVE, AllocationStatus.COMPLETED]),
        )
    )
    offered = await session.exec(
        select(func.coalesce(func.sum(Offer.quantity), 0)).where(
            Offer.job_id == job_id, Offer.status == OfferStatus.OPEN
        )
    )
    return int(allocated.one()), int(offered.one())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=steps)
async def test_over_offering_never_allocates_more_than_the_job(
    store: Store, script: list[Step]
) -> None:
    clock = FakeClock()
    async with store.transaction() as session:
        if store not in _crews:
            _crews[store] = await _carvers(session, clock.now())
        carvers = _crews[store]
        _, (pendants, _) = await confirmed_jobs(session, now=clock.now())
    job = ident(pendants)
    offers: list[Offer] = []

    async def attempt(step: Step, action: str) -> None:
        with contextlib.suppress(InvalidQuantity, OfferClosed, NotOfferable):
            async with store.transaction() as session:
                if action == "offer":
                    offers.append(
                        await _offer(
                            session, job, carvers[step.artisan], step.offered, clock.now(), RATIO
                        )
                    )
                elif offers:
                    offer = offers[-1 - step.answered % len(offers)]
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
                    elif step.answer == "let lapse":
                        await expire_offers(session, now=clock.advance(hours=13))
        async with store.transaction() as session:
            allocated, offered = await _pieces(session, job)
        assert allocated <= PENDANTS
        # The ratio is checked when offering; acceptances only ever shrink what is open.
        assert offered <= RATIO * PENDANTS
        if allocated == PENDANTS:
            assert offered == 0  # a full job has no open offers left to accept

    for step in script:
        await attempt(step, "offer")
        await attempt(step, "answer")
