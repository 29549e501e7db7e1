"""Workshop visits and the allocations a field agent should worry about."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import DomainError, Forbidden, InvalidQuantity
from domain.model import Allocation, QcReason
from domain.services import orders
from domain.services.visits import RiskReason, jobs_at_risk, record_visit
from domain.services.work import review_submission
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    Factory,
    PlacedOrder,
    allocate,
    days_from,
    place_order,
    submitted_work,
)


@pytest.fixture
async def order(store: Store, clock: FakeClock, factory: Factory) -> PlacedOrder:
    return await place_order(store, clock, lines={"NECKLACE-HORN": 10, "BANGLE-BRASS": 4})


@pytest.fixture
async def pendants(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> Allocation:
    """Wanjiru, in Kibera (Kamau's area), makes all 10 horn pendants."""
    return await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=10
    )


async def visit(
    store: Store, clock: FakeClock, allocation: Allocation, agent: int, pieces_done: int
) -> None:
    assert allocation.id is not None
    async with store.transaction() as s:
        await record_visit(
            s,
            allocation_id=allocation.id,
            agent_id=agent,
            pieces_done=pieces_done,
            note=None,
            photo_refs=[],
            now=clock.now(),
        )


async def at_risk_ids(
    store: Store, agent: int, today_offset: int, allocation: Allocation
) -> list[tuple[int, RiskReason, int, int]]:
    """(allocation, reason, days left, pieces done) at ``today_offset`` days from its due date."""
    async with store.transaction() as s:
        found = await jobs_at_risk(
            s, agent_id=agent, today=allocation.due_date + timedelta(days=today_offset)
        )
    return [(r.allocation_id, r.reason, r.days_left, r.pieces_done) for r in found]


async def test_a_field_agent_records_what_they_saw_at_the_workshop(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    assert pendants.id is not None
    async with store.transaction() as s:
        seen = await record_visit(
            s,
            allocation_id=pendants.id,
            agent_id=factory.agent,
            pieces_done=4,
            note="  carving the fifth, horn stock is low ",
            photo_refs=["media/v1.jpg", "media/v2.jpg"],
            now=clock.now(),
        )
    assert (seen.pieces_done, seen.note, seen.photo_refs, seen.visited_at) == (
        4,
        "carving the fifth, horn stock is low",
        "media/v1.jpg,media/v2.jpg",
        clock.now(),
    )


@pytest.mark.parametrize("who", ["admin", "wanjiru"])
async def test_only_a_field_agent_records_a_visit(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation, who: str
) -> None:
    with pytest.raises(Forbidden, match="only a field agent may record a workshop visit"):
        await visit(store, clock, pendants, getattr(factory, who), 1)


@pytest.mark.parametrize("pieces_done", [-1, 11])
async def test_pieces_done_lie_between_none_and_all_of_the_allocation(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation, pieces_done: int
) -> None:
    with pytest.raises(
        InvalidQuantity,
        match=rf"pieces done must be between 0 and the 10 allocated \(got {pieces_done}\)",
    ):
        await visit(store, clock, pendants, factory.agent, pieces_done)


async def test_a_photo_reference_may_not_contain_a_comma(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    assert pendants.id is not None
    async with store.transaction() as s:
        with pytest.raises(DomainError, match="photo reference must not contain a comma"):
            await record_visit(
                s,
                allocation_id=pendants.id,
                agent_id=factory.agent,
                pieces_done=1,
                note=None,
                photo_refs=["media/a.jpg,media/b.jpg"],
                now=clock.now(),
            )


async def test_visits_are_only_for_work_in_progress(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder, pendants: Allocation
) -> None:
    async with store.transaction() as s:
        await orders.cancel_order(s, order.order_id, reason="shop closed", now=clock.now())
    with pytest.raises(DomainError, match=r"allocation \d+ is cancelled; visits are recorded only"):
        await visit(store, clock, pendants, factory.agent, 1)


# --- at risk -------------------------------------------------------------------------------


async def test_an_allocation_due_soon_with_little_progress_is_at_risk(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    assert pendants.id is not None
    assert await at_risk_ids(store, factory.agent, -4, pendants) == []
    assert await at_risk_ids(store, factory.agent, -3, pendants) == [
        (pendants.id, RiskReason.DUE_SOON, 3, 0)
    ]
    await visit(store, clock, pendants, factory.agent, 4)
    assert await at_risk_ids(store, factory.agent, 0, pendants) == [
        (pendants.id, RiskReason.DUE_SOON, 0, 4)
    ]


async def test_half_the_pieces_done_on_a_visit_takes_it_off_the_list(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await visit(store, clock, pendants, factory.agent, 8)
    clock.advance(days=1)
    await visit(store, clock, pendants, factory.agent, 5)  # the latest visit stands
    assert await at_risk_ids(store, factory.agent, -1, pendants) == []


async def test_pieces_submitted_for_qc_count_as_progress(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    assert pendants.id is not None
    async with store.transaction() as s:
        await submitted_work(
            s, allocation_id=pendants.id, artisan_id=factory.wanjiru, count=5, now=clock.now()
        )
    await visit(store, clock, pendants, factory.agent, 2)  # an older count does not undo it
    assert await at_risk_ids(store, factory.agent, -2, pendants) == []


async def test_an_overdue_allocation_is_at_risk_whatever_its_progress(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    assert pendants.id is not None
    await visit(store, clock, pendants, factory.agent, 9)
    assert await at_risk_ids(store, factory.agent, 2, pendants) == [
        (pendants.id, RiskReason.OVERDUE, -2, 9)
    ]


async def test_rework_gives_the_artisan_until_its_due_date(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    assert pendants.id is not None
    async with store.transaction() as s:
        submission = await submitted_work(
            s, allocation_id=pendants.id, artisan_id=factory.wanjiru, count=10, now=clock.now()
        )
        assert submission.id is not None
        await review_submission(
            s,
            submission_id=submission.id,
            reviewer_id=factory.agent,
            passed=4,
            rejected=6,
            reasons=[QcReason.INCONSISTENT],
            rework_due_date=pendants.due_date + timedelta(days=5),
            now=clock.now(),
        )
    assert await at_risk_ids(store, factory.agent, 1, pendants) == []
    assert await at_risk_ids(store, factory.agent, 3, pendants) == [
        (pendants.id, RiskReason.DUE_SOON, 2, 4)
    ]
    assert await at_risk_ids(store, factory.agent, 6, pendants) == [
        (pendants.id, RiskReason.OVERDUE, -1, 4)
    ]


async def test_each_agent_sees_only_their_own_areas_most_urgent_first(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder, pendants: Allocation
) -> None:
    assert pendants.id is not None
    earlier = await place_order(store, clock, due_date=days_from(clock, 20))
    urgent = await allocate(
        store, clock, job_id=earlier.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=10
    )
    bangles = await allocate(
        store, clock, job_id=order.jobs["BRASS-BANGLE"], artisan_id=factory.otieno, quantity=4
    )
    assert urgent.id is not None
    assert bangles.id is not None
    today = pendants.due_date + timedelta(days=1)
    async with store.transaction() as s:
        kamau = await jobs_at_risk(s, agent_id=factory.agent, today=today)
        njeri = await jobs_at_risk(s, agent_id=factory.far_agent, today=today)
    assert [(r.allocation_id, r.artisan_name, r.area) for r in kamau] == [
        (urgent.id, "Wanjiru", "Kibera"),
        (pendants.id, "Wanjiru", "Kibera"),
    ]
    assert kamau[0].days_left == (urgent.due_date - today).days < kamau[1].days_left == -1
    assert [(r.allocation_id, r.artisan_name) for r in njeri] == [(bangles.id, "Otieno")]


async def test_only_field_agents_see_the_allocations_at_risk(
    store: Store, clock: FakeClock, factory: Factory
) -> None:
    async with store.transaction() as s:
        with pytest.raises(Forbidden, match="only a field agent may see allocations at risk"):
            await jobs_at_risk(s, agent_id=factory.admin, today=clock.now().date())
