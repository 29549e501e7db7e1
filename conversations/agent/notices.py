"""Business messages to field agents and admins about the work moving through the factory.

- ``SubmissionCreated``: the field agents covering the artisan's area (every field agent when
  nobody covers it) hear there is new work to check, with a button that opens it;
- ``DeliveryDiscrepancy``: the admins and the area's field agents hear that a delivery's count
  differed from what was declared (the person who counted it was told in their chat; the
  artisan's side is ``conversations.artisan.notices``);
- ``OrderLineReadyForAssembly``: the admins and the field agents at the central workshop hear
  every component of an order line is in, with a button that assembles it
  (``conversations.assembly``).

Each message is in its recipient's language; opted-out people get nothing (``notify_person``).
A new artisan's verify request to the agents is ``conversations.verification``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from conversations.queries import job_component
from domain import events
from domain.model import (
    AgentArea,
    Allocation,
    Component,
    Delivery,
    Job,
    Order,
    OrderLine,
    Person,
    Product,
    Role,
    Submission,
)
from domain.services.receipt_qc import is_qc_at_receipt
from domain.text import quoted


async def _people(session: AsyncSession, role: Role) -> list[Person]:
    rows = await session.exec(select(Person).where(Person.role == role).order_by(col(Person.id)))
    return list(rows)


async def _agents_covering(session: AsyncSession, area: str | None) -> list[Person]:
    if not area:
        return []
    rows = await session.exec(
        select(Person)
        .join(AgentArea, col(AgentArea.agent_id) == Person.id)
        .where(func.lower(col(AgentArea.area)) == area.casefold())
        .where(Person.role == Role.FIELD_AGENT)
        .order_by(col(Person.id))
    )
    return list(rows)


async def _send(
    session: AsyncSession,
    recipients: Iterable[Person],
    make: Callable[[Person], Reply],
    now: datetime,
) -> int:
    sent = 0
    seen: set[int | None] = set()
    for person in recipients:
        if person.id in seen:
            continue
        seen.add(person.id)
        sent += await tell(session, person, make(person), now)
    return sent


async def _submission_created(
    session: AsyncSession, event: events.SubmissionCreated, ctx: NoticeContext
) -> int:
    submission = await session.get(Submission, event.submission_id)
    artisan = await session.get(Person, event.artisan_id)
    if submission is None or artisan is None:
        return 0
    allocation = await session.get(Allocation, submission.allocation_id)
    component = None if allocation is None else await job_component(session, allocation.job_id)
    agents = await _agents_covering(session, artisan.area) or await _people(
        session, Role.FIELD_AGENT
    )

    at_receipt = await is_qc_at_receipt(session, event.submission_id)  # no photos (USSD)

    def make(agent: Person) -> Reply:
        if at_receipt:
            return Reply(
                ctx.catalogue.t(
                    agent.language,
                    "agent.notice.ready_at_receipt",
                    id=event.submission_id,
                    count=submission.count,
                    component=component.name if component is not None else "-",
                    artisan=quoted(artisan.name),
                    area=quoted(artisan.area),
                )
            )
        return Reply(
            ctx.catalogue.t(
                agent.language,
                "agent.notice.new_submission",
                id=event.submission_id,
                count=submission.count,
                component=component.name if component is not None else "-",
                artisan=quoted(artisan.name),
                area=quoted(artisan.area),
            ),
            choices=(
                Choice(
                    f"qc:{event.submission_id}",
                    ctx.catalogue.t(agent.language, "agent.notice.check_button"),
                ),
            ),
        )

    # Nobody checks their own work, whatever their role one day becomes.
    recipients = [agent for agent in agents if agent.id != event.artisan_id]
    return await _send(session, recipients, make, ctx.now)


async def _delivery_discrepancy(
    session: AsyncSession, event: events.DeliveryDiscrepancy, ctx: NoticeContext
) -> int:
    delivery = await session.get(Delivery, event.delivery_id)
    artisan = await session.get(Person, event.artisan_id)
    recorder = await session.get(Person, event.recorded_by)
    if delivery is None or artisan is None:
        return 0
    allocation = await session.get(Allocation, delivery.allocation_id)
    job = None if allocation is None else await session.get(Job, allocation.job_id)
    component = None if job is None else await session.get(Component, job.component_id)
    recipients = [
        person
        for person in [
            *await _people(session, Role.ADMIN),
            *await _agents_covering(session, artisan.area),
        ]
        if person.id != event.recorded_by  # they were told in their own chat
    ]

    def make(person: Person) -> Reply:
        return Reply(
            ctx.catalogue.t(
                person.language,
                "agent.notice.discrepancy",
                id=event.delivery_id,
                artisan=quoted(artisan.name),
                area=quoted(artisan.area),
                component=component.name if component is not None else "-",
                declared=event.declared,
                received=event.received,
                recorder=recorder.name if recorder is not None else "-",
                note=_their_note(delivery.discrepancy_note, event.declared, event.received),
            )
        )

    return await _send(session, recipients, make, ctx.now)


def _their_note(stored: str | None, declared: int, received: int) -> str:
    """Only the counter's own words, quoted: the domain keeps them after the two counts
    (``declared 10, received 8: two cracked``), which this notice already states."""
    counts = f"declared {declared}, received {received}"
    if stored is None or stored == counts:
        return quoted(None)
    return quoted(stored.removeprefix(f"{counts}: "))


async def _ready_for_assembly(
    session: AsyncSession,
    event: events.OrderLineReadyForAssembly,
    ctx: NoticeContext,
) -> int:
    line = await session.get(OrderLine, event.order_line_id)
    if line is None:
        return 0
    order = await session.get(Order, line.order_id)
    product = await session.get(Product, line.product_id)

    def make(person: Person) -> Reply:
        return Reply(
            ctx.catalogue.t(
                person.language,
                "agent.notice.ready_for_assembly",
                id=line.order_id,
                order=quoted(order.reference if order is not None else None),
                line=event.order_line_id,
                quantity=line.quantity,
                product=product.sku if product is not None else "-",
            ),
            choices=(
                Choice(
                    f"assemble:{event.order_line_id}",
                    ctx.catalogue.t(person.language, "agent.notice.assemble_button"),
                ),
            ),
        )

    # Whoever assembles: the admins and the field agents at the central workshop.
    at_workshop = [p for p in await _people(session, Role.FIELD_AGENT) if p.at_workshop]
    return await _send(session, [*await _people(session, Role.ADMIN), *at_workshop], make, ctx.now)


NOTICES: NoticeTable = {
    events.SubmissionCreated: _submission_created,
    events.DeliveryDiscrepancy: _delivery_discrepancy,
    events.OrderLineReadyForAssembly: _ready_for_assembly,
}
