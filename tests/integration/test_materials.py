from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events
from domain.errors import DomainError, Forbidden, IllegalTransition
from domain.model import Allocation, MaterialRequest, MaterialRequestStatus, Person
from domain.services.guards import InvalidField
from domain.services.materials import (
    MaterialIssue,
    cancel_material_request,
    decline_material_request,
    fulfil_material_request,
    order_materials,
    report_stock,
    request_material,
    stock_of,
)
from domain.services.orders import cancel_order
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    Staff,
    accepted_offer,
    active_artisan,
    confirmed_order,
    hire_staff,
    ident,
    stock_catalogue,
)


async def allocation_for(
    session: AsyncSession, artisan: Person, clock: FakeClock
) -> tuple[Allocation, int]:
    """An active allocation of 4 horn pendants for ``artisan``; returns it and its order id."""
    order = await confirmed_order(session, now=clock.now())
    allocation = await accepted_offer(
        session,
        job_id=order.jobs["HORN-PENDANT"],
        artisan_id=ident(artisan),
        quantity=4,
        now=clock.now(),
    )
    return allocation, order.order_id


async def workshop(session: AsyncSession, clock: FakeClock) -> tuple[Staff, Person, Person]:
    await stock_catalogue(session)
    staff = await hire_staff(session, now=clock.now())
    wanjiru = await active_artisan(session, verified_by=staff.agent, now=clock.now())
    otieno = await active_artisan(session, verified_by=staff.agent, now=clock.now(), name="Otieno")
    return staff, wanjiru, otieno


async def test_a_stock_report_replaces_the_last_one_for_that_material(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        await report_stock(
            session,
            artisan_id=ident(wanjiru),
            material="Cattle Horn",
            quantity="2.5",
            unit="kg",
            now=clock.now(),
        )
        await report_stock(
            session,
            artisan_id=ident(wanjiru),
            material="brass wire",
            quantity=1,
            unit="kg",
            now=clock.now(),
        )
    later = clock.advance(days=3)
    async with store.transaction() as session:
        await report_stock(
            session,
            artisan_id=ident(wanjiru),
            material=" cattle  horn",
            quantity=0,
            unit="kg",
            now=later,
        )
    async with store.transaction() as session:
        stock = await stock_of(session, ident(wanjiru))

    assert [(s.material, s.quantity, s.unit, s.updated_at) for s in stock] == [
        ("brass wire", Decimal("1.000"), "kg", clock.now() - timedelta(days=3)),
        ("cattle horn", Decimal("0.000"), "kg", later),
    ]


@pytest.mark.parametrize(
    ("quantity", "message"),
    [(-1, "must be zero or more"), ("a lot", "is not a number"), ("0.0001", "3 decimal places")],
)
async def test_an_impossible_stock_quantity_is_refused(
    store: Store, clock: FakeClock, quantity: Decimal | int | str, message: str
) -> None:
    async with store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        with pytest.raises(InvalidField, match=message):
            await report_stock(
                session,
                artisan_id=ident(wanjiru),
                material="horn",
                quantity=quantity,
                unit="kg",
                now=clock.now(),
            )


async def test_only_artisans_report_their_own_stock(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff, _, _ = await workshop(session, clock)
        with pytest.raises(Forbidden, match="only an artisan may report material stock"):
            await report_stock(
                session,
                artisan_id=staff.agent,
                material="horn",
                quantity=1,
                unit="kg",
                now=clock.now(),
            )


async def test_an_artisan_requests_material_for_their_own_active_allocation(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        allocation, _ = await allocation_for(session, wanjiru, clock)
        request = await request_material(
            session,
            artisan_id=ident(wanjiru),
            material="Cattle horn",
            quantity=Decimal("0.2"),
            unit="kg",
            allocation_id=ident(allocation),
            now=clock.now(),
        )

    assert (request.material, request.quantity, request.allocation_id, request.status) == (
        "cattle horn",
        Decimal("0.2"),
        allocation.id,
        MaterialRequestStatus.OPEN,
    )


async def test_a_request_without_an_allocation_is_for_general_stock(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        request = await request_material(
            session,
            artisan_id=ident(wanjiru),
            material="glass beads",
            quantity=500,
            unit="pcs",
            now=clock.now(),
        )

    assert request.allocation_id is None


async def test_material_cannot_be_requested_against_someone_elses_allocation(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        _, wanjiru, otieno = await workshop(session, clock)
        allocation, _ = await allocation_for(session, wanjiru, clock)
        with pytest.raises(Forbidden, match=f"allocation {allocation.id} is someone else's work"):
            await request_material(
                session,
                artisan_id=ident(otieno),
                material="horn",
                quantity=1,
                unit="kg",
                allocation_id=ident(allocation),
                now=clock.now(),
            )


async def test_material_cannot_be_requested_for_cancelled_work(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        allocation, order_id = await allocation_for(session, wanjiru, clock)
        await cancel_order(session, order_id, reason="called off", now=clock.now())
        with pytest.raises(DomainError, match="is cancelled; materials can only be requested"):
            await request_material(
                session,
                artisan_id=ident(wanjiru),
                material="horn",
                quantity=1,
                unit="kg",
                allocation_id=ident(allocation),
                now=clock.now(),
            )


async def test_a_request_needs_some_material(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        with pytest.raises(InvalidField, match="quantity of horn must be above zero"):
            await request_material(
                session,
                artisan_id=ident(wanjiru),
                material="horn",
                quantity=0,
                unit="kg",
                now=clock.now(),
            )


async def test_a_field_agent_fulfils_a_request_once(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        staff, wanjiru, _ = await workshop(session, clock)
        request = await request_material(
            session,
            artisan_id=ident(wanjiru),
            material="horn",
            quantity=1,
            unit="kg",
            now=clock.now(),
        )
        done = await fulfil_material_request(
            session, request_id=ident(request), by_id=staff.agent, now=clock.advance(days=1)
        )
        with pytest.raises(IllegalTransition, match="fulfilled cannot become cancelled"):
            await cancel_material_request(
                session, request_id=ident(request), by_id=ident(wanjiru), now=clock.now()
            )

    assert (done.status, done.closed_at) == (MaterialRequestStatus.FULFILLED, clock.now())


async def test_an_artisan_cannot_mark_their_own_request_fulfilled(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        request = await request_material(
            session,
            artisan_id=ident(wanjiru),
            material="horn",
            quantity=1,
            unit="kg",
            now=clock.now(),
        )
        with pytest.raises(Forbidden, match="only an admin or field agent may fulfil"):
            await fulfil_material_request(
                session, request_id=ident(request), by_id=ident(wanjiru), now=clock.now()
            )


async def test_the_requester_may_cancel_their_request_but_another_artisan_may_not(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        _, wanjiru, otieno = await workshop(session, clock)
        request = await request_material(
            session,
            artisan_id=ident(wanjiru),
            material="horn",
            quantity=1,
            unit="kg",
            now=clock.now(),
        )
        with pytest.raises(Forbidden, match="cancel another artisan's material request"):
            await cancel_material_request(
                session, request_id=ident(request), by_id=ident(otieno), now=clock.now()
            )
        cancelled = await cancel_material_request(
            session, request_id=ident(request), by_id=ident(wanjiru), now=clock.now()
        )

    assert cancelled.status is MaterialRequestStatus.CANCELLED


# --- answering requests: handed over, or declined with a reason (issue 15) ---------------------


async def brass_request(
    session: AsyncSession, artisan: Person, clock: FakeClock
) -> MaterialRequest:
    return await request_material(
        session,
        artisan_id=ident(artisan),
        material="brass wire",
        quantity=1,
        unit="kg",
        now=clock.now(),
    )


async def test_a_request_is_announced_and_its_handover_records_who_and_when(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        staff, wanjiru, _ = await workshop(session, clock)
        events.drain(session)
        request = await brass_request(session, wanjiru, clock)
        done = await fulfil_material_request(
            session, request_id=ident(request), by_id=staff.agent, now=clock.advance(hours=5)
        )
        recorded = events.drain(session)

    assert (done.status, done.closed_by, done.closed_at, done.decline_reason) == (
        MaterialRequestStatus.FULFILLED,
        staff.agent,
        clock.now(),
        None,
    )
    assert recorded == [
        events.MaterialRequested(request_id=ident(request), artisan_id=ident(wanjiru)),
        events.MaterialHandedOver(
            request_id=ident(request), artisan_id=ident(wanjiru), by_id=staff.agent
        ),
    ]


async def test_a_request_that_cannot_be_supplied_is_declined_with_its_cleaned_reason(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        staff, wanjiru, _ = await workshop(session, clock)
        request = await brass_request(session, wanjiru, clock)
        events.drain(session)
        declined = await decline_material_request(
            session,
            request_id=ident(request),
            by_id=staff.admin,
            reason="  out of stock\u202e  until   Monday ",
            now=clock.now(),
        )
        recorded = events.drain(session)
        with pytest.raises(IllegalTransition, match="declined cannot become fulfilled"):
            await fulfil_material_request(
                session, request_id=ident(request), by_id=staff.agent, now=clock.now()
            )

    assert (declined.status, declined.closed_by, declined.decline_reason) == (
        MaterialRequestStatus.DECLINED,
        staff.admin,
        "out of stock until Monday",
    )
    assert recorded == [
        events.MaterialRequestDeclined(
            request_id=ident(request),
            artisan_id=ident(wanjiru),
            by_id=staff.admin,
            reason="out of stock until Monday",
        )
    ]


@pytest.mark.parametrize(
    ("reason", "message"), [("   ", "reason must not be empty"), ("x" * 201, "at most 200")]
)
async def test_a_decline_needs_a_short_reason(
    store: Store, clock: FakeClock, reason: str, message: str
) -> None:
    async with store.transaction() as session:
        staff, wanjiru, _ = await workshop(session, clock)
        request = await brass_request(session, wanjiru, clock)
        with pytest.raises(InvalidField, match=message):
            await decline_material_request(
                session,
                request_id=ident(request),
                by_id=staff.agent,
                reason=reason,
                now=clock.now(),
            )
        assert request.status is MaterialRequestStatus.OPEN


async def test_a_field_agent_outside_the_artisans_area_cannot_answer_their_request(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        staff, wanjiru, _ = await workshop(session, clock)  # Wanjiru works in Kibera
        request = await brass_request(session, wanjiru, clock)
        with pytest.raises(Forbidden, match="Njeri does not cover Kibera"):
            await fulfil_material_request(
                session, request_id=ident(request), by_id=staff.far_agent, now=clock.now()
            )
        with pytest.raises(Forbidden, match="Njeri does not cover Kibera"):
            await decline_material_request(
                session,
                request_id=ident(request),
                by_id=staff.far_agent,
                reason="none left",
                now=clock.now(),
            )
        by_admin = await fulfil_material_request(
            session, request_id=ident(request), by_id=staff.admin, now=clock.now()
        )

    assert (by_admin.status, by_admin.closed_by) == (MaterialRequestStatus.FULFILLED, staff.admin)


async def test_an_artisan_cannot_decline_their_own_request(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        _, wanjiru, _ = await workshop(session, clock)
        request = await brass_request(session, wanjiru, clock)
        with pytest.raises(Forbidden, match="only an admin or field agent may decline"):
            await decline_material_request(
                session,
                request_id=ident(request),
                by_id=ident(wanjiru),
                reason="changed my mind",
                now=clock.now(),
            )


async def test_an_orders_materials_compare_what_its_jobs_need_with_what_was_handed_over(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        staff, wanjiru, _ = await workshop(session, clock)
        # 4 of the order's 10 pendants (0.05 kg of horn each; 20 hooks at 0.01 kg of brass wire).
        allocation, order_id = await allocation_for(session, wanjiru, clock)
        asked = [
            await request_material(
                session,
                artisan_id=ident(wanjiru),
                material="cattle horn",
                quantity=quantity,
                unit="kg",
                allocation_id=ident(allocation),
                now=clock.now(),
            )
            for quantity in ("0.1", "0.15", "0.3")
        ]
        general = await brass_request(session, wanjiru, clock)  # for no job: not this order's
        for request in (asked[0], asked[1], general):
            await fulfil_material_request(
                session, request_id=ident(request), by_id=staff.agent, now=clock.now()
            )
        # The third request is still open: not handed over.
        issued = await order_materials(session, order_id)

    assert issued == [
        MaterialIssue("brass wire", "kg", Decimal("0.2"), Decimal("0")),
        MaterialIssue("cattle horn", "kg", Decimal("0.5"), Decimal("0.25")),
    ]
