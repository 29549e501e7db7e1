"""Deliveries, receipts and the earnings they post, and assembly, through the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from domain import events, ledger
from domain.errors import DomainError, Forbidden, IllegalTransition, InvalidQuantity
from domain.model import (
    Allocation,
    AllocationStatus,
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    Job,
    JobStatus,
    Order,
    OrderStatus,
    QcReason,
    Transfer,
)
from domain.quantities import allocation_progress, job_tally
from domain.services import orders
from domain.services.deliveries import (
    FullyAssembled,
    NotAssemblable,
    arrange_delivery,
    record_assembly,
    record_receipt,
)
from domain.services.people import set_at_workshop
from domain.services.work import review_submission
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    BANGLE_RATE,
    HOOK_RATE,
    PENDANT_RATE,
    Factory,
    PlacedOrder,
    allocate,
    build_factory,
    place_order,
    submitted_work,
)


@pytest.fixture
async def order(store: Store, clock: FakeClock, factory: Factory) -> PlacedOrder:
    """4 horn necklaces (4 pendants, 8 hooks) and 3 brass bangles."""
    return await place_order(store, clock, lines={"NECKLACE-HORN": 4, "BANGLE-BRASS": 3})


@pytest.fixture
async def pendants(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> Allocation:
    """Wanjiru makes all 4 horn pendants."""
    return await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=4
    )


async def make_and_pass(
    store: Store,
    clock: FakeClock,
    allocation: Allocation,
    agent: int,
    count: int,
    *,
    rejected: int = 0,
) -> None:
    """The artisan submits ``count`` pieces; the agent rejects ``rejected`` and passes the rest."""
    assert allocation.id is not None
    async with store.transaction() as s:
        submission = await submitted_work(
            s,
            allocation_id=allocation.id,
            artisan_id=allocation.artisan_id,
            count=count,
            now=clock.now(),
        )
        assert submission.id is not None
        await review_submission(
            s,
            submission_id=submission.id,
            reviewer_id=agent,
            passed=count - rejected,
            rejected=rejected,
            reasons=[QcReason.POOR_FINISH] if rejected else [],
            now=clock.now(),
        )


async def deliver(
    store: Store,
    clock: FakeClock,
    allocation: Allocation,
    quantity: int,
    artisan: int | None = None,
) -> Delivery:
    assert allocation.id is not None
    async with store.transaction() as s:
        return await arrange_delivery(
            s,
            allocation_id=allocation.id,
            artisan_id=allocation.artisan_id if artisan is None else artisan,
            method=DeliveryMethod.DROP_OFF,
            slot_start=clock.now() + timedelta(days=1),
            quantity=quantity,
            now=clock.now(),
        )


async def receive(
    store: Store,
    clock: FakeClock,
    delivery: Delivery,
    receiver: int,
    received: int,
    note: str | None = None,
) -> tuple[Delivery, list[events.Event]]:
    assert delivery.id is not None
    async with store.transaction() as s:
        done = await record_receipt(
            s,
            delivery_id=delivery.id,
            receiver_id=receiver,
            received_quantity=received,
            note=note,
            now=clock.now(),
        )
        return done, events.drain(s)


async def earned(store: Store, artisan_id: int) -> int:
    async with store.transaction() as s:
        return (await ledger.artisan_balance(s, artisan_id)).earned_cents


# --- the whole path ------------------------------------------------------------------------


async def test_an_order_goes_from_allocation_through_qc_delivery_and_assembly_to_ready(
    any_store: Store, clock: FakeClock
) -> None:
    store = any_store
    f = await build_factory(store, clock)
    order = await place_order(store, clock, lines={"NECKLACE-HORN": 4, "BANGLE-BRASS": 3})
    pendants = await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=f.wanjiru, quantity=4
    )
    her_hooks = await allocate(
        store, clock, job_id=order.jobs["BRASS-HOOK"], artisan_id=f.wanjiru, quantity=5
    )
    his_hooks = await allocate(
        store, clock, job_id=order.jobs["BRASS-HOOK"], artisan_id=f.otieno, quantity=3
    )
    bangles = await allocate(
        store, clock, job_id=order.jobs["BRASS-BANGLE"], artisan_id=f.otieno, quantity=3
    )

    clock.advance(days=3)
    await make_and_pass(store, clock, pendants, f.agent, 4, rejected=1)
    await make_and_pass(store, clock, pendants, f.agent, 1)  # the reworked pendant
    await make_and_pass(store, clock, her_hooks, f.agent, 5)
    await make_and_pass(store, clock, his_hooks, f.far_agent, 3)
    await make_and_pass(store, clock, bangles, f.far_agent, 3)
    assert await earned(store, f.wanjiru) == 0  # passed QC, but nothing received yet

    clock.advance(days=1)
    ready_lines: list[events.Event] = []
    for allocation, receiver in [
        (pendants, f.agent),
        (her_hooks, f.admin),
        (his_hooks, f.agent),
        (bangles, f.admin),
    ]:
        delivery = await deliver(store, clock, allocation, allocation.quantity)
        _, recorded = await receive(store, clock, delivery, receiver, allocation.quantity)
        ready_lines += [e for e in recorded if isinstance(e, events.OrderLineReadyForAssembly)]
    assert ready_lines == [
        events.OrderLineReadyForAssembly(order.lines["NECKLACE-HORN"]),
        events.OrderLineReadyForAssembly(order.lines["BANGLE-BRASS"]),
    ]
    assert await earned(store, f.wanjiru) == 4 * PENDANT_RATE + 5 * HOOK_RATE
    assert await earned(store, f.otieno) == 3 * HOOK_RATE + 3 * BANGLE_RATE

    async with store.transaction() as s:
        await set_at_workshop(s, person_id=f.agent, at_workshop=True, admin_id=f.admin)
        await record_assembly(
            s, order_line_id=order.lines["NECKLACE-HORN"], recorded_by=f.admin, now=clock.now()
        )
        await record_assembly(
            s, order_line_id=order.lines["BANGLE-BRASS"], recorded_by=f.agent, now=clock.now()
        )
        recorded = events.drain(s)
    assert recorded == [events.OrderReady(order.order_id)]

    async with store.transaction() as s:
        placed = await s.get(Order, order.order_id)
        assert placed is not None
        assert placed.status == OrderStatus.READY
        jobs = (await s.exec(select(Job))).all()
        assert {j.status for j in jobs} == {JobStatus.COMPLETED}
        allocations = (await s.exec(select(Allocation))).all()
        assert {a.status for a in allocations} == {AllocationStatus.COMPLETED}
        for job in jobs:
            assert job.id is not None
            tally = await job_tally(s, job.id)
            assert tally.received == tally.passed == tally.allocated == tally.ordered
        shipped = await orders.ship_order(s, order.order_id, now=clock.now())
    assert shipped.status == OrderStatus.SHIPPED


# --- arranging a delivery ------------------------------------------------------------------


async def test_an_artisan_delivers_only_pieces_that_passed_qc(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 3, rejected=1)
    with pytest.raises(
        InvalidQuantity,
        match=r"has 2 passed pieces to deliver \(2 passed QC, 0 already received or on their "
        r"way\), so 3 is too many",
    ):
        await deliver(store, clock, pendants, 3)
    arranged = await deliver(store, clock, pendants, 2)
    assert (arranged.status, arranged.declared_quantity) == (DeliveryStatus.ARRANGED, 2)
    with pytest.raises(InvalidQuantity, match=r"has 0 passed pieces to deliver .* 2 already"):
        await deliver(store, clock, pendants, 1)


async def test_only_the_allocations_artisan_arranges_its_delivery(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    with pytest.raises(Forbidden, match="only the artisan it was allocated to may arrange"):
        await deliver(store, clock, pendants, 2, artisan=factory.otieno)


@pytest.mark.parametrize("quantity", [0, -1])
async def test_a_delivery_carries_at_least_one_piece(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation, quantity: int
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    with pytest.raises(InvalidQuantity, match=f"deliver at least 1 piece \\(got {quantity}\\)"):
        await deliver(store, clock, pendants, quantity)


async def test_a_delivery_slot_needs_a_time_zone(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    assert pendants.id is not None
    async with store.transaction() as s:
        with pytest.raises(DomainError, match="the delivery slot needs a time zone"):
            await arrange_delivery(
                s,
                allocation_id=pendants.id,
                artisan_id=factory.wanjiru,
                method=DeliveryMethod.PICKUP,
                slot_start=clock.now().replace(tzinfo=None),
                quantity=2,
                now=clock.now(),
            )


# --- receipts and earnings -----------------------------------------------------------------


async def test_a_receipt_pays_the_piece_rate_for_each_received_piece_that_passed_qc(
    any_store: Store, clock: FakeClock
) -> None:
    store = any_store
    f = await build_factory(store, clock)
    order = await place_order(store, clock)
    pendants = await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=f.wanjiru, quantity=10
    )
    await make_and_pass(store, clock, pendants, f.agent, 4)
    delivery = await deliver(store, clock, pendants, 4)
    assert await earned(store, f.wanjiru) == 0  # on its way is not received

    received, recorded = await receive(store, clock, delivery, f.agent, 4)
    assert delivery.id is not None
    assert (received.status, received.received_quantity, received.received_by) == (
        DeliveryStatus.RECEIVED,
        4,
        f.agent,
    )
    assert received.discrepancy_note is None
    assert recorded == [
        events.DeliveryReceived(
            delivery_id=delivery.id,
            artisan_id=f.wanjiru,
            declared=4,
            received=4,
            earned_cents=4 * PENDANT_RATE,
        )
    ]
    assert await earned(store, f.wanjiru) == 4 * PENDANT_RATE
    async with store.transaction() as s:
        transfers = (
            await s.exec(select(Transfer).where(Transfer.reference == f"delivery:{delivery.id}"))
        ).all()
    assert [t.amount_cents for t in transfers] == [4 * PENDANT_RATE]


async def test_a_short_delivery_is_a_discrepancy_and_the_missing_pieces_may_follow(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 4)
    first = await deliver(store, clock, pendants, 4)
    received, recorded = await receive(
        store, clock, first, factory.agent, 3, note="one fell out of the bag on the matatu"
    )
    assert first.id is not None
    assert received.discrepancy == -1
    assert (
        received.discrepancy_note == "declared 4, received 3: one fell out of the bag on the matatu"
    )
    assert events.DeliveryDiscrepancy(first.id, factory.wanjiru, 4, 3, factory.agent) in recorded
    assert await earned(store, factory.wanjiru) == 3 * PENDANT_RATE

    found = await deliver(store, clock, pendants, 1)
    await receive(store, clock, found, factory.admin, 1)
    assert await earned(store, factory.wanjiru) == 4 * PENDANT_RATE
    assert pendants.id is not None
    async with store.transaction() as s:
        progress = await allocation_progress(s, pendants.id)
    assert (progress.received, progress.delivered, progress.deliverable) == (4, 4, 0)


async def test_a_discrepancy_without_a_note_keeps_the_two_counts(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    delivery = await deliver(store, clock, pendants, 2)
    received, recorded = await receive(store, clock, delivery, factory.agent, 0)
    assert received.discrepancy_note == "declared 2, received 0"
    assert [type(e) for e in recorded] == [events.DeliveryDiscrepancy, events.DeliveryReceived]
    assert await earned(store, factory.wanjiru) == 0


async def test_surplus_pieces_are_counted_in_but_only_pieces_that_passed_qc_are_paid(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    delivery = await deliver(store, clock, pendants, 2)
    received, recorded = await receive(store, clock, delivery, factory.agent, 3)
    assert received.received_quantity == 3
    assert received.discrepancy == 1
    assert recorded[-1] == events.DeliveryReceived(
        received.id or 0, factory.wanjiru, declared=2, received=3, earned_cents=2 * PENDANT_RATE
    )
    assert await earned(store, factory.wanjiru) == 2 * PENDANT_RATE

    # The unreviewed third piece is paid once it passes QC and is received again.
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    later = await deliver(store, clock, pendants, 2)
    await receive(store, clock, later, factory.agent, 2)
    assert await earned(store, factory.wanjiru) == 4 * PENDANT_RATE


async def test_a_delivery_is_received_and_paid_only_once(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    delivery = await deliver(store, clock, pendants, 2)
    await receive(store, clock, delivery, factory.agent, 2)
    with pytest.raises(
        IllegalTransition, match="a delivery that is received cannot become received"
    ):
        await receive(store, clock, delivery, factory.admin, 2)
    assert await earned(store, factory.wanjiru) == 2 * PENDANT_RATE


@pytest.mark.parametrize("who", ["wanjiru", "otieno"])
async def test_only_a_field_agent_or_an_admin_records_a_receipt(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation, who: str
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    delivery = await deliver(store, clock, pendants, 2)
    with pytest.raises(
        Forbidden, match=r"only an? admin or field agent may record a delivery's receipt"
    ):
        await receive(store, clock, delivery, getattr(factory, who), 2)
    assert await earned(store, factory.wanjiru) == 0


@pytest.mark.parametrize("count", [-2, 100_001])
async def test_a_received_count_cannot_be_negative_or_beyond_the_most_pieces(
    store: Store, clock: FakeClock, factory: Factory, pendants: Allocation, count: int
) -> None:
    await make_and_pass(store, clock, pendants, factory.agent, 2)
    delivery = await deliver(store, clock, pendants, 2)
    with pytest.raises(
        InvalidQuantity, match=rf"received pieces are counted from 0 to 100,000 \(got {count}\)"
    ):
        await receive(store, clock, delivery, factory.agent, count)


async def test_receiving_the_last_pieces_completes_allocation_job_and_readies_the_line(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> None:
    her_hooks = await allocate(
        store, clock, job_id=order.jobs["BRASS-HOOK"], artisan_id=factory.wanjiru, quantity=5
    )
    his_hooks = await allocate(
        store, clock, job_id=order.jobs["BRASS-HOOK"], artisan_id=factory.otieno, quantity=3
    )
    pendants = await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=4
    )
    for allocation in (her_hooks, his_hooks, pendants):
        await make_and_pass(store, clock, allocation, factory.agent, allocation.quantity)

    clock.advance(days=1)
    _, recorded = await receive(
        store, clock, await deliver(store, clock, her_hooks, 5), factory.agent, 5
    )
    assert not [e for e in recorded if isinstance(e, events.OrderLineReadyForAssembly)]
    async with store.transaction() as s:
        hers = await s.get(Allocation, her_hooks.id)
        hooks_job = await s.get(Job, order.jobs["BRASS-HOOK"])
        assert hers is not None
        assert hooks_job is not None
        assert (hers.status, hers.closed_at) == (AllocationStatus.COMPLETED, clock.now())
        assert hooks_job.status == JobStatus.IN_PRODUCTION  # Otieno's 3 are still to come

    _, recorded = await receive(
        store, clock, await deliver(store, clock, his_hooks, 3), factory.agent, 3
    )
    assert not [e for e in recorded if isinstance(e, events.OrderLineReadyForAssembly)]
    _, recorded = await receive(
        store, clock, await deliver(store, clock, pendants, 4), factory.agent, 4
    )
    assert recorded[-1] == events.OrderLineReadyForAssembly(order.lines["NECKLACE-HORN"])
    async with store.transaction() as s:
        statuses = {
            code: (await s.get(Job, job_id)).status  # type: ignore[union-attr]
            for code, job_id in order.jobs.items()
        }
    assert statuses == {
        "HORN-PENDANT": JobStatus.COMPLETED,
        "BRASS-HOOK": JobStatus.COMPLETED,
        "BRASS-BANGLE": JobStatus.OPEN,
    }


# --- assembly ------------------------------------------------------------------------------


async def test_assembly_waits_for_every_component_and_names_those_still_short(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder, pendants: Allocation
) -> None:
    hooks = await allocate(
        store, clock, job_id=order.jobs["BRASS-HOOK"], artisan_id=factory.otieno, quantity=8
    )
    await make_and_pass(store, clock, pendants, factory.agent, 4)
    await receive(store, clock, await deliver(store, clock, pendants, 4), factory.agent, 4)
    await make_and_pass(store, clock, hooks, factory.agent, 5)
    await receive(store, clock, await deliver(store, clock, hooks, 5), factory.agent, 5)

    async with store.transaction() as s:
        with pytest.raises(
            NotAssemblable,
            match=rf"order line {order.lines['NECKLACE-HORN']} has 2 unit\(s\) ready to "
            r"assemble, not 4: Brass hook \(BRASS-HOOK\) has 5 of 8 received$",
        ):
            await record_assembly(
                s,
                order_line_id=order.lines["NECKLACE-HORN"],
                recorded_by=factory.admin,
                now=clock.now(),
                units=4,
            )
        with pytest.raises(
            NotAssemblable,
            match=r"nothing of order line \d+ can be assembled yet: "
            r"Brass bangle \(BRASS-BANGLE\) has 0 of 3 received$",
        ):
            await record_assembly(
                s,
                order_line_id=order.lines["BANGLE-BRASS"],
                recorded_by=factory.admin,
                now=clock.now(),
            )


async def _complete_necklaces(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> None:
    pendants = await allocate(
        store, clock, job_id=order.jobs["HORN-PENDANT"], artisan_id=factory.wanjiru, quantity=4
    )
    hooks = await allocate(
        store, clock, job_id=order.jobs["BRASS-HOOK"], artisan_id=factory.otieno, quantity=8
    )
    for allocation in (pendants, hooks):
        await make_and_pass(store, clock, allocation, factory.agent, allocation.quantity)
        delivery = await deliver(store, clock, allocation, allocation.quantity)
        await receive(store, clock, delivery, factory.agent, allocation.quantity)


async def test_the_order_is_ready_only_once_its_last_line_is_assembled(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> None:
    await _complete_necklaces(store, clock, factory, order)
    async with store.transaction() as s:
        await set_at_workshop(s, person_id=factory.agent, at_workshop=True, admin_id=factory.admin)
        assembly = await record_assembly(
            s,
            order_line_id=order.lines["NECKLACE-HORN"],
            recorded_by=factory.agent,
            now=clock.now(),
        )
        assert events.drain(s) == []
        placed = await s.get(Order, order.order_id)
        assert placed is not None
        assert placed.status == OrderStatus.IN_PRODUCTION  # the bangles are not made yet
    assert (assembly.recorded_by, assembly.assembled_at, assembly.units) == (
        factory.agent,
        clock.now(),
        4,
    )

    bangles = await allocate(
        store, clock, job_id=order.jobs["BRASS-BANGLE"], artisan_id=factory.otieno, quantity=3
    )
    await make_and_pass(store, clock, bangles, factory.far_agent, 3)
    await receive(store, clock, await deliver(store, clock, bangles, 3), factory.far_agent, 3)
    async with store.transaction() as s:
        await record_assembly(
            s, order_line_id=order.lines["BANGLE-BRASS"], recorded_by=factory.admin, now=clock.now()
        )
        assert events.drain(s) == [events.OrderReady(order.order_id)]
        placed = await s.get(Order, order.order_id)
        assert placed is not None
        assert placed.status == OrderStatus.READY


async def test_a_fully_assembled_line_is_not_assembled_again(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> None:
    await _complete_necklaces(store, clock, factory, order)
    line = order.lines["NECKLACE-HORN"]
    async with store.transaction() as s:
        await record_assembly(s, order_line_id=line, recorded_by=factory.admin, now=clock.now())
    async with store.transaction() as s:
        with pytest.raises(
            FullyAssembled, match=f"order line {line} is fully assembled: 4 of 4 units"
        ):
            await record_assembly(s, order_line_id=line, recorded_by=factory.admin, now=clock.now())


async def test_only_an_admin_or_a_field_agent_records_an_assembly(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> None:
    await _complete_necklaces(store, clock, factory, order)
    async with store.transaction() as s:
        with pytest.raises(
            Forbidden, match=r"only an? admin or field agent may record an assembly"
        ):
            await record_assembly(
                s,
                order_line_id=order.lines["NECKLACE-HORN"],
                recorded_by=factory.wanjiru,
                now=clock.now(),
            )


async def test_a_field_agent_not_at_the_central_workshop_records_no_assembly(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> None:
    await _complete_necklaces(store, clock, factory, order)
    async with store.transaction() as s:
        with pytest.raises(Forbidden, match="a field agent at the central workshop"):
            await record_assembly(
                s,
                order_line_id=order.lines["NECKLACE-HORN"],
                recorded_by=factory.agent,
                now=clock.now(),
            )


async def test_a_cancelled_order_is_not_assembled(
    store: Store, clock: FakeClock, factory: Factory, order: PlacedOrder
) -> None:
    async with store.transaction() as s:
        await orders.cancel_order(s, order.order_id, reason="shop closed", now=clock.now())
    async with store.transaction() as s:
        with pytest.raises(
            DomainError,
            match=f"order {order.reference} is cancelled; only an order in production is assembled",
        ):
            await record_assembly(
                s,
                order_line_id=order.lines["BANGLE-BRASS"],
                recorded_by=factory.admin,
                now=clock.now(),
            )
