"""Passed pieces to the central workshop: deliveries, receipts and their earnings, assembly.

Money follows the pieces: an artisan earns for a piece only once it has passed QC *and* been
counted in at the central workshop, and never twice for the same piece. A receipt that completes
an allocation completes it; one that completes every allocation of a job completes the job; when
every job of an order line is complete the line is ready for assembly, and when every line of an
order is assembled the order is ready to ship.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, ledger
from domain.errors import DomainError, Forbidden, InvalidQuantity
from domain.limits import MAX_PIECES
from domain.model import (
    ALLOCATION_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    JOB_TRANSITIONS,
    ORDER_TRANSITIONS,
    Allocation,
    AllocationStatus,
    Assembly,
    Component,
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    Job,
    JobStatus,
    Order,
    OrderLine,
    OrderStatus,
    Role,
)
from domain.quantities import allocation_progress, ensure_job_invariant, job_tally
from domain.services.guards import load, person_in_role
from domain.text import clean_text

DISCREPANCY_NOTE_LENGTH = 300


async def arrange_delivery(
    session: AsyncSession,
    *,
    allocation_id: int,
    artisan_id: int,
    method: DeliveryMethod,
    slot_start: datetime,
    quantity: int,
    now: datetime,
) -> Delivery:
    """The artisan's passed pieces booked for drop-off at, or pickup to, the central workshop."""
    allocation = await load(session, Allocation, allocation_id, what="allocation", for_update=True)
    if allocation.artisan_id != artisan_id:
        raise Forbidden(
            f"allocation {allocation_id} is another artisan's; only the artisan it was "
            "allocated to may arrange its delivery"
        )
    if allocation.status != AllocationStatus.ACTIVE:
        raise DomainError(
            f"allocation {allocation_id} is {allocation.status}; there is nothing left to deliver"
        )
    if slot_start.tzinfo is None:
        raise DomainError("the delivery slot needs a time zone; pass an aware datetime")
    if quantity <= 0:
        raise InvalidQuantity(f"deliver at least 1 piece (got {quantity})")
    progress = await allocation_progress(session, allocation_id)
    if quantity > progress.deliverable:
        raise InvalidQuantity(
            f"allocation {allocation_id} has {progress.deliverable} passed pieces to deliver "
            f"({progress.passed} passed QC, {progress.delivered} already received or on their "
            f"way), so {quantity} is too many"
        )
    delivery = Delivery(
        allocation_id=allocation_id,
        method=DeliveryMethod(method),
        slot_start=slot_start,
        declared_quantity=quantity,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    await ensure_job_invariant(session, allocation.job_id)
    return delivery


async def record_receipt(
    session: AsyncSession,
    *,
    delivery_id: int,
    receiver_id: int,
    received_quantity: int,
    note: str | None = None,
    now: datetime,
) -> Delivery:
    """Count a delivery in at the central workshop and pay the artisan for what arrived.

    The artisan earns ``piece_rate x min(received, declared)``. The declared pieces passed QC and
    were not yet received (``arrange_delivery`` sees to that), so this never pays for a piece
    before QC and receipt, nor twice. A count that differs from what was declared is a
    discrepancy, kept with ``note`` (or, without one, the two counts). Missing pieces may follow
    on a later delivery; surplus pieces are not counted until they are declared on one.
    """
    await person_in_role(
        session, receiver_id, {Role.FIELD_AGENT, Role.ADMIN}, to="record a delivery's receipt"
    )
    delivery = await load(session, Delivery, delivery_id, what="delivery", for_update=True)
    # Job before allocation: the order cancelling a job takes their locks in.
    job_id = (
        await session.exec(select(Allocation.job_id).where(Allocation.id == delivery.allocation_id))
    ).one()
    job = await load(session, Job, job_id, what="job", for_update=True)
    allocation = await load(
        session, Allocation, delivery.allocation_id, what="allocation", for_update=True
    )
    if not 0 <= received_quantity <= MAX_PIECES:
        raise InvalidQuantity(
            f"received pieces are counted from 0 to {MAX_PIECES:,} (got {received_quantity})"
        )
    status = DELIVERY_TRANSITIONS.check(delivery.status, DeliveryStatus.RECEIVED)
    payable = min(received_quantity, delivery.declared_quantity)

    delivery.status = status
    delivery.received_quantity = received_quantity
    delivery.received_by = receiver_id
    delivery.received_at = now
    if received_quantity != delivery.declared_quantity:
        delivery.discrepancy_note = _discrepancy_note(
            note, delivery.declared_quantity, received_quantity
        )
    session.add(delivery)
    await session.flush()

    earned_cents = allocation.piece_rate_cents * payable
    if earned_cents > 0:
        await ledger.record_earning(
            session,
            artisan_id=allocation.artisan_id,
            amount_cents=earned_cents,
            reference=f"delivery:{delivery_id}",
            now=now,
        )
    if delivery.discrepancy_note is not None:
        events.record(
            session,
            events.DeliveryDiscrepancy(
                delivery_id=delivery_id,
                artisan_id=allocation.artisan_id,
                declared=delivery.declared_quantity,
                received=received_quantity,
                recorded_by=receiver_id,
            ),
        )
    events.record(
        session,
        events.DeliveryReceived(
            delivery_id=delivery_id,
            artisan_id=allocation.artisan_id,
            declared=delivery.declared_quantity,
            received=received_quantity,
            earned_cents=earned_cents,
        ),
    )
    await _complete_what_is_received(session, allocation, job, now=now)
    return delivery


async def record_assembly(
    session: AsyncSession, *, order_line_id: int, recorded_by: int, now: datetime
) -> Assembly:
    """Record the final assembly of an order line, once every one of its components is in.

    When this was the order's last line to assemble, the order becomes ready to ship.
    """
    await person_in_role(
        session, recorded_by, {Role.ADMIN, Role.FIELD_AGENT}, to="record an assembly"
    )
    line = await load(session, OrderLine, order_line_id, what="order line")
    # Locked so the last two lines assembled at once still move the order exactly once.
    order = await load(session, Order, line.order_id, what="order", for_update=True)
    if order.status != OrderStatus.IN_PRODUCTION:
        raise DomainError(
            f"order {order.reference} is {order.status}; only an order in production is assembled"
        )
    already = (
        await session.exec(select(Assembly).where(Assembly.order_line_id == order_line_id))
    ).first()
    if already is not None:
        raise DomainError(
            f"order line {order_line_id} was already assembled on {already.assembled_at:%Y-%m-%d}"
        )
    missing = await _components_not_received(session, order_line_id)
    if missing:
        raise DomainError(
            f"order line {order_line_id} cannot be assembled yet: " + "; ".join(missing)
        )
    assembly = Assembly(order_line_id=order_line_id, recorded_by=recorded_by, assembled_at=now)
    session.add(assembly)
    await session.flush()

    line_ids = set(
        (await session.exec(select(OrderLine.id).where(OrderLine.order_id == order.id))).all()
    )
    assembled = set(
        (
            await session.exec(
                select(Assembly.order_line_id).where(col(Assembly.order_line_id).in_(line_ids))
            )
        ).all()
    )
    if assembled == line_ids:
        order.status = ORDER_TRANSITIONS.check(order.status, OrderStatus.READY)
        session.add(order)
        await session.flush()
        assert order.id is not None
        events.record(session, events.OrderReady(order.id))
    return assembly


async def _complete_what_is_received(
    session: AsyncSession, allocation: Allocation, job: Job, *, now: datetime
) -> None:
    assert allocation.id is not None
    progress = await allocation_progress(session, allocation.id)
    if allocation.status == AllocationStatus.ACTIVE and progress.received == allocation.quantity:
        allocation.status = ALLOCATION_TRANSITIONS.check(
            allocation.status, AllocationStatus.COMPLETED
        )
        allocation.closed_at = now
        session.add(allocation)
        await session.flush()

    tally = await ensure_job_invariant(session, allocation.job_id)
    if job.status == JobStatus.COMPLETED or tally.received < job.quantity:
        return
    job.status = JOB_TRANSITIONS.check(job.status, JobStatus.COMPLETED)
    session.add(job)
    await session.flush()

    statuses = (
        await session.exec(select(Job.status).where(Job.order_line_id == job.order_line_id))
    ).all()
    if all(s == JobStatus.COMPLETED for s in statuses):
        events.record(session, events.OrderLineReadyForAssembly(job.order_line_id))


async def _components_not_received(session: AsyncSession, order_line_id: int) -> list[str]:
    """Each component job of the line still short of pieces, as "name (code): x of y received"."""
    rows = await session.exec(
        select(Job, Component)
        .join(Component, col(Component.id) == col(Job.component_id))
        .where(Job.order_line_id == order_line_id)
        .order_by(col(Component.code))
    )
    missing: list[str] = []
    for job, component in rows.all():
        assert job.id is not None
        received = (await job_tally(session, job.id)).received
        if job.status != JobStatus.COMPLETED or received < job.quantity:
            missing.append(
                f"{component.name} ({component.code}) has {received} of {job.quantity} received"
                + (" and its job is cancelled" if job.status == JobStatus.CANCELLED else "")
            )
    return missing


def _discrepancy_note(note: str | None, declared: int, received: int) -> str:
    text = f"declared {declared}, received {received}"
    words = "" if note is None else clean_text(note)
    if words:
        text = f"{text}: {words}"
    # A long note must not stop the count going in: keep what fits in the column.
    return (
        text if len(text) <= DISCREPANCY_NOTE_LENGTH else text[: DISCREPANCY_NOTE_LENGTH - 1] + "…"
    )
