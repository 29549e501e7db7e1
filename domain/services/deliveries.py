"""Passed pieces to the central workshop: deliveries, receipts and their earnings, assembly.

Money follows the pieces: an artisan earns for a piece only once it has passed QC *and* been
counted in at the central workshop, and never twice for the same piece. A receipt that completes
an allocation completes it; one that completes every allocation of a job completes the job; when
every job of an order line is complete the line is ready for assembly, and when every line of an
order is assembled the order is ready to ship.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select
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
    Person,
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
    # A cancelled job's passed pieces are still delivered and paid (jobs.cancel_job).
    settling = (
        allocation.status == AllocationStatus.CANCELLED and allocation.cancelled_at is not None
    )
    if allocation.status != AllocationStatus.ACTIVE and not settling:
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
            f"way{_written_off(progress.written_off)}), so {quantity} is too many"
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


@dataclass(frozen=True, slots=True)
class Shortage:
    """A component of an order line with fewer pieces received than the units asked for need."""

    code: str
    name: str
    received: int
    needed: int

    def __str__(self) -> str:
        return f"{self.name} ({self.code}) has {self.received} of {self.needed} received"


@dataclass(frozen=True, slots=True)
class LineAssembly:
    """Where one order line stands at the central workshop.

    ``possible`` units are covered by what each component has received (``units x pieces per
    unit <= received``, surplus beyond the job never counted); ``assemblable`` of them are not yet
    assembled.
    """

    line: OrderLine
    order: Order
    components: tuple[tuple[Component, Job, int], ...]  # component, its job, pieces received

    @property
    def ordered(self) -> int:
        return self.line.quantity

    @property
    def assembled(self) -> int:
        return self.line.assembled_quantity

    @property
    def possible(self) -> int:
        if not self.components:
            return 0
        return min(
            0
            if job.status == JobStatus.CANCELLED
            else min(received, job.quantity) // _per_unit(job, self.line)
            for _, job, received in self.components
        )

    @property
    def assemblable(self) -> int:
        return max(0, min(self.possible, self.ordered) - self.assembled)

    def short_for(self, units: int) -> tuple[Shortage, ...]:
        """The components that have not received enough for ``units`` in all."""
        return tuple(
            Shortage(component.code, component.name, min(received, job.quantity), need)
            for component, job, received in self.components
            if min(received, job.quantity) < (need := units * _per_unit(job, self.line))
            or job.status == JobStatus.CANCELLED
        )


class NotAssemblable(DomainError):
    """The units asked for cannot be assembled (yet): ``assemblable`` can be, and each component
    in ``missing`` is short of what the units asked for need."""

    def __init__(
        self,
        line: LineAssembly,
        *,
        asked: int,
        missing: tuple[Shortage, ...],
    ) -> None:
        assert line.line.id is not None
        what = (
            f"nothing of order line {line.line.id} can be assembled yet"
            if line.assemblable == 0
            else f"order line {line.line.id} has {line.assemblable} unit(s) ready to assemble, "
            f"not {asked}"
        )
        super().__init__(f"{what}: " + "; ".join(str(m) for m in missing))
        self.line_id = line.line.id
        self.asked = asked
        self.assemblable = line.assemblable
        self.missing = missing


class FullyAssembled(DomainError):
    """Every unit of the line is assembled already."""

    def __init__(self, line: OrderLine) -> None:
        super().__init__(
            f"order line {line.id} is fully assembled: {line.assembled_quantity} of "
            f"{line.quantity} units"
        )
        self.line_id = line.id
        self.quantity = line.quantity


class MoreThanOrdered(InvalidQuantity):
    """More units asked for than the line has left to assemble."""

    def __init__(self, line: OrderLine, *, asked: int) -> None:
        self.line_id = line.id
        self.remaining = line.quantity - line.assembled_quantity
        super().__init__(
            f"order line {line.id} has {self.remaining} unit(s) left to assemble, not {asked}"
        )


WORKSHOP_STAFF = frozenset({Role.ADMIN, Role.FIELD_AGENT})


async def workshop_staff(session: AsyncSession, person_id: int, *, to: str) -> Person:
    """The person, if they may work at the central workshop: an admin, or a field agent marked
    ``at_workshop``; else ``Forbidden``."""
    person = await person_in_role(session, person_id, WORKSHOP_STAFF, to=to)
    if person.role is Role.FIELD_AGENT and not person.at_workshop:
        raise Forbidden(
            f"only an admin or a field agent at the central workshop may {to}; person "
            f"{person_id} is not marked as working there"
        )
    return person


async def line_assembly(session: AsyncSession, order_line_id: int) -> LineAssembly:
    """The line, its order and each component's received pieces, as the rows say now."""
    line = await load(session, OrderLine, order_line_id, what="order line")
    order = await load(session, Order, line.order_id, what="order")
    rows = await session.exec(
        select(Component, Job)
        .join(Job, col(Job.component_id) == col(Component.id))
        .where(Job.order_line_id == order_line_id)
        .order_by(col(Component.code))
    )
    components = []
    for component, job in rows.all():
        assert job.id is not None
        components.append((component, job, (await job_tally(session, job.id)).received))
    return LineAssembly(line=line, order=order, components=tuple(components))


async def record_assembly(
    session: AsyncSession,
    *,
    order_line_id: int,
    recorded_by: int,
    now: datetime,
    units: int | None = None,
) -> Assembly:
    """Record ``units`` of an order line assembled at the central workshop (by default every
    unit its received components allow).

    Only as many units as every component's received pieces cover can be assembled, and never
    more than the line still lacks. The last unit of the order's last line makes the order ready
    to ship (``OrderReady``). The order, then the line, is locked, so two people assembling at
    once can neither over-assemble a line nor move the order twice.
    """
    await workshop_staff(session, recorded_by, to="record an assembly")
    if units is not None and not 1 <= units <= MAX_PIECES:
        raise InvalidQuantity(f"assemble from 1 to {MAX_PIECES:,} units (got {units})")
    line = await load(session, OrderLine, order_line_id, what="order line")
    # The order first, as cancelling takes it: the order's state cannot change under us, and
    # the last two lines assembled at once move it exactly once.
    order = await load(session, Order, line.order_id, what="order", for_update=True)
    line = await load(session, OrderLine, order_line_id, what="order line", for_update=True)
    if order.status != OrderStatus.IN_PRODUCTION:
        raise DomainError(
            f"order {order.reference} is {order.status}; only an order in production is assembled"
        )
    if line.assembled_quantity >= line.quantity:
        raise FullyAssembled(line)
    state = await line_assembly(session, order_line_id)
    asked = state.assemblable if units is None else units
    if asked == 0 or asked > state.assemblable:
        remaining = line.quantity - line.assembled_quantity
        wanted = line.assembled_quantity + (min(asked, remaining) if asked else remaining)
        if units is not None and units > remaining:
            raise MoreThanOrdered(line, asked=units)
        raise NotAssemblable(state, asked=asked, missing=state.short_for(wanted))

    line.assembled_quantity += asked
    session.add(line)
    assembly = Assembly(
        order_line_id=order_line_id, units=asked, recorded_by=recorded_by, assembled_at=now
    )
    session.add(assembly)
    await session.flush()

    unfinished = (
        await session.exec(
            select(func.count())
            .select_from(OrderLine)
            .where(OrderLine.order_id == order.id)
            .where(col(OrderLine.assembled_quantity) < col(OrderLine.quantity))
        )
    ).one()
    if unfinished == 0:
        order.status = ORDER_TRANSITIONS.check(order.status, OrderStatus.READY)
        session.add(order)
        await session.flush()
        assert order.id is not None
        events.record(session, events.OrderReady(order.id))
    return assembly


def _per_unit(job: Job, line: OrderLine) -> int:
    """Pieces of the job's component in one unit: the job was exploded as units x that."""
    return max(1, job.quantity // line.quantity)


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
    if job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED) or tally.received < job.quantity:
        return  # a cancelled job's pieces are paid for, but it stays cancelled
    job.status = JOB_TRANSITIONS.check(job.status, JobStatus.COMPLETED)
    session.add(job)
    await session.flush()

    statuses = (
        await session.exec(select(Job.status).where(Job.order_line_id == job.order_line_id))
    ).all()
    if all(s == JobStatus.COMPLETED for s in statuses):
        events.record(session, events.OrderLineReadyForAssembly(job.order_line_id))


def _written_off(pieces: int) -> str:
    return f", {pieces} written off as paid" if pieces else ""


# "declared 10, received 8: two were cracked": the words after the counts.
_AGENT_WORDS = re.compile(r"declared \d+, received \d+: (.+)", re.DOTALL)


def discrepancy_words(delivery: Delivery) -> str | None:
    """The receiving agent's own words on a count that differs from the declared one (what
    ``_discrepancy_note`` stored after the two counts), for the artisan's notice; None without."""
    found = _AGENT_WORDS.match(delivery.discrepancy_note or "")
    words = found.group(1).strip() if found else ""
    return words or None


def _discrepancy_note(note: str | None, declared: int, received: int) -> str:
    text = f"declared {declared}, received {received}"
    words = "" if note is None else clean_text(note)
    if words:
        text = f"{text}: {words}"
    # A long note must not stop the count going in: keep what fits in the column.
    return (
        text if len(text) <= DISCREPANCY_NOTE_LENGTH else text[: DISCREPANCY_NOTE_LENGTH - 1] + "…"
    )
